package source

import (
	"slices"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// TestOutsideIsTheComplement checks that the term ranges of outside match
// exactly the values not in the allowed set, in Lucene's byte order of
// terms, whatever order the set is given in.
func TestOutsideIsTheComplement(t *testing.T) {
	for _, tc := range []struct {
		allowed []string
		probes  []string
	}{
		{[]string{"wep", "hep", "ns", "net"}, []string{"", "a", "hep", "hepx", "he", "net", "nes", "neu", "ns", "nsa", "o", "wep", "wepp", "z", "WEP", "ωep"}},
		{[]string{"src", "dst", "dst"}, []string{"", "dst", "ds", "dstx", "m", "src", "sr", "srca", "zz"}},
		{[]string{"only"}, []string{"", "onl", "only", "onlyy"}},
	} {
		ranges := outside("f", tc.allowed...)
		for _, p := range tc.probes {
			matched := 0
			for _, r := range ranges {
				b := r.(map[string]any)["range"].(map[string]any)["f"].(map[string]any)
				in := true
				if lt, ok := b["lt"].(string); ok && !(p < lt) {
					in = false
				}
				if gt, ok := b["gt"].(string); ok && !(p > gt) {
					in = false
				}
				if in {
					matched++
				}
			}
			if want := !slices.Contains(tc.allowed, p); (matched > 0) != want || matched > 1 {
				t.Errorf("allowed %v: %q matched %d ranges, want outside=%v", tc.allowed, p, matched, want)
			}
		}
	}
}

// TestRequiredFieldsAskedOnce: a field a well-formed record must have is
// required by an exists clause only when the request does not require it
// otherwise, by grouping on it or by a filter listing its values.
func TestRequiredFieldsAskedOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		q       Query
		exists  []string // exists clauses wanted, in order
		missing []bool   // missing_bucket of each group-by source
	}{
		{"grouped by none of them", Query{Log: calicolog.Flows, GroupBy: []string{"source_namespace", "dest_port"}},
			[]string{"source_name_aggr", "dest_name_aggr", "source_type", "dest_type", "reporter"}, []bool{true, true}},
		{"grouped by the source entity, reporter listed", Query{Log: calicolog.Flows, GroupBy: []string{"source_namespace", "source_name_aggr", "source_type"},
			Filters: []Term{{Field: "reporter", Values: []string{"src"}}}},
			[]string{"dest_name_aggr", "dest_type"}, []bool{true, false, false}},
		{"reporter excluded, not listed", Query{Log: calicolog.Flows, GroupBy: []string{"dest_name_aggr"},
			Filters: []Term{{Field: "reporter", Values: []string{"src"}, Exclude: true}}},
			[]string{"source_name_aggr", "source_type", "dest_type", "reporter"}, []bool{false}},
		{"a term with known values lists values", Query{Log: calicolog.Flows, GroupBy: []string{"source_namespace"},
			Filters: []Term{{Field: "source_type", Values: []string{"wep"}, Known: []string{"ns"}}}},
			[]string{"source_name_aggr", "dest_name_aggr", "dest_type", "reporter"}, []bool{true}},
		{"DNS grouped by client and name", Query{Log: calicolog.DNS, GroupBy: []string{"client_namespace", "client_name_aggr", "qname", "rcode"}},
			nil, []bool{true, false, false, true}},
		{"DNS grouped by client", Query{Log: calicolog.DNS, GroupBy: []string{"client_namespace", "client_name_aggr"}},
			[]string{"qname"}, []bool{true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Name = "q"
			r, err := newCompositeRequest(tc.q, nil, 10)
			if err != nil {
				t.Fatal(err)
			}
			var exists []string
			for _, c := range r.query["bool"].(map[string]any)["filter"].([]any) {
				if e, ok := c.(map[string]any)["exists"]; ok {
					exists = append(exists, e.(map[string]any)["field"].(string))
				}
			}
			if !slices.Equal(exists, tc.exists) {
				t.Errorf("exists clauses on %v, want %v", exists, tc.exists)
			}
			for i, s := range r.sources {
				terms := s.(map[string]any)[groupKey(i)].(map[string]any)["terms"].(map[string]any)
				if _, missing := terms["missing_bucket"]; missing != tc.missing[i] {
					t.Errorf("source %s: missing_bucket %v, want %v", tc.q.GroupBy[i], missing, tc.missing[i])
				}
			}
		})
	}
}
