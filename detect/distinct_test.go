package detect

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

var testWindow = source.Window{
	Start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
	End:   time.Date(2026, 11, 24, 10, 5, 0, 0, time.UTC),
}

func newTestDetector(t *testing.T, name string, params map[string]string) Detector {
	t.Helper()
	info, ok := Lookup(name)
	if !ok {
		t.Fatalf("detector %s is not registered", name)
	}
	d, err := info.New(Options{Cluster: "c1", Params: params})
	if err != nil {
		t.Fatalf("new %s: %v", name, err)
	}
	return d
}

func TestDistinctCountDetectors(t *testing.T) {
	tests := []struct {
		name          string
		detector      string
		params        map[string]string
		distinct      float64
		wantAnomalous bool
	}{
		{"port scan of 600 ports alerts at the default threshold", "port_scan", nil, 600, true},
		{"port scan exactly at the threshold alerts", "port_scan", nil, 500, true},
		{"a busy service reaching 40 ports does not alert", "port_scan", nil, 40, false},
		{"the demo threshold of 200 catches 250 ports", "port_scan", map[string]string{"threshold": "200"}, 250, true},
		{"ip sweep of a /24 alerts", "ip_sweep", nil, 254, true},
		{"31 peers stay under the ip sweep threshold", "ip_sweep", nil, 31, false},
		{"a raised ip sweep threshold keeps 254 quiet", "ip_sweep", map[string]string{"threshold": "300"}, 254, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(t, tc.detector, tc.params)
			rows := scanRows(nil, "shop", "attacker-5d9f-*", "wep", 0, int(tc.distinct))
			rows = scanRows(rows, "shop", "frontend-7c9d-*", "wep", 0, 3)
			vs := d.Judge(testWindow, [][]source.Row{rows, nil})
			if len(vs) != 2 {
				t.Fatalf("got %d verdicts, want one per entity (2)", len(vs))
			}
			var attacker, normal *Verdict
			for i := range vs {
				switch vs[i].Entity.Workload {
				case "attacker-5d9f-*":
					attacker = &vs[i]
				case "frontend-7c9d-*":
					normal = &vs[i]
				}
			}
			if attacker == nil || normal == nil {
				t.Fatalf("verdicts for the wrong entities: %+v", vs)
			}
			if got := attacker.Anomalous(); got != tc.wantAnomalous {
				t.Errorf("attacker anomalous = %v (score %.3f, threshold %.3f), want %v", got, attacker.Score, attacker.Threshold, tc.wantAnomalous)
			}
			if normal.Anomalous() {
				t.Errorf("normal workload flagged with score %.3f", normal.Score)
			}
			if attacker.Observed != tc.distinct {
				t.Errorf("observed = %v, want %v", attacker.Observed, tc.distinct)
			}
			if attacker.Entity != (Entity{Cluster: "c1", Namespace: "shop", Workload: "attacker-5d9f-*", Type: "wep"}) {
				t.Errorf("entity = %+v", attacker.Entity)
			}
			if attacker.Score < 0 || attacker.Score > 1 {
				t.Errorf("score %v outside 0..1", attacker.Score)
			}
			if !strings.Contains(attacker.Summary, "attacker-5d9f-*") {
				t.Errorf("summary does not name the workload: %q", attacker.Summary)
			}
			// The source entity's records, narrowed to values the scan
			// reached (probedEvidence) when it is anomalous.
			if !attacker.Anomalous() {
				if len(attacker.EvidenceQuery) != 1 || len(attacker.EvidenceQuery[0].Filters) != 3 {
					t.Errorf("evidence query does not select the source entity: %+v", attacker.EvidenceQuery)
				}
			} else if len(attacker.EvidenceQuery) != 1 || len(attacker.EvidenceQuery[0].Filters) != 4 ||
				attacker.EvidenceQuery[0].Filters[2].Values[0] != "attacker-5d9f-*" ||
				(attacker.EvidenceQuery[0].Filters[0].Field != "dest_port" && attacker.EvidenceQuery[0].Filters[0].Field != "dest_ip") {
				t.Errorf("evidence query does not select the source entity's probes: %+v", attacker.EvidenceQuery)
			}
		})
	}
}

func TestDistinctCountDetectorsRejectBadSettings(t *testing.T) {
	for _, tc := range []struct {
		detector, value, wantInError string
	}{
		{"port_scan", "lots", "AD_port_scan_threshold"},
		{"ip_sweep", "0", "at least 1"},
	} {
		info, _ := Lookup(tc.detector)
		_, err := info.New(Options{Params: map[string]string{"threshold": tc.value}})
		if err == nil || !strings.Contains(err.Error(), tc.wantInError) {
			t.Errorf("%s threshold %q: error %v, want one mentioning %q", tc.detector, tc.value, err, tc.wantInError)
		}
	}
}

func TestCountScoreIsMonotoneAndBounded(t *testing.T) {
	prev := -1.0
	for x := 0.0; x < 100000; x = x*1.5 + 1 {
		s := countScore(x, 500)
		if s < prev || s < 0 || s >= 1 {
			t.Fatalf("countScore(%v) = %v after %v", x, s, prev)
		}
		prev = s
	}
	if got := countScore(500, 500); got != scoreThreshold {
		t.Errorf("score at the count threshold = %v, want %v", got, scoreThreshold)
	}
}

// scanRows appends the rows of the per-value query for one source entity
// reaching values first..first+n-1 (as ports, or as addresses of 10.0.0.0/8).
func scanRows(rows []source.Row, namespace, workload, typ string, first, n int) []source.Row {
	for i := first; i < first+n; i++ {
		rows = append(rows, source.Row{Key: []string{namespace, workload, typ, strconv.Itoa(i)}, Values: []float64{1}})
	}
	return rows
}

// TestScanEvidenceSelectsTheEntityAndTopSource checks the evidence of a
// scan: the source entity's flows and, for an outside network, its top
// address unless that address stands for aggregated ones.
func TestScanEvidenceSelectsTheEntityAndTopSource(t *testing.T) {
	key := []string{"-", "pub", "net"}
	entity := []source.Term{
		{Field: "source_namespace", Values: []string{"-"}},
		{Field: "source_name_aggr", Values: []string{"pub"}},
		{Field: "source_type", Values: []string{"net"}},
	}
	tests := []struct {
		name    string
		network bool
		sources []sourceCount
		want    []source.Term
	}{
		{"a workload", false, nil, entity},
		{"an outside network with a top address", true, []sourceCount{{ip: "192.0.2.77", count: 600}, {ip: nullIP, count: 3}},
			append(slices.Clone(entity), source.Term{Field: "source_ip", Values: []string{"192.0.2.77"}})},
		{"an outside network whose sources were aggregated", true, []sourceCount{{ip: nullIP, count: 600}}, entity},
	}
	for _, tc := range tests {
		want := []EvidenceQuery{{Log: "flows", Filters: tc.want, Limit: 5}}
		if got := scanEvidence(key, tc.network, tc.sources); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: evidence %+v, want %+v", tc.name, got, want)
		}
	}
}
