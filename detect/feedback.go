package detect

import (
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// ExpectedLearner is a detector whose model can be told that what it
// judged anomalous about one entity was normal: a user marked the
// entity's incident "expected". LearnExpected learns the entity's rows of
// window w (rows in the order of Queries, every entity's; the detector
// picks the entity's own) into the model as if they had been judged
// normal, and reports whether it found the entity's rows. Detectors whose
// model cannot take a window as normal (a threshold from Calico's
// settings, an isolation forest's reservoir) do not implement it: the
// expected entity is then muted for a while instead (see the feedback
// package).
type ExpectedLearner interface {
	Detector
	LearnExpected(w source.Window, rows [][]source.Row, e Entity) bool
}

// ExpectedWindows asks a detector to learn windows of one entity as
// normal: the windows of an incident a user marked expected.
type ExpectedWindows struct {
	Detector string
	Entity   Entity
	Windows  []source.Window
}

// LearnExpected learns the fields of entity e in window w into its
// baselines, even though Judge kept them out as anomalous.
func (d *fieldBaselines) LearnExpected(w source.Window, rows [][]source.Row, e Entity) bool {
	if len(rows) == 0 {
		return false
	}
	found := false
	for _, r := range rows[0] {
		if re, ok := d.entity(d.cluster, r.Key); ok && re == e && len(r.Values) == len(d.metrics) {
			d.learnRow(w, d.keys.entity(re).fields, r)
			found = true
		}
	}
	return found
}
