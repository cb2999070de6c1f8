package collector

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxLabelRunes bounds a label value taken from logs; longer ones are cut
// and end in "…".
const maxLabelRunes = 128

// labelValue makes a value read from logs (pod, namespace and cluster
// names are written by the workloads being watched) safe as a label value:
// valid UTF-8 (client_golang refuses anything else, failing the scrape),
// no control characters, at most maxLabelRunes runes. Clean values pass
// unchanged.
func labelValue(s string) string {
	clean := true
	n := 0
	for _, r := range s {
		n++
		if r == utf8.RuneError || unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean && n <= maxLabelRunes {
		return s
	}
	var b strings.Builder
	n = 0
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if n == maxLabelRunes-1 {
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
