package source

import (
	"slices"
	"testing"
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
