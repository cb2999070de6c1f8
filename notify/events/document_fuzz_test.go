package events

import (
	"encoding/json"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// FuzzDocument feeds flow records from the outside (Elasticsearch
// documents) as evidence: the event must always encode, decode as a Calico
// event, and promote only what both records agree on.
func FuzzDocument(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"source_ip":"10.0.0.1","dest_port":22,"proto":"tcp"}`, `{"source_ip":"10.0.0.1","dest_port":23,"proto":"tcp"}`},
		{`{"source_ip":null,"dest_ip":"0.0.0.0","dest_port":-1}`, `{}`},
		{`{"source_name":"-","host":"h"}`, `{"source_name":"-","host":"h"}`},
		{`{"dest_port":"22"}`, `null`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !json.Valid([]byte(a)) || !json.Valid([]byte(b)) {
			return
		}
		doc := Document(anomaly(t, verdict("port_scan", w1, a, b)), legacy, 100)
		raw, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		e, err := calicolog.DecodeEvent(raw)
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, raw)
		}
		if e.Host != "" && a == b {
			var rec struct {
				Host string `json:"host"`
			}
			if json.Unmarshal([]byte(a), &rec) != nil || rec.Host != e.Host {
				t.Errorf("host %q promoted from %s", e.Host, a)
			}
		}
	})
}
