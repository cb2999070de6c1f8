package engine

import (
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// schedule is one detector's period, as a Calico GlobalAlert's spec.period
// sets it: how often detection runs. Every window is still read (the
// reads are shared between detectors), but a detector with a period
// longer than the search interval judges only at the window that ends on a
// whole period of the wall clock (as Calico's buckets align to it), then
// judges every window since its last run, in order, so nothing in the
// period goes unseen. Until its next run its last verdicts stand: they are
// delivered again with each window, so its alerts keep firing and its
// events (whose ids name their own window) are not written twice. A
// detector still learning learns every window. Windows waiting for a run
// are held in memory only: a restart loses them for that detector.
type schedule struct {
	period  time.Duration // 0: every window
	pending []pendingWindow
	held    []detect.Verdict
}

// pendingWindow is a window read and not yet judged by its detector.
type pendingWindow struct {
	w    source.Window
	rows [][]source.Row
	took time.Duration
}

func schedulesOf(detectors []detect.Detector, periods map[string]time.Duration, interval time.Duration) []schedule {
	out := make([]schedule, len(detectors))
	for i, d := range detectors {
		if p := periods[d.Name()]; p > interval {
			out[i].period = p
		}
	}
	return out
}

// due reports whether the detector runs at window w: a period boundary
// falls in (w.Start, w.End].
func (s *schedule) due(w source.Window) bool {
	if s.period <= 0 {
		return true
	}
	p := int64(s.period / time.Second)
	return floorDivSeconds(w.End.Unix(), p) > floorDivSeconds(w.Start.Unix(), p)
}

func floorDivSeconds(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
