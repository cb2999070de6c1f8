package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
)

// TestHistoryUnderManyAnomaliesKeepsTheHighestScores: with more series than
// the bound, the status page still lists the anomalies, keeps the charts of
// the highest scores, and lists anomalies whose series were refused.
func TestHistoryUnderManyAnomaliesKeepsTheHighestScores(t *testing.T) {
	const bound = 100
	h := NewHistory(48, bound)
	board := scoreboard.New(0)
	board.AddDetector("port_scan", 0.5, true)

	// Window 0: the bound is filled by quiet workloads.
	var quiet []detect.Verdict
	for i := range bound {
		quiet = append(quiet, verdict("port_scan", "shop", fmt.Sprintf("quiet-%d-*", i), 0.01))
	}
	// Window 1: the quiet ones again, then many scanners; the quiet ones
	// come first, as in a delivery order that does not follow the score.
	second := append([]detect.Verdict(nil), quiet...)
	for i := range 3 * bound {
		second = append(second, verdict("port_scan", "shop", fmt.Sprintf("scan-%d-*", i), 0.6+float64(i)/1e4))
	}
	feed(h, board, quiet, second)

	got := h.Anomalies()
	if len(got) != bound {
		t.Fatalf("%d anomalies listed, want %d (the list's bound)", len(got), bound)
	}
	// The listed ones are the highest scores: scan-299 down to scan-200.
	for i, a := range got {
		if want := fmt.Sprintf("scan-%d-*", 3*bound-1-i); a.Entity.Workload != want {
			t.Fatalf("anomaly %d is %s, want %s", i, a.Entity.Workload, want)
		}
	}

	// Window 2: new scanners, all refused a series (the bound is full of
	// the series of window 1), are listed anyway once the old ones age out.
	h2 := NewHistory(48, bound)
	var fill []detect.Verdict
	for i := range bound {
		fill = append(fill, verdict("port_scan", "shop", fmt.Sprintf("quiet-%d-*", i), 0.01))
	}
	board2 := scoreboard.New(0)
	board2.AddDetector("port_scan", 0.5, true)
	feed(h2, board2, fill, append(append([]detect.Verdict(nil), fill...), verdict("port_scan", "shop", "refused-*", 0.9)))
	k := Key{Detector: "port_scan", Entity: detect.Entity{Cluster: "c1", Namespace: "shop", Workload: "refused-*", Type: "wep"}}
	if h2.Points(k) != nil {
		t.Fatalf("precondition: the series of refused-* was kept, the bound did not apply")
	}
	if a, ok := h2.Anomaly(k); !ok || a.Score != 0.9 {
		t.Errorf("the anomaly of a refused series is not listed: %v %v", a, ok)
	}
	pages := New(Config{Name: "calico-anomaly-exporter", ConfigPath: "/config", Now: func() time.Time { return window(1).End.Add(time.Minute) }}, board2, h2)
	code, body := get(t, pages, "/")
	if code != http.StatusOK || !strings.Contains(body, ">refused-*<") {
		t.Errorf("status %d; the page does not list refused-*", code)
	}
}
