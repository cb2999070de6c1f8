package collector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// TestDetectorInfoIsTheRegistrys keeps calico_anomaly_detector_info the
// registry's: one series per registered detector, with its family and
// techniques, so dashboards and rules that join on it select what the
// registry says.
func TestDetectorInfoIsTheRegistrys(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(boardWithOneWindow(0), func() time.Time { return now }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]string{}
	for _, mf := range mfs {
		if mf.GetName() != "calico_anomaly_detector_info" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if v := m.GetGauge().GetValue(); v != 1 {
				t.Errorf("%s: value %v, want 1", labels["detector"], v)
			}
			got[labels["detector"]] = [2]string{labels["family"], labels["mitre"]}
		}
	}
	infos := detect.Registered()
	if len(got) != len(infos) {
		t.Errorf("%d detector_info series, want one per registered detector (%d)", len(got), len(infos))
	}
	for _, info := range infos {
		want := [2]string{string(info.Family), info.Techniques()}
		if got[info.Name] != want {
			t.Errorf("%s: family and mitre %q, want %q", info.Name, got[info.Name], want)
		}
	}
	if got["port_scan"][1] != "T1046" || got["generic_flows"] != [2]string{"performance", ""} {
		t.Errorf("port_scan %q, generic_flows %q", got["port_scan"], got["generic_flows"])
	}
}
