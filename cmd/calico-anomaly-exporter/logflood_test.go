package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/logging"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify/alertmanager"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestAlertQueueFloodIsOneLineAndACount is the log flood of the issue:
// 1,000 alerts into a queue of 100 for an Alertmanager that is down, with
// the exporter's own logger. The 900 identical "queue full" lines become
// one line, then one line counting the rest.
func TestAlertQueueFloodIsOneLineAndACount(t *testing.T) {
	out := &testkit.SyncBuffer{}
	logger, err := logging.New(logging.Config{Level: "info", Format: "logfmt", RepeatInterval: time.Second}, out)
	if err != nil {
		t.Fatal(err)
	}
	p := notify.Policy{Severity: 100}
	am, err := alertmanager.New(alertmanager.Config{URLs: []string{"http://" + testkit.FreeAddr(t)}, QueueCapacity: 100,
		Policy: p, Live: notify.NewLivePolicy(p)}, logger)
	if err != nil {
		t.Fatal(err)
	}
	w := source.Window{Start: time.Now().Add(-5 * time.Minute).Truncate(time.Minute), End: time.Now().Truncate(time.Minute)}
	verdicts := make([]detect.Verdict, 1000)
	for i := range verdicts {
		verdicts[i] = detect.Verdict{Detector: "port_scan", Window: w, Score: 0.9, Threshold: 0.5,
			Entity: detect.Entity{Cluster: "c", Namespace: "shop", Workload: fmt.Sprintf("scanner-%04d-*", i), Type: "wep"}}
	}
	am.Deliver(context.Background(), w, verdicts)
	time.Sleep(1500 * time.Millisecond)
	logged := out.String()
	if n := strings.Count(logged, "alert queue full"); n != 2 {
		t.Fatalf("%d queue-full lines, want the first and one count:\n%s", n, logged)
	}
	if !strings.Contains(logged, "repeated=899") {
		t.Errorf("the count line does not say repeated=899:\n%s", logged)
	}
}
