package source

import (
	"fmt"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// Coverage is implemented by a source that carries less than Calico's
// logs: Goldmane gives flows keyed by name, without IPs, process fields,
// DNS or L7 logs. A source that does not implement it carries everything.
type Coverage interface {
	// Carries reports whether the source gives log type t at all (field
	// empty) or its field.
	Carries(t calicolog.LogType, field string) bool
}

// Missing names what of q a source with coverage c cannot answer: the log
// type, or a field q groups by, filters on or counts distinct values of.
// Sums, maxima and means of a field the source lacks read zero, as they do
// for a Calico record that lacks it, and are not counted as missing. It
// returns "" when q can be answered.
func Missing(q Query, c Coverage) string {
	if !c.Carries(q.Log, "") {
		return fmt.Sprintf("%s logs", q.Log)
	}
	for _, f := range q.GroupBy {
		if !c.Carries(q.Log, f) {
			return fmt.Sprintf("%s field %s", q.Log, f)
		}
	}
	for _, t := range q.Filters {
		if !c.Carries(q.Log, t.Field) {
			return fmt.Sprintf("%s field %s", q.Log, t.Field)
		}
	}
	for _, m := range q.Metrics {
		if m.Kind == Cardinality && !c.Carries(q.Log, m.Field) {
			return fmt.Sprintf("%s field %s", q.Log, m.Field)
		}
	}
	return ""
}
