package nab

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// DropDepths and DropSpans are the drops InjectDrops writes into each
// series by default: the series silent, at a quarter and at half of its
// level, for an hour and for four.
var (
	DropDepths = []float64{0, 0.25, 0.5}
	DropSpans  = []time.Duration{time.Hour, 4 * time.Hour}
)

// VolumeSeries are the NAB series that count a volume (bytes, requests,
// messages, rides), by file name: what --inject-drops writes drops into
// unless told otherwise.
var VolumeSeries = []string{"*network_in*", "*NetworkIn*", "*disk_write_bytes*", "*request_count*", "Twitter_volume_*", "nyc_taxi*"}

// dropClearance is how far an injected drop keeps from the series'
// labelled windows and its ends, so what it is scored on is the drop.
const dropClearance = 6 * time.Hour

// dropTail is how long an injected drop's window runs past its end: the
// return to the usual level is part of the episode.
const dropTail = 30 * time.Minute

// InjectDrops returns, for each series of c, one copy per depth and span:
// its values multiplied by depth (0: silent) over span, from a start
// drawn at random (seeded by the series' name, depth and span, so the
// same corpus gives the same copies) after learn and a day, clear of its
// labelled windows and ends. The drop is a labelled window of its own,
// from its start to dropTail past its end, with its start as the label;
// the series' own windows and labels are kept, so its false alerts are
// counted as in the plain evaluation. A copy is named after its series
// with "+drop<percent>-<span>" before ".csv" (for example
// "realAWSCloudwatch/ec2_network_in_257a54+drop25-4h0m0s.csv"). Series
// too short for a drop clear of everything get no copy.
//
// The real NAB series hold few labelled drops, and none of a volume such
// as requests or bytes: a drop written into a real series of one
// measures the drops a volume's detectors must find (a service that
// stops answering, traffic lost on its way) against real noise, daily
// patterns and bursts.
func InjectDrops(c *Corpus, learn time.Duration, depths []float64, spans []time.Duration) (*Corpus, error) {
	for _, d := range depths {
		if !(d >= 0 && d < 1) {
			return nil, fmt.Errorf("drop depth %v: a drop leaves 0 (silence) up to, not including, 1 of the level", d)
		}
	}
	for _, sp := range spans {
		if sp < time.Minute {
			return nil, fmt.Errorf("drop span %v: at least a minute", sp)
		}
	}
	out := &Corpus{Skipped: slices.Clone(c.Skipped)}
	for _, s := range c.Series {
		for _, depth := range depths {
			for _, span := range spans {
				name := fmt.Sprintf("%s+drop%.0f-%s.csv", strings.TrimSuffix(s.Name, ".csv"), depth*100, span)
				start, ok := dropStart(s, name, learn, span)
				if !ok {
					out.Skipped = append(out.Skipped, name+": no room for the drop clear of the learned span, the labelled windows and the ends")
					continue
				}
				out.Series = append(out.Series, withDrop(s, name, start, span, depth))
			}
		}
	}
	return out, nil
}

// dropStart draws the start of a drop of span into s, seeded by name: on
// a minute, at least learn and a day after the first row, dropClearance
// clear of the last row and of every labelled window.
func dropStart(s *Series, name string, learn, span time.Duration) (time.Time, bool) {
	if len(s.Rows) == 0 {
		return time.Time{}, false
	}
	from := s.Rows[0].Time.Add(learn + 24*time.Hour)
	to := s.Rows[len(s.Rows)-1].Time.Add(-span - dropClearance)
	if !to.After(from) {
		return time.Time{}, false
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(h.Sum64(), 1))
	for range 200 {
		start := from.Add(time.Duration(rng.Int64N(int64(to.Sub(from))))).Truncate(time.Minute)
		end := start.Add(span)
		clear := true
		for _, w := range s.Windows {
			if start.Before(w.End.Add(dropClearance)) && end.After(w.Start.Add(-dropClearance)) {
				clear = false
				break
			}
		}
		if clear {
			return start, true
		}
	}
	return time.Time{}, false
}

// withDrop is a copy of s named name, its values in [start, start+span)
// multiplied by depth and the drop added to its windows and labels.
func withDrop(s *Series, name string, start time.Time, span time.Duration, depth float64) *Series {
	end := start.Add(span)
	c := &Series{Name: name, Rows: slices.Clone(s.Rows), Malformed: s.Malformed}
	for i, r := range c.Rows {
		if !r.Time.Before(start) && r.Time.Before(end) {
			c.Rows[i].Value = r.Value * depth
		}
	}
	c.Windows = append(slices.Clone(s.Windows), Window{Start: start, End: end.Add(dropTail)})
	slices.SortFunc(c.Windows, func(a, b Window) int { return a.Start.Compare(b.Start) })
	c.Labels = append(slices.Clone(s.Labels), start)
	slices.SortFunc(c.Labels, func(a, b time.Time) int { return a.Compare(b) })
	return c
}
