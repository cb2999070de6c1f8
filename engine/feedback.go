package engine

import (
	"context"
	"time"

	"github.com/go-kit/log/level"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Feedback is what users said is expected (the feedback package's Store).
type Feedback interface {
	// Expected reports whether detector's verdicts on e are marked
	// expected at t.
	Expected(detector string, e detect.Entity, t time.Time) bool
	// TakeLearning returns the incident windows of cluster's entities
	// waiting to be learned as normal, and forgets them.
	TakeLearning(cluster string) []detect.ExpectedWindows
}

// maxExpectedWindows bounds the windows read again for one request.
const maxExpectedWindows = 24

// learnExpectedIncidents reads again the windows of incidents marked
// expected since the last window, and has each detector that can learn
// (detect.ExpectedLearner) learn the entity's rows of them as normal. A
// window that cannot be read is skipped: the entity's later windows are
// still learned while the decision stands (learnExpected).
func (e *Engine) learnExpectedIncidents(ctx context.Context) {
	if e.cfg.Feedback == nil {
		return
	}
	for _, req := range e.cfg.Feedback.TakeLearning(e.cfg.Cluster) {
		for _, d := range e.detectors {
			l, ok := d.(detect.ExpectedLearner)
			if !ok || d.Name() != req.Detector {
				continue
			}
			ws := req.Windows
			if len(ws) > maxExpectedWindows {
				ws = ws[len(ws)-maxExpectedWindows:]
			}
			learned := 0
			for _, w := range ws {
				rows := make([][]source.Row, 0, len(d.Queries()))
				var err error
				for _, q := range d.Queries() {
					var r []source.Row
					if r, err = e.src.Aggregate(ctx, w, q); err != nil {
						break
					}
					rows = append(rows, r)
				}
				if err != nil {
					level.Warn(e.logger).Log("msg", "cannot read an expected incident's window again; not learned", "detector", d.Name(), "window", w, "err", err)
					continue
				}
				if l.LearnExpected(w, rows, req.Entity) {
					learned++
				}
			}
			level.Info(e.logger).Log("msg", "learned an incident marked expected", "detector", d.Name(), "entity", req.Entity.Key(), "windows", learned)
		}
	}
}

// learnExpected has detector d learn as normal the entities of window w it
// judged anomalous that users marked expected.
func (e *Engine) learnExpected(d detect.Detector, w source.Window, rows [][]source.Row, verdicts []detect.Verdict) {
	if e.cfg.Feedback == nil {
		return
	}
	l, ok := d.(detect.ExpectedLearner)
	if !ok {
		return
	}
	for _, v := range verdicts {
		if v.Anomalous() && e.cfg.Feedback.Expected(v.Detector, v.Entity, w.End) {
			l.LearnExpected(w, rows, v.Entity)
		}
	}
}
