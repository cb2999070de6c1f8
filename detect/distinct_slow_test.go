package detect

import (
	"strings"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// scanStep is one window of a sequence: what the scanner and a steady
// neighbour reach, and what the scanner's verdict must say.
type scanStep struct {
	first, n  int    // the scanner reaches values first..first+n-1
	anomalous bool   // the scanner's verdict must be anomalous
	kind      string // the kind of scan the summary must name: "fast", "slow" or "" (not checked)
}

func TestDistinctScanOverSeveralWindows(t *testing.T) {
	tests := []struct {
		name     string
		detector string
		params   map[string]string
		steps    []scanStep
	}{
		{
			name: "slow scan of 100 ports a window alerts once the hour holds 500", detector: "port_scan",
			steps: []scanStep{
				{1, 100, false, ""}, {101, 100, false, ""}, {201, 100, false, ""}, {301, 100, false, ""},
				{401, 100, true, "slow"}, {501, 100, true, "slow"}, {601, 100, true, "slow"},
			},
		},
		{
			name: "slow sweep of 20 addresses a window alerts from the 64th", detector: "ip_sweep",
			steps: []scanStep{{1, 20, false, ""}, {21, 20, false, ""}, {41, 20, false, ""}, {61, 20, true, "slow"}, {81, 20, true, "slow"}},
		},
		{
			name: "the same ports every window never add up", detector: "port_scan",
			steps: []scanStep{{1, 300, false, ""}, {1, 300, false, ""}, {1, 300, false, ""}, {1, 300, false, ""}, {1, 300, false, ""}},
		},
		{
			name: "values older than slow_windows drop out of the count", detector: "port_scan",
			params: map[string]string{"slow_windows": "3"},
			steps:  []scanStep{{1, 200, false, ""}, {201, 200, false, ""}, {401, 200, true, "slow"}, {601, 200, true, "slow"}, {601, 10, false, ""}},
		},
		{
			name: "a fast scan is reported once, not again for the rest of the hour", detector: "port_scan",
			steps: []scanStep{{1, 600, true, "fast"}, {1, 3, false, ""}, {1, 3, false, ""}, {2, 3, false, ""}},
		},
		{
			name: "the hour after a slow scan is not reported again", detector: "ip_sweep",
			steps: []scanStep{{1, 30, false, ""}, {31, 30, false, ""}, {61, 30, true, "slow"}, {1, 3, false, ""}, {1, 3, false, ""}},
		},
		{
			name: "a raised per-window threshold raises the slow one with it", detector: "ip_sweep",
			params: map[string]string{"threshold": "300"},
			steps:  []scanStep{{1, 254, false, ""}, {255, 40, false, ""}, {295, 40, true, "slow"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(t, tc.detector, tc.params)
			w := testWindow
			for i, st := range tc.steps {
				rows := scanRows(nil, "shop", "attacker-5d9f-*", "wep", st.first, st.n)
				rows = scanRows(rows, "shop", "frontend-7c9d-*", "wep", 0, 3)
				vs := d.Judge(w, [][]source.Row{rows, nil})
				var scanner *Verdict
				for k := range vs {
					switch vs[k].Entity.Workload {
					case "attacker-5d9f-*":
						scanner = &vs[k]
					case "frontend-7c9d-*":
						if vs[k].Anomalous() {
							t.Errorf("window %d: the steady neighbour is anomalous: %s", i, vs[k].Summary)
						}
					}
				}
				if scanner == nil {
					t.Fatalf("window %d: no verdict for the scanner", i)
				}
				t.Logf("window %d: score %.3f %s", i, scanner.Score, scanner.Summary)
				if scanner.Anomalous() != st.anomalous {
					t.Errorf("window %d: anomalous = %v (score %.3f), want %v: %s", i, scanner.Anomalous(), scanner.Score, st.anomalous, scanner.Summary)
				}
				if st.kind != "" && !strings.Contains(scanner.Summary, "("+st.kind+" scan") {
					t.Errorf("window %d: summary does not say %s scan: %s", i, st.kind, scanner.Summary)
				}
				if !scanner.Anomalous() && strings.Contains(scanner.Summary, " scan;") {
					t.Errorf("window %d: a summary names a scan where there is none: %s", i, scanner.Summary)
				}
				if scanner.Score < 0 || scanner.Score > 1 {
					t.Errorf("window %d: score %v outside 0..1", i, scanner.Score)
				}
				w = source.Window{Start: w.End, End: w.End.Add(w.End.Sub(w.Start))}
			}
		})
	}
}

func TestDistinctScanFromOutsideNamesTheAddress(t *testing.T) {
	d := newTestDetector(t, "port_scan", nil)
	rows := scanRows(nil, "-", "pub", "net", 1, 600)
	rows = scanRows(rows, "shop", "frontend-7c9d-*", "wep", 0, 3)
	sources := []source.Row{
		{Key: []string{"-", "pub", "net", "0.0.0.0"}, Values: []float64{1}},
		{Key: []string{"-", "pub", "net", "192.0.2.77"}, Values: []float64{600}},
		{Key: []string{"-", "pub", "net", "198.51.100.3"}, Values: []float64{2}},
	}
	vs := d.Judge(testWindow, [][]source.Row{rows, sources})
	var pub *Verdict
	for i := range vs {
		if vs[i].Entity.Workload == "pub" {
			pub = &vs[i]
		}
	}
	if pub == nil {
		t.Fatalf("no verdict for the outside network: %+v", vs)
	}
	if want := (Entity{Cluster: "c1", Namespace: "-", Workload: "pub", Type: "net"}); pub.Entity != want {
		t.Errorf("entity = %+v, want %+v (no address in it)", pub.Entity, want)
	}
	if !pub.Anomalous() {
		t.Errorf("600 ports from outside not anomalous: %s", pub.Summary)
	}
	if !strings.Contains(pub.Summary, "192.0.2.77 (600)") || !strings.Contains(pub.Summary, "198.51.100.3") {
		t.Errorf("summary does not name the outside addresses: %s", pub.Summary)
	}
	var ipFilter []string
	for _, f := range pub.EvidenceQuery[0].Filters {
		if f.Field == "source_ip" {
			ipFilter = f.Values
		}
	}
	if len(ipFilter) != 1 || ipFilter[0] != "192.0.2.77" {
		t.Errorf("evidence does not select the scanning address: %+v", pub.EvidenceQuery)
	}
}
