package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Names from logs are hostile: the scrape must stay valid whatever they
// hold, and a flood of unique names must stay under the series bound.
func TestHostileNamesKeepTheScrapeValidAndBounded(t *testing.T) {
	board := scoreboard.New(100)
	w := source.Window{Start: time.Unix(1764000000, 0), End: time.Unix(1764000300, 0)}
	var vs []detect.Verdict
	hostile := []string{"bad-\xff\xfe-*", "evil\n# TYPE calico_anomaly_score counter\n-*", strings.Repeat("x", 100000), `<img src=x onerror=alert(1)>`, "bad-\xfe\xff-*"}
	for i, name := range hostile {
		vs = append(vs, detect.Verdict{Detector: "port_scan", Entity: detect.Entity{Cluster: "c\x00", Namespace: "ns-\xff", Workload: name, Type: "wep"}, Score: 0.9 - float64(i)/100, Threshold: 0.5})
	}
	for i := 0; i < 5000; i++ { // a flood of unique pod names
		vs = append(vs, detect.Verdict{Detector: "port_scan", Entity: detect.Entity{Cluster: "c", Namespace: "flood", Workload: fmt.Sprintf("pod-%d-*", i), Type: "wep"}, Score: 0.01, Threshold: 0.5})
	}
	board.Publish("port_scan", w, vs, true, time.Millisecond, w.End)
	board.WindowDone(w)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(board, func() time.Time { return w.End }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("the scrape fails on hostile names: %v", err)
	}
	var scores int
	for _, mf := range mfs {
		if mf.GetName() != "calico_anomaly_score" {
			continue
		}
		for _, m := range mf.GetMetric() {
			scores++
			for _, l := range m.GetLabel() {
				if !utf8.ValidString(l.GetValue()) || utf8.RuneCountInString(l.GetValue()) > calicolog.MaxLabelRunes {
					t.Errorf("label %s=%q", l.GetName(), l.GetValue())
				}
			}
		}
	}
	// The two invalid-UTF-8 names become one value: one series is kept.
	if scores != 99 {
		t.Errorf("%d score series, want the bound of 100 less the one collision", scores)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if n := board.Snapshot().Detectors["port_scan"].SeriesDropped; n != 4905 {
		t.Errorf("%d series dropped, want 4905", n)
	}
}
