package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
)

func inCluster(v detect.Verdict, cluster string) detect.Verdict {
	v.Entity.Cluster = cluster
	return v
}

// The engines of two clusters share the scoreboard and the history: the
// status page lists both clusters' anomalies, and each cluster's detector
// health on its own row.
func TestStatusPageShowsEveryCluster(t *testing.T) {
	h := NewHistory(48, 0)
	board := scoreboard.New(0)
	east, west := board.Cluster("east"), board.Cluster("west")
	east.AddDetector("port_scan", 0.5, true)
	west.AddDetector("port_scan", 0.5, true)
	for i := range 3 {
		w := window(i)
		score := 0.02
		if i == 2 {
			score = 0.7
		}
		ve := inCluster(verdict("port_scan", "shop", "frontend-*", score), "east")
		vw := inCluster(verdict("port_scan", "pay", "api-*", score+0.1), "west")
		ve.Window, vw.Window = w, w
		east.Publish("port_scan", w, []detect.Verdict{ve}, true, time.Millisecond, w.End)
		east.WindowDone(w)
		h.Deliver(context.Background(), w, []detect.Verdict{ve})
		west.Publish("port_scan", w, []detect.Verdict{vw}, true, time.Millisecond, w.End)
		west.WindowDone(w)
		h.Deliver(context.Background(), w, []detect.Verdict{vw})
	}
	// West cannot read the next window; its anomaly stays listed.
	west.Fail("port_scan", window(3), errors.New("index tigera_secure_ee_flows.west.* not found"), time.Millisecond, window(3).End)
	pages := New(Config{Name: "x", Now: func() time.Time { return window(2).End }}, board, h)
	code, body := get(t, pages, "/")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if n := strings.Count(body, `<tr class="anomaly">`); n != 2 {
		t.Errorf("%d anomaly rows, want one per cluster", n)
	}
	for _, want := range []string{"cluster=east", "cluster=west", "<th>Cluster</th>", "<td>east</td>", "<td>west</td>", "tigera_secure_ee_flows.west.* not found"} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %s", want)
		}
	}
	// Two clusters delivering the same windows count three windows, not six:
	// the anomalies are of the latest window.
	for _, a := range h.Anomalies() {
		if !a.Now {
			t.Errorf("%s/%s listed as earlier though of the latest window", a.Entity.Cluster, a.Entity.Workload)
		}
	}
}
