package nab

import (
	"fmt"
	"math"
	"time"
)

// HourBand is the same-hour-of-day band: a row is flagged when it lies
// more than Width robust spreads from the median of the rows of the same
// hour of the day (UTC) on the Days days before its own. The robust
// spread is 1.4826 times the median absolute deviation (the standard
// deviation for normal data); when more than half the rows share one
// value (a MAD of zero) it is 1.2533 times the mean absolute deviation
// (likewise), and with no deviation at all any other value is flagged.
// Fewer than MinRows rows of that hour flag nothing.
//
// Width 5 sets the band as wide, in spreads, as the z-score at 5, so the
// two differ in what they learn (the hour's usual level against the last
// day's mean) and in the robust spread, not in the bound.
type HourBand struct {
	Width   float64
	Days    int
	MinRows int
}

// Name is "hour-band>N".
func (h HourBand) Name() string { return fmt.Sprintf("hour-band>%g", h.Width) }

// Flags implements Baseline.
func (h HourBand) Flags(times []time.Time, values []float64, from int) []bool {
	flags := make([]bool, len(values))
	type slot struct {
		day  int64
		hour int
	}
	byHour := map[slot][]float64{}
	for i, t := range times {
		byHour[slot{dayOf(t), t.Hour()}] = append(byHour[slot{dayOf(t), t.Hour()}], values[i])
	}
	var same, dev []float64
	for i := max(from, 0); i < len(values); i++ {
		t := times[i]
		same = same[:0]
		for d := 1; d <= h.Days; d++ {
			same = append(same, byHour[slot{dayOf(t) - int64(d), t.Hour()}]...)
		}
		if len(same) < max(h.MinRows, 1) {
			continue
		}
		m := median(same)
		dev = dev[:0]
		meanDev := 0.0
		for _, v := range same {
			dev = append(dev, math.Abs(v-m))
			meanDev += math.Abs(v - m)
		}
		meanDev /= float64(len(same))
		spread := 1.4826 * median(dev)
		if spread == 0 {
			spread = 1.2533 * meanDev
		}
		d := math.Abs(values[i] - m)
		if spread == 0 {
			flags[i] = d > 0
		} else {
			flags[i] = d > h.Width*spread
		}
	}
	return flags
}

// dayOf numbers UTC days.
func dayOf(t time.Time) int64 { return t.Unix() / 86400 }
