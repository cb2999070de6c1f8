package events

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// documentJSON is the event of verdicts as written to the index, decoded
// as a generic object.
func documentJSON(t *testing.T, vs ...detect.Verdict) map[string]any {
	t.Helper()
	b, err := json.Marshal(Document(anomaly(t, vs...), legacy, 100))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var endpointKeys = []string{"source_ip", "source_port", "source_namespace", "source_name", "source_name_aggr",
	"dest_ip", "dest_port", "dest_namespace", "dest_name", "dest_name_aggr", "host", "protocol"}

// An event of a DNS detector has the shape of the one Calico's dns_tunnel
// job wrote: the same keys, every endpoint field null, the client named in
// record.client_*, the suspicious domains in record.domains, the time range
// written "YYYY-MM-DD HH:MM:SS", and the description opening as Calico's.
func TestDNSEventHasCalicosShape(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "calico_dns_tunnel_event.json"))
	if err != nil {
		t.Fatal(err)
	}
	var calico map[string]any
	if err := json.Unmarshal(raw, &calico); err != nil {
		t.Fatal(err)
	}
	w := source.Window{Start: time.Date(2023, 4, 28, 19, 38, 14, 0, time.UTC), End: time.Date(2023, 4, 28, 19, 43, 14, 0, time.UTC)}
	v := detect.Verdict{Detector: "dns_tunnel", Window: w, Score: 0.97, Threshold: 0.5, Observed: 1, Expected: 0,
		Entity:   detect.Entity{Cluster: "c1", Namespace: "hipstershop", Workload: "loadgenerator-6b7c6d48f9-*", Type: "wep"},
		Summary:  "1 long high-entropy subdomain under t.example.net",
		Evidence: map[string][]json.RawMessage{"dns": {json.RawMessage(`{"qname":"aGVsbG8gd29ybGQgdGhpcyBpcyBleGZpbA.t.example.net","client_namespace":"hipstershop"}`)}}}
	ours := documentJSON(t, v)
	for k := range calico {
		if _, ok := ours[k]; !ok {
			t.Errorf("Calico's event has %q, ours does not", k)
		}
	}
	for _, k := range endpointKeys {
		if ours[k] != nil {
			t.Errorf("%s = %v, want null as Calico wrote it for a DNS client", k, ours[k])
		}
	}
	rec, _ := ours["record"].(map[string]any)
	for k, want := range calico["record"].(map[string]any) {
		got, ok := rec[k]
		if !ok {
			t.Errorf("record lacks %q", k)
			continue
		}
		if gb, _ := json.Marshal(got); string(gb) != mustJSON(t, want) {
			t.Errorf("record %s = %s, want %s", k, gb, mustJSON(t, want))
		}
	}
	for _, k := range []string{"namespace", "name_aggr", "source_namespace", "source_name_aggr"} {
		if _, ok := rec[k]; ok {
			t.Errorf("record has %q: a DNS client is named client_*", k)
		}
	}
	if d, _ := ours["description"].(string); len(d) < len(calico["description"].(string)) || d[:len(calico["description"].(string))] != calico["description"] {
		t.Errorf("description %q does not open as Calico's %q", d, calico["description"])
	}
	for _, k := range []string{"score", "threshold", "detector", "dns"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("our %q is not kept inside record", k)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var recordTime = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)

// Each detector's event names its entity where its log type puts it: a
// flow detector's source, a DNS detector's client (record only), an L7
// detector's serving workload as the destination.
func TestEventShapePerLogType(t *testing.T) {
	tests := []struct {
		detector string
		promoted []string // endpoint fields set
		record   []string // record keys naming the entity
	}{
		{"port_scan", []string{"source_namespace", "source_name_aggr"}, []string{"source_namespace", "source_name_aggr"}},
		{"dga", nil, []string{"client_namespace", "client_name_aggr", "domains"}},
		{"dns_latency", nil, []string{"client_namespace", "client_name_aggr"}},
		{"http_verbs", []string{"dest_namespace", "dest_name_aggr"}, []string{"dest_namespace", "dest_name_aggr"}},
		{"l7_latency", []string{"dest_namespace", "dest_name_aggr"}, []string{"dest_namespace", "dest_name_aggr"}},
	}
	for _, tt := range tests {
		t.Run(tt.detector, func(t *testing.T) {
			m := documentJSON(t, verdict(tt.detector, w1))
			for _, k := range endpointKeys {
				if set := m[k] != nil; set != slices.Contains(tt.promoted, k) {
					t.Errorf("%s = %v", k, m[k])
				}
			}
			rec := m["record"].(map[string]any)
			for _, k := range tt.record {
				if _, ok := rec[k]; !ok {
					t.Errorf("record lacks %s: %v", k, rec)
				}
			}
			for _, k := range []string{"start_time", "end_time"} {
				if s, _ := rec[k].(string); !recordTime.MatchString(s) {
					t.Errorf("record %s = %v, want YYYY-MM-DD HH:MM:SS", k, rec[k])
				}
			}
		})
	}
}
