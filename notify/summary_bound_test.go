package notify

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// TestLongNamesAreCutInSummaries: a workload writes its own name, so a
// 10 KB name must give a title and description of bounded length, with the
// name cut as its label is.
func TestLongNamesAreCutInSummaries(t *testing.T) {
	long := strings.Repeat("w", 10<<10)
	longNS := strings.Repeat("n", 10<<10)
	cut := calicolog.LabelValue(long)
	cases := []struct {
		name    string
		summary string
		text    string
	}{
		{name: "default title and sentence"},
		{name: "detector summary naming the workload", summary: long + " in namespace " + longNS + " reached 600 distinct destination ports"},
		{name: "configured summary", text: "Port scan"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := verdict("port_scan", long, w1, 0.75, nil)
			v.Entity.Namespace = longNS
			v.Entity.Cluster = strings.Repeat("c", 10<<10)
			v.Summary = c.summary
			a := Group(Policy{}, []detect.Verdict{v})
			if len(a) != 1 {
				t.Fatalf("got %d anomalies", len(a))
			}
			a[0].Text.Summary = c.text
			for what, s := range map[string]string{"title": a[0].Title(), "description": a[0].Description()} {
				if n := utf8.RuneCountInString(s); n > 1000 {
					t.Errorf("%s has %d runes, want the names cut to %d", what, n, calicolog.MaxLabelRunes)
				}
				if !strings.Contains(s, cut) {
					t.Errorf("%s %.200q lacks the cut name", what, s)
				}
			}
		})
	}
}
