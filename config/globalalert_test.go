package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseGlobalAlertsWorkshopFile(t *testing.T) {
	g, err := LoadGlobalAlerts(filepath.Join("testdata", "ad-alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, detector   string
		severity         int
		period, lookback time.Duration
		description      string
		line             int
	}{
		{"tigera.io.detector.port-scan", "port_scan", 100, 5 * time.Minute, 5 * time.Minute, "Port Scan detection", 3},
		{"tigera.io.detector.ip-sweep", "ip_sweep", 80, 10 * time.Minute, 10 * time.Minute, "IP Sweep detection", 17},
		{"tigera.io.detector.bytes-out", "bytes_out", 60, 15 * time.Minute, 0, "Excessive value anomaly in bytes_out", 31},
	}
	// process_bytes is one of Calico's detectors; its alert is enabled
	// once this build has it, ignored before.
	_, haveProcessBytes := lookupForTest("process_bytes")
	if haveProcessBytes {
		want = append(want, struct {
			name, detector   string
			severity         int
			period, lookback time.Duration
			description      string
			line             int
		}{"tigera.io.detector.process-bytes", "process_bytes", 50, 15 * time.Minute, 0, "Process bytes", 46})
	}
	if len(g.Alerts) != len(want) {
		t.Fatalf("got %d alerts %+v, want %d", len(g.Alerts), g.Alerts, len(want))
	}
	for i, w := range want {
		a := g.Alerts[i]
		if a.Name != w.name || a.Detector != w.detector || a.Severity != w.severity || a.Period != w.period ||
			a.Lookback != w.lookback || a.Description != w.description || a.Pos.Line != w.line {
			t.Errorf("alert %d = %+v, want %+v", i, a, w)
		}
	}
	if a, ok := g.Alert("port_scan"); !ok || !strings.HasPrefix(a.Summary, "Looks for pods") {
		t.Errorf("Alert(port_scan) = %+v, %v", a, ok)
	}
	if _, ok := g.Alert("generic_dns"); ok {
		t.Error("Alert(generic_dns) found an alert the file does not have")
	}
	// process_bytes is one of Calico's detectors this build may lack; the
	// rule-based alert is Calico's own.
	ignored := map[string]string{}
	for _, ig := range g.Ignored {
		ignored[ig.Name] = ig.Reason
	}
	if !strings.Contains(ignored["sandbox-egress"], "RuleBased") {
		t.Errorf("rule-based alert not ignored as such: %v", g.Ignored)
	}
	if !haveProcessBytes && !strings.Contains(ignored["tigera.io.detector.process-bytes"], "not available") {
		t.Errorf("process_bytes alert not ignored as unavailable: %v", g.Ignored)
	}
}

func TestParseGlobalAlertsKubectlList(t *testing.T) {
	g, err := LoadGlobalAlerts(filepath.Join("testdata", "alert-list.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range g.Alerts {
		got = append(got, a.Detector+"@"+a.Period.String())
	}
	if strings.Join(got, " ") != "port_scan@5m0s ip_sweep@15m0s" {
		t.Errorf("alerts = %v", got)
	}
}

func TestParseGlobalAlertsForms(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		detectors string // detectors enabled, space separated
		ignored   int
		wantErr   string
	}{
		{"empty file", "", "", 0, ""},
		{"only comments and separators", "# none\n---\n---\n", "", 0, ""},
		{"dash spelling of the documentation sample", alertYAML("tigera.io.detector.port-scan", "port-scan", "severity: 100"), "port_scan", 0, ""},
		{"no severity or period", alertYAML("scan", "port_scan", ""), "port_scan", 0, ""},
		{"GlobalAlertList", "apiVersion: projectcalico.org/v3\nkind: GlobalAlertList\nitems:\n" + indent(alertYAML("a", "ip_sweep", "")), "ip_sweep", 0, ""},
		{"empty List", "apiVersion: v1\nkind: List\nitems: []\n", "", 0, ""},
		{"rule-based without a type", "apiVersion: projectcalico.org/v3\nkind: GlobalAlert\nmetadata: {name: r}\nspec: {dataSet: dns, metric: count, condition: gt, threshold: 100}\n", "", 1, ""},
		{"two files' worth in one", alertYAML("a", "port_scan", "") + "---\n" + alertYAML("b", "ip_sweep", "period: 1h"), "port_scan ip_sweep", 0, ""},
		{"a list of alerts at the top", indent(alertYAML("a", "ip_sweep", "")), "", 0, "want a GlobalAlert resource"},
		{"severity as a float", alertYAML("a", "port_scan", "severity: 50.5"), "", 0, "spec.severity: want a whole number"},
		{"negative period", alertYAML("a", "port_scan", "period: -1m"), "", 0, "spec.period: want a positive duration"},
		{"null detector name", alertYAML("a", "~", ""), "", 0, "spec.detector.name: want a string"},
		{"tabs are a syntax error", "apiVersion: projectcalico.org/v3\n\tkind: GlobalAlert\n", "", 0, "YAML syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := ParseGlobalAlerts("alerts.yaml", []byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "alerts.yaml:") {
					t.Errorf("error %q does not start with the file's name", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range g.Alerts {
				got = append(got, a.Detector)
			}
			if strings.Join(got, " ") != tt.detectors || len(g.Ignored) != tt.ignored {
				t.Errorf("detectors %v ignored %v, want %q and %d ignored", got, g.Ignored, tt.detectors, tt.ignored)
			}
		})
	}
}

func TestLoadGlobalAlertsAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.yaml")
	writeFile(t, a, alertYAML("tigera.io.detector.port-scan", "port_scan", ""))
	writeFile(t, b, alertYAML("another-scan", "port_scan", ""))
	_, err := LoadGlobalAlerts(a, b)
	if err == nil || !strings.Contains(err.Error(), "enables detector port_scan again") || !strings.Contains(err.Error(), b+":1:1") {
		t.Errorf("error = %v, want the second file's alert refused", err)
	}
	if _, err := LoadGlobalAlerts(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: error = %v", err)
	}
}

func alertYAML(name, detector, extra string) string {
	s := "apiVersion: projectcalico.org/v3\nkind: GlobalAlert\nmetadata:\n  name: " + name + "\nspec:\n  type: AnomalyDetection\n  detector:\n    name: " + detector + "\n"
	if extra != "" {
		s += "  " + extra + "\n"
	}
	return s
}

func indent(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		if i == 0 {
			lines[i] = "- " + l
		} else {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// seedFiles adds every testdata file whose name starts with prefix (and
// the broken ones under testdata/bad) to a fuzz corpus.
func seedFiles(f *testing.F, patterns ...string) {
	for _, pattern := range patterns {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
}

func FuzzGlobalAlert(f *testing.F) {
	seedFiles(f, "testdata/*.yaml", "testdata/bad/globalalert-*.yaml", "testdata/calico/operator-*.yaml", "testdata/calico/globalalerts-*.yaml")
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGlobalAlerts("fuzz.yaml", data)
		if g == nil {
			t.Fatal("nil result")
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Errorf("error without the file's name: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, a := range g.Alerts {
			if _, ok := lookupForTest(a.Detector); !ok {
				t.Errorf("alert for unregistered detector %q", a.Detector)
			}
			if seen[a.Detector] {
				t.Errorf("detector %s enabled twice", a.Detector)
			}
			seen[a.Detector] = true
			if a.Severity < 0 || a.Severity > 100 || a.Period < 0 {
				t.Errorf("out of range: %+v", a)
			}
		}
	})
}
