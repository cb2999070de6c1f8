//go:build integration

package deploy

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
)

// TestAlertmanagerExampleRoutesByFamilyAndSeverity asks Alertmanager's own
// router (amtool config routes test, Debian's prometheus-alertmanager)
// where the example configuration sends each kind of alert: every
// detector's direct and rule alerts at each severity its family gives.
func TestAlertmanagerExampleRoutesByFamilyAndSeverity(t *testing.T) {
	amtool, err := exec.LookPath("amtool")
	if err != nil {
		t.Fatalf("amtool is not installed (scripts/testbed.sh installs prometheus-alertmanager): %v", err)
	}
	route := func(labels ...string) string {
		t.Helper()
		args := append([]string{"config", "routes", "test", "--config.file=alertmanager/alertmanager.yml"}, labels...)
		out, err := exec.Command(amtool, args...).Output()
		if err != nil {
			t.Fatalf("amtool %v: %v", labels, err)
		}
		return strings.TrimSpace(string(out))
	}
	for _, info := range detect.Registered() {
		for _, alertname := range []string{"CalicoAnomaly", "CalicoAnomalyScoreHigh", "CalicoAnomalyScoreCritical"} {
			for _, far := range []bool{false, true} {
				score := 0.6
				if far {
					score = 0.99
				}
				severity := notify.FamilySeverity(info.Family, score, 0.5)
				want := "security-chat"
				switch {
				case info.Family == detect.Performance:
					want = "performance-chat"
				case severity == "critical":
					want = "critical-chat"
				}
				got := route("alertname="+alertname, "detector="+info.Name, "severity="+severity, "cluster=c1", "namespace=shop", "workload=w-*")
				if got != want {
					t.Errorf("%s from %s (%s family, severity %s) goes to %s, want %s", alertname, info.Name, info.Family, severity, got, want)
				}
			}
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"alertname=CalicoAnomalyElasticsearchDown severity=critical instance=a", "ops-webhook"},
		{"alertname=CalicoAnomaly detector=port_scan severity=warning namespace=kube-system", "platform-chat"},
	} {
		if got := route(strings.Fields(tc.name)...); got != tc.want {
			t.Errorf("%s goes to %s, want %s", tc.name, got, tc.want)
		}
	}
}
