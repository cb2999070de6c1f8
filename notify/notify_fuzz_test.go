package notify

import (
	"encoding/json"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// FuzzEvidenceJSON feeds records from the outside (Elasticsearch documents)
// to the evidence annotation: it must always be a JSON object within its
// bound.
func FuzzEvidenceJSON(f *testing.F) {
	for _, seed := range []string{
		`{"source_name_aggr":"a-*","source_ip":"10.0.0.1","dest_port":22,"proto":"tcp","action":"deny"}`,
		`{"client_name_aggr":"a-*","qname":"x.example","qtype":"A","rcode":"NXDomain"}`,
		`{"method":"GET","url":"/\n","response_code":"200"}`, `null`, `[]`, `"x"`,
	} {
		f.Add("flows", seed, 512)
		f.Add("dns", seed, 40)
	}
	f.Fuzz(func(t *testing.T, log, record string, bound int) {
		if !json.Valid([]byte(record)) {
			return // the engine only hands on documents Elasticsearch returned
		}
		v := detect.Verdict{Detector: "port_scan", Score: 1, Threshold: 0.5,
			Evidence: map[string][]json.RawMessage{log: {json.RawMessage(record)}, "flows": {json.RawMessage(record)}}}
		ev := Group(Policy{}, []detect.Verdict{v})[0].EvidenceJSON(bound)
		var obj map[string][]json.RawMessage
		if err := json.Unmarshal([]byte(ev), &obj); err != nil {
			t.Errorf("evidence %q is not an object of lists: %v", ev, err)
		}
		if bound > 0 && len(ev) > bound && ev != "{}" {
			t.Errorf("evidence of %d bytes over its bound %d", len(ev), bound)
		}
	})
}
