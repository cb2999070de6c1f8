package nab

import (
	"math"
	"time"
)

// MergeGap is how close two alerts must be to count once: an alert less
// than MergeGap after the one before continues it.
const MergeGap = 30 * time.Minute

// NAB's standard application profile (config/profiles.json): the weight
// of a window found at its very start, of a false positive, of a window
// missed.
const (
	NABTPWeight = 1.0
	NABFPWeight = 0.11
	NABFNWeight = 1.0
)

// Judged is a series ready to be scored: its rows, windows and the first
// row judged (the rows before it were learned).
type Judged struct {
	Times   []time.Time
	Values  []float64
	Windows []Window
	// Drops says, per window, whether it is a fall (see classify).
	Drops []bool
	// From is the index of the first judged row; JudgedFrom its time (the
	// start of the first judged engine window).
	From       int
	JudgedFrom time.Time
	// JudgedTo is the end of the judged span.
	JudgedTo time.Time
	// windowRows holds, per window, the first and last row inside it
	// (-1, -1 when none).
	windowRows [][2]int
}

// newJudged indexes the windows' rows.
func newJudged(times []time.Time, values []float64, windows []Window, drops []bool, from int, judgedFrom, judgedTo time.Time) *Judged {
	j := &Judged{Times: times, Values: values, Windows: windows, Drops: drops, From: from, JudgedFrom: judgedFrom, JudgedTo: judgedTo}
	for _, w := range windows {
		lo, hi := -1, -1
		for i, t := range times {
			if w.Contains(t) {
				if lo < 0 {
					lo = i
				}
				hi = i
			}
		}
		j.windowRows = append(j.windowRows, [2]int{lo, hi})
	}
	return j
}

// judgedWindow reports whether window k has a judged row.
func (j *Judged) judgedWindow(k int) bool { return j.windowRows[k][1] >= j.From }

// inWindow reports whether row i lies in a window.
func (j *Judged) inWindow(i int) bool {
	for _, r := range j.windowRows {
		if r[0] >= 0 && i >= r[0] && i <= r[1] {
			return true
		}
	}
	return false
}

// Days is the judged span in days.
func (j *Judged) Days() float64 { return j.JudgedTo.Sub(j.JudgedFrom).Hours() / 24 }

// DayCoverage is how much of judged day d (1 is the first) the series
// covers, 0 to 1.
func (j *Judged) DayCoverage(d int) float64 {
	rest := j.Days() - float64(d-1)
	return math.Max(0, math.Min(1, rest))
}

// Outcome is how one detector (or baseline, or set of detectors) did on
// one series.
type Outcome struct {
	// Windows has one entry per window with a judged row.
	Windows []WindowOutcome `json:"windows"`
	// FalseAlerts counts alerts outside every window, flags less than
	// MergeGap apart counting once; FalseByDay the same by judged day
	// (index 0 is the first day), by the day of the alert's first flag.
	FalseAlerts int   `json:"false_alerts"`
	FalseByDay  []int `json:"false_by_day"`
	// FalseRows counts the flagged rows outside every window.
	FalseRows int `json:"false_rows"`
	// NAB is NAB's raw standard-profile score; NABNull and NABPerfect the
	// null and the perfect detector's on the same windows.
	NAB        float64 `json:"nab_raw"`
	NABNull    float64 `json:"nab_null"`
	NABPerfect float64 `json:"nab_perfect"`
}

// WindowOutcome is one labelled window's result.
type WindowOutcome struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Drop  bool      `json:"drop"`
	Found bool      `json:"found"`
	// DelayMinutes is from the window's start to the first flag in it.
	DelayMinutes float64 `json:"delay_minutes,omitempty"`
}

// Score scores flags (one per row; rows before j.From are ignored).
func (j *Judged) Score(flags []bool) Outcome {
	var o Outcome
	for k, w := range j.Windows {
		if !j.judgedWindow(k) {
			continue
		}
		wo := WindowOutcome{Start: w.Start, End: w.End, Drop: j.Drops[k]}
		for i := max(j.windowRows[k][0], j.From); i <= j.windowRows[k][1]; i++ {
			if flags[i] {
				wo.Found = true
				wo.DelayMinutes = j.Times[i].Sub(w.Start).Minutes()
				break
			}
		}
		o.Windows = append(o.Windows, wo)
	}
	var last time.Time
	for i := j.From; i < len(flags); i++ {
		if !flags[i] || j.inWindow(i) {
			continue
		}
		o.FalseRows++
		t := j.Times[i]
		if last.IsZero() || t.Sub(last) >= MergeGap {
			o.FalseAlerts++
			day := int(t.Sub(j.JudgedFrom) / (24 * time.Hour))
			for len(o.FalseByDay) <= day {
				o.FalseByDay = append(o.FalseByDay, 0)
			}
			o.FalseByDay[day]++
		}
		last = t
	}
	o.NAB, o.NABNull, o.NABPerfect = j.nabScore(flags)
	return o
}

// nabScore is NAB's scoring (nab/sweeper.py at NAB's ea702d75) of
// binary detections under the standard profile, with the learned rows as
// the probationary period: a window scores the best of its flagged rows,
// A_TP·σs(p)/σs(-1) where p = -(right - i + 1)/width is the row's place
// in the window (1 at its first row, near 0 at its last), or -A_FN when
// none is flagged; every flagged row outside the windows scores
// A_FP·σs(d), d being its distance past the end of the window before in
// window widths (-A_FP with no window before). σs(x) = 2/(1+e^(5x)) - 1,
// and -1 beyond x = 3. The null detector scores -A_FN per window, the
// perfect +A_TP.
func (j *Judged) nabScore(flags []bool) (raw, null, perfect float64) {
	maxTP := scaledSigmoid(-1)
	best := map[int]float64{}
	prevRight, prevWidth := -1, 0
	for i := range flags {
		k := -1
		for w, r := range j.windowRows {
			if r[0] >= 0 && i >= r[0] && i <= r[1] {
				k = w
				break
			}
		}
		if k >= 0 {
			r := j.windowRows[k]
			if i >= j.From && flags[i] {
				width := float64(r[1] - r[0] + 1)
				s := scaledSigmoid(-float64(r[1]-i+1)/width) * NABTPWeight / maxTP
				if cur, ok := best[k]; !ok || s > cur {
					best[k] = s
				}
			}
			if i == r[1] {
				prevRight, prevWidth = r[1], r[1]-r[0]+1
			}
			continue
		}
		if i < j.From || !flags[i] {
			continue
		}
		s := -1.0
		if prevRight >= 0 && prevWidth > 1 {
			s = scaledSigmoid(float64(i-prevRight) / float64(prevWidth-1))
		}
		raw += s * NABFPWeight
	}
	for k := range j.Windows {
		if !j.judgedWindow(k) {
			continue
		}
		null -= NABFNWeight
		perfect += NABTPWeight
		if s, ok := best[k]; ok {
			raw += s
		} else {
			raw -= NABFNWeight
		}
	}
	return raw, null, perfect
}

// scaledSigmoid is NAB's scaled sigmoid of a relative position.
func scaledSigmoid(x float64) float64 {
	if x > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*x)) - 1
}

// NormalisedNAB is NAB's normalised score, 100·(raw-null)/(perfect-null):
// 0 for the null detector, 100 for the perfect one; NaN with no window.
func NormalisedNAB(raw, null, perfect float64) float64 {
	if perfect == null {
		return math.NaN()
	}
	return 100 * (raw - null) / (perfect - null)
}
