package goldmane

import (
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The source's metrics pass promtool's lint and read what happened.
func TestMetricsLintAndCount(t *testing.T) {
	src, err := New(Config{}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	src.Add(update(5432, src.liveFrom, 10))
	src.Add(update(5432, src.liveFrom, 10))
	src.Add(update(5432, src.liveFrom-600, 10))
	reg := prometheus.NewRegistry()
	reg.MustRegister(src)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	want := `
# HELP calico_anomaly_goldmane_flow_updates_total Flow updates received from Goldmane, by what became of them (accepted, duplicate, late, dropped past the key bound, malformed).
# TYPE calico_anomaly_goldmane_flow_updates_total counter
calico_anomaly_goldmane_flow_updates_total{result="accepted"} 1
calico_anomaly_goldmane_flow_updates_total{result="dropped"} 0
calico_anomaly_goldmane_flow_updates_total{result="duplicate"} 1
calico_anomaly_goldmane_flow_updates_total{result="late"} 1
calico_anomaly_goldmane_flow_updates_total{result="malformed"} 0
# HELP calico_anomaly_goldmane_open_flow_keys Flow keys held in windows not yet closed.
# TYPE calico_anomaly_goldmane_open_flow_keys gauge
calico_anomaly_goldmane_open_flow_keys 1
# HELP calico_anomaly_goldmane_up 1 while the exporter follows Goldmane's Flows.Stream (or accepts the emitter's pushes), 0 while it reconnects.
# TYPE calico_anomaly_goldmane_up gauge
calico_anomaly_goldmane_up 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"calico_anomaly_goldmane_flow_updates_total", "calico_anomaly_goldmane_open_flow_keys", "calico_anomaly_goldmane_up"); err != nil {
		t.Error(err)
	}
}
