package nab

import (
	"fmt"
	"time"
)

// Resample returns c with each series' samples averaged into buckets of
// every (time.Truncate's, so 30-minute and hourly buckets start on the
// half hour and the hour), a bucket's mean stamped at its start; windows
// and labels are kept. Real
// series come sampled every 5 minutes, every 30, every hour: replaying
// the same series at a coarser cadence measures what the cadence alone
// does to the detectors (the replay holds each sample until the next).
func Resample(c *Corpus, every time.Duration) (*Corpus, error) {
	if every < time.Minute {
		return nil, fmt.Errorf("resample every %v: at least a minute", every)
	}
	out := &Corpus{Skipped: c.Skipped}
	for _, s := range c.Series {
		r := &Series{Name: s.Name, Windows: s.Windows, Labels: s.Labels, Malformed: s.Malformed}
		var sum float64
		var n int
		var at time.Time
		flush := func() {
			if n > 0 {
				r.Rows = append(r.Rows, Row{Time: at, Value: sum / float64(n)})
			}
		}
		for _, row := range s.Rows {
			if b := row.Time.Truncate(every); n == 0 || !b.Equal(at) {
				flush()
				at, sum, n = b, 0, 0
			}
			sum += row.Value
			n++
		}
		flush()
		out.Series = append(out.Series, r)
	}
	return out, nil
}
