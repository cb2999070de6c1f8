package calicolog

import "testing"

// BenchmarkDecodeDNSLog decodes a usual DNS record, one with an EDNS OPT
// answer whose class is a number (still one pass: the class is a Text),
// and one whose rrsets hold a shape no Calico writes (decoded field by
// field after the first pass fails, the rrsets dropped).
func BenchmarkDecodeDNSLog(b *testing.B) {
	for _, bc := range []struct {
		name string
		doc  []byte
	}{
		{"usual", readTestdata(b, "dns.json")},
		{"edns_opt_class_number", readTestdata(b, "dns_edns.json")},
		{"misshapen_rrsets", edited(b, "dns_edns.json", withField("rrsets", []any{map[string]any{"rdata": "10.0.0.1"}}))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.doc)))
			for b.Loop() {
				if _, err := DecodeDNSLog(bc.doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
