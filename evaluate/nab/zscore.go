package nab

import (
	"fmt"
	"math"
	"time"
)

// Baseline is a simple yardstick judged beside the detectors: it flags
// rows of a series from the values alone.
type Baseline interface {
	Name() string
	// Flags returns, for each row from the row index from on, whether
	// the baseline flags it; rows before from are history only.
	Flags(times []time.Time, values []float64, from int) []bool
}

// ZScore is the rolling z-score: a row is flagged when it lies more than
// Threshold standard deviations (sample standard deviation) from the mean
// of the rows of the Span before it. A span with no spread flags any
// value that differs from its mean. Fewer than MinRows rows in the span
// flag nothing.
//
// With NewOver set, a flagged row stays flagged only when its value lies
// beyond every value of the NewOver before it on the same side (above the
// highest for a rise, below the lowest for a fall): what the series showed
// in the last days is its behaviour, the rule the detectors' "only what is
// new alerts" follows, here on the plain z-score.
type ZScore struct {
	Threshold float64
	Span      time.Duration
	MinRows   int
	NewOver   time.Duration
}

// Name is "zscore>N", or "zscore>N,new<hours>h" with NewOver.
func (z ZScore) Name() string {
	if z.NewOver > 0 {
		return fmt.Sprintf("zscore>%g,new%gh", z.Threshold, z.NewOver.Hours())
	}
	return fmt.Sprintf("zscore>%g", z.Threshold)
}

// Flags implements Baseline.
func (z ZScore) Flags(times []time.Time, values []float64, from int) []bool {
	flags := make([]bool, len(values))
	lo := 0
	for i := max(from, 0); i < len(values); i++ {
		for lo < i && times[i].Sub(times[lo]) > z.Span {
			lo++
		}
		// The span is rows lo..i-1: times [t-Span, t).
		n := i - lo
		if n < max(z.MinRows, 2) {
			continue
		}
		m := mean(values[lo:i])
		ss := 0.0
		for _, v := range values[lo:i] {
			ss += (v - m) * (v - m)
		}
		sd := math.Sqrt(ss / float64(n-1))
		d := math.Abs(values[i] - m)
		switch {
		case sd == 0:
			flags[i] = d > 0
		default:
			flags[i] = d/sd > z.Threshold
		}
		if flags[i] && z.NewOver > 0 {
			flags[i] = z.beyondRecent(times, values, i, values[i] > m)
		}
	}
	return flags
}

// beyondRecent reports whether row i's value lies above (rise) or below
// every value of the NewOver before it.
func (z ZScore) beyondRecent(times []time.Time, values []float64, i int, rise bool) bool {
	for j := i - 1; j >= 0 && times[i].Sub(times[j]) <= z.NewOver; j-- {
		if rise && values[j] >= values[i] || !rise && values[j] <= values[i] {
			return false
		}
	}
	return true
}
