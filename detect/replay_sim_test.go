package detect

import (
	"context"
	"fmt"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// weekResult is what one detector did over simulated days: its detection
// quality against the cluster's labels.
type weekResult = testkit.Quality[Verdict]

// judgement is what the quality harness reads of a verdict.
func judgement(v Verdict) testkit.Judgement {
	return testkit.Judgement{Entity: v.Entity.Key(), Namespace: v.Entity.Namespace, Workload: v.Entity.Workload,
		Type: v.Entity.Type, Anomalous: v.Anomalous()}
}

// judgedWindow is one window a detector judged during playDays: its
// verdicts, the label each verdict's entity matches (-1 for none) and the
// labels it missed there.
type judgedWindow struct {
	detector Detector
	window   source.Window
	verdicts []Verdict
	matches  []int
	missed   []simulate.Label
}

// playDays runs the named detectors, made with o for c's cluster and
// bucket, over [start, end) of c as the engine does (Learn while not
// ready, Judge once ready) and scores their anomalous verdicts against the
// labels. judged, when not nil, sees every judged window.
func playDays(c *simulate.Cluster, start, end time.Time, names []string, o Options, judged func(judgedWindow)) (map[string]*weekResult, error) {
	src := simulate.NewSourceWithRetention(c, time.Hour)
	bucket := c.Bucket()
	o.Cluster, o.Bucket = c.Name(), bucket
	var dets []Detector
	results := map[string]*weekResult{}
	for _, name := range names {
		info, ok := Lookup(name)
		if !ok {
			return nil, fmt.Errorf("no detector %s", name)
		}
		d, err := info.New(o)
		if err != nil {
			return nil, err
		}
		dets = append(dets, d)
		results[name] = testkit.NewQuality(name, judgement)
	}
	ShareBaselines(dets)
	ctx := context.Background()
	for t := start; t.Before(end); t = t.Add(bucket) {
		w := source.Window{Start: t, End: t.Add(bucket)}
		labels := c.Truth(w)
		for _, d := range dets {
			qs := d.Queries()
			rows := make([][]source.Row, len(qs))
			for i, q := range qs {
				r, err := src.Aggregate(ctx, w, q)
				if err != nil {
					return nil, err
				}
				rows[i] = r
			}
			res := results[d.Name()]
			if !d.Ready() {
				d.(Learner).Learn(w, rows)
				res.Learned(labels)
				continue
			}
			vs := d.Judge(w, rows)
			missedBefore := len(res.Missed)
			matches := res.Judged(w, labels, vs)
			if judged != nil {
				judged(judgedWindow{detector: d, window: w, verdicts: vs, matches: matches, missed: res.Missed[missedBefore:]})
			}
		}
	}
	return results, nil
}
