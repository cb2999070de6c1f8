package calicolog

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLabelRunes bounds a label value taken from logs; longer ones are cut
// and end in "…".
const MaxLabelRunes = 128

// LabelValue makes a value read from logs (pod, namespace and cluster
// names are written by the workloads being watched) safe as a label value:
// valid UTF-8 (client_golang and Alertmanager refuse anything else, failing
// the whole scrape or batch),
// no control characters, at most MaxLabelRunes runes. Clean values pass
// unchanged.
func LabelValue(s string) string {
	clean := true
	n := 0
	for _, r := range s {
		n++
		if r == utf8.RuneError || unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean && n <= MaxLabelRunes {
		return s
	}
	var b strings.Builder
	n = 0
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if n == MaxLabelRunes-1 {
			b.WriteRune('…')
			break
		}
		if unicode.IsControl(r) {
			r = '\uFFFD'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
