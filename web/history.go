// Package web owns the exporter's own pages: the status page at / (the
// detectors, the current anomalies with a chart of each one's recent
// scores) and /anomaly (one anomaly in full). Pages are rendered on the
// server with html/template, which escapes every value that came from
// logs, and need no external script, style sheet or font.
package web

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Key identifies one scored series: a detector's verdicts on one entity.
type Key struct {
	Detector string
	detect.Entity
}

// Point is one window's verdict on a Key.
type Point struct {
	WindowEnd          time.Time
	Score, Threshold   float64
	Observed, Expected float64
	Unit               string // of Observed and Expected, when the verdict gave one
}

// History keeps the recent points of every scored series, as an
// engine.Sink: the last Length windows of each, forgetting a series Length
// windows after its last verdict, and tracking at most MaxSeries series
// (new ones beyond that are counted in Dropped, not kept).
type History struct {
	length    int
	maxSeries int

	mu      sync.RWMutex
	series  map[Key]*ring
	windows int       // distinct windows delivered: the newest window's number
	newest  time.Time // end of the newest window delivered
	dropped uint64
	// recent holds each series' newest anomalous verdict, kept for
	// recentWindows windows after it.
	recent map[Key]recentVerdict
}

type recentVerdict struct {
	v      detect.Verdict
	window int // window number of the verdict
}

// recentWindows is how long an anomaly stays listed after its window.
const recentWindows = 12

type ring struct {
	points   []Point // oldest first, at most length
	lastSeen int     // window number of the newest point
}

// NewHistory keeps length points per series and at most maxSeries series.
func NewHistory(length, maxSeries int) *History {
	if length <= 0 {
		length = 48
	}
	if maxSeries <= 0 {
		maxSeries = 50000
	}
	return &History{length: length, maxSeries: maxSeries, series: map[Key]*ring{}, recent: map[Key]recentVerdict{}}
}

// Deliver records a window's verdicts. The engines of several clusters may
// share one history: a window counts once however many clusters deliver
// it, so series are kept and forgotten after the same number of windows
// as with one cluster (a cluster catching up on older windows adds points
// without counting windows).
func (h *History) Deliver(_ context.Context, w source.Window, verdicts []detect.Verdict) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.windows == 0 || w.End.After(h.newest) {
		h.windows++
		h.newest = w.End
	}
	for k, r := range h.recent {
		if h.windows-r.window >= recentWindows {
			delete(h.recent, k)
		}
	}
	// Visit the highest scores first, so that when the series bound is
	// reached the series refused are the least anomalous ones.
	order := make([]int, len(verdicts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return verdicts[order[i]].Score > verdicts[order[j]].Score })
	for _, i := range order {
		v := verdicts[i]
		k := Key{Detector: v.Detector, Entity: v.Entity}
		if v.Anomalous() {
			// An anomaly is listed even when its series is refused; the
			// list itself holds at most maxSeries anomalies.
			if _, listed := h.recent[k]; listed || len(h.recent) < h.maxSeries {
				h.recent[k] = recentVerdict{v: v, window: h.windows}
			}
		}
		r, ok := h.series[k]
		if !ok {
			if len(h.series) >= h.maxSeries {
				h.dropped++
				continue
			}
			r = &ring{points: make([]Point, 0, 4)}
			h.series[k] = r
		}
		p := Point{WindowEnd: w.End, Score: v.Score, Threshold: v.Threshold, Observed: v.Observed, Expected: v.Expected, Unit: v.Unit}
		if len(r.points) == h.length {
			copy(r.points, r.points[1:])
			r.points[len(r.points)-1] = p
		} else {
			r.points = append(r.points, p)
		}
		r.lastSeen = h.windows
	}
	for k, r := range h.series {
		if h.windows-r.lastSeen >= h.length {
			delete(h.series, k)
		}
	}
}

// Points returns a copy of a series' recent points, oldest first.
func (h *History) Points(k Key) []Point {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r, ok := h.series[k]
	if !ok {
		return nil
	}
	return append([]Point(nil), r.points...)
}

// Anomaly is an anomalous verdict of one of the recent windows.
type Anomaly struct {
	detect.Verdict
	// Now is true when the verdict is of the latest window.
	Now bool
}

// Anomalies returns the newest anomalous verdict of every series that had
// one in the last recentWindows windows: those of the latest window first,
// then by score.
func (h *History) Anomalies() []Anomaly {
	h.mu.RLock()
	out := make([]Anomaly, 0, len(h.recent))
	for _, r := range h.recent {
		out = append(out, Anomaly{Verdict: r.v, Now: r.window == h.windows})
	}
	h.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Now != b.Now {
			return a.Now
		}
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		if !a.Window.End.Equal(b.Window.End) {
			return a.Window.End.After(b.Window.End)
		}
		return a.Detector+"\x00"+a.Entity.Cluster+"\x00"+a.Entity.Namespace+"\x00"+a.Entity.Workload < b.Detector+"\x00"+b.Entity.Cluster+"\x00"+b.Entity.Namespace+"\x00"+b.Entity.Workload
	})
	return out
}

// Anomaly returns the newest recent anomalous verdict on k.
func (h *History) Anomaly(k Key) (Anomaly, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r, ok := h.recent[k]
	return Anomaly{Verdict: r.v, Now: ok && r.window == h.windows}, ok
}

// Dropped counts series not kept because of the series bound.
func (h *History) Dropped() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.dropped
}
