package nab

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)

// rowsAt returns n rows 5 minutes apart from t0.
func rowsAt(n int) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = t0.Add(time.Duration(i) * 5 * time.Minute)
	}
	return out
}

// judgedSeries is 20 rows with one window over rows 10..14 (width 5),
// rows before from learned.
func judgedSeries(from int) *Judged {
	times := rowsAt(20)
	w := Window{Start: times[10], End: times[14]}
	return newJudged(times, make([]float64, 20), []Window{w}, []bool{false}, from, times[from], times[19].Add(5*time.Minute))
}

func flagRows(n int, rows ...int) []bool {
	f := make([]bool, n)
	for _, r := range rows {
		f[r] = true
	}
	return f
}

// The NAB figures below are worked by hand from NAB's sweeper:
// σs(x) = 2/(1+e^(5x)) - 1, σs(-1) = 0.9866143, a window's flagged row i
// scores σs(-(14-i+1)/5)/σs(-1), a false positive 0.11·σs(d) (d the
// distance past the window's end in widths-1) or -0.11 with no window
// before, a missed window -1.
func TestScoreNAB(t *testing.T) {
	for _, tc := range []struct {
		name       string
		from       int
		flags      []int
		raw        float64
		normalised float64
		found      bool
		delay      float64
	}{
		{name: "none: the null detector", flags: nil, raw: -1, normalised: 0},
		{name: "first row of the window: perfect", flags: []int{10}, raw: 1, normalised: 100, found: true, delay: 0},
		// σs(-0.2) = 2/(1+e^-1) - 1 = 0.4621172; /0.9866143 = 0.4683867.
		{name: "last row of the window", flags: []int{14}, raw: 0.4683867, normalised: 73.41934, found: true, delay: 20},
		{name: "earliest flag counts", flags: []int{12, 10, 14}, raw: 1, normalised: 100, found: true, delay: 0},
		// -1 (missed) - 0.11 (no window before).
		{name: "a false positive before the window", flags: []int{2}, raw: -1.11, normalised: -5.5},
		// 2 past the end of a window of width 5: d = 2/4, σs(0.5) =
		// 2/(1+e^2.5) - 1 = -0.8482836; 1 - 0.11·0.8482836 = 0.9066888.
		{name: "found, then a false positive after", flags: []int{10, 16}, raw: 0.9066888, normalised: 95.33444, found: true},
		// Row 11 is learned: the first judged flag is row 13,
		// σs(-0.4) = 2/(1+e^-2) - 1 = 0.7615942; /0.9866143 = 0.7719269.
		{name: "flags in the learned span are not scored", from: 12, flags: []int{11, 13}, raw: 0.7719269, normalised: 88.59635, found: true, delay: 15},
		{name: "window wholly learned: not judged", from: 15, flags: []int{12}, raw: 0, normalised: math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := judgedSeries(tc.from)
			o := j.Score(flagRows(20, tc.flags...))
			if math.Abs(o.NAB-tc.raw) > 1e-6 {
				t.Errorf("raw NAB score %.7f, want %.7f", o.NAB, tc.raw)
			}
			got := NormalisedNAB(o.NAB, o.NABNull, o.NABPerfect)
			if math.IsNaN(tc.normalised) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.normalised) > 1e-4) {
				t.Errorf("normalised NAB score %.5f, want %.5f", got, tc.normalised)
			}
			if math.IsNaN(tc.normalised) {
				if len(o.Windows) != 0 {
					t.Errorf("%d windows judged, want none", len(o.Windows))
				}
				return
			}
			if len(o.Windows) != 1 || o.Windows[0].Found != tc.found {
				t.Fatalf("windows %+v, want one, found=%v", o.Windows, tc.found)
			}
			if tc.found && o.Windows[0].DelayMinutes != tc.delay {
				t.Errorf("delay %.0f min, want %.0f", o.Windows[0].DelayMinutes, tc.delay)
			}
		})
	}
}

func TestFalseAlertsMerge(t *testing.T) {
	// 60 rows (5 h), a window over rows 50..55; judged from row 0.
	times := rowsAt(60)
	w := Window{Start: times[50], End: times[55]}
	for _, tc := range []struct {
		name  string
		flags []int
		want  int
		rows  int
	}{
		{name: "one flag", flags: []int{3}, want: 1, rows: 1},
		{name: "three in a row are one alert", flags: []int{0, 1, 2}, want: 1, rows: 3},
		{name: "25 minutes apart: one", flags: []int{0, 5}, want: 1, rows: 2},
		{name: "30 minutes apart: two", flags: []int{0, 6}, want: 2, rows: 2},
		{name: "a chain of gaps under 30 minutes is one alert", flags: []int{0, 5, 10, 15}, want: 1, rows: 4},
		{name: "flags inside the window are no false alert", flags: []int{50, 51, 55}, want: 0, rows: 0},
		{name: "a flag right after the window is", flags: []int{55, 56}, want: 1, rows: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := newJudged(times, make([]float64, 60), []Window{w}, []bool{false}, 0, times[0], times[59].Add(5*time.Minute))
			o := j.Score(flagRows(60, tc.flags...))
			if o.FalseAlerts != tc.want || o.FalseRows != tc.rows {
				t.Errorf("false alerts %d (rows %d), want %d (rows %d)", o.FalseAlerts, o.FalseRows, tc.want, tc.rows)
			}
		})
	}
}

func TestFalseAlertsByDay(t *testing.T) {
	// Three days of 5-minute rows, no window; judging from row 0.
	times := rowsAt(3 * 288)
	j := newJudged(times, make([]float64, len(times)), nil, nil, 0, times[0], times[len(times)-1].Add(5*time.Minute))
	o := j.Score(flagRows(len(times), 10, 20, 300, 600, 700))
	if want := []int{2, 1, 2}; len(o.FalseByDay) != 3 || o.FalseByDay[0] != want[0] || o.FalseByDay[1] != want[1] || o.FalseByDay[2] != want[2] {
		t.Errorf("false alerts by day %v, want %v", o.FalseByDay, want)
	}
	if d := j.Days(); d != 3 {
		t.Errorf("judged %.2f days, want 3", d)
	}
	if c := j.DayCoverage(3); c != 1 {
		t.Errorf("day 3 covered %.2f, want 1", c)
	}
	if c := j.DayCoverage(4); c != 0 {
		t.Errorf("day 4 covered %.2f, want 0", c)
	}
}

func TestClassifyDrops(t *testing.T) {
	// A daily shape (100 at 09:00-10:00, 10 otherwise) over four days;
	// windows on day 3 around 09:30 where the value is 40 (a drop against
	// the day before at that time, though above the day's median) and
	// around 03:00 where it is 50 (a rise).
	var s Series
	for i := 0; i < 4*288; i++ {
		tm := t0.Add(time.Duration(i) * 5 * time.Minute)
		v := 10.0
		if tm.Hour() == 9 {
			v = 100
		}
		s.Rows = append(s.Rows, Row{Time: tm, Value: v})
	}
	day3 := t0.Add(48 * time.Hour)
	set := func(at time.Time, v float64) {
		for i := range s.Rows {
			if s.Rows[i].Time.Equal(at) {
				s.Rows[i].Value = v
			}
		}
	}
	set(day3.Add(9*time.Hour+30*time.Minute), 40)
	set(day3.Add(3*time.Hour), 50)
	s.Windows = []Window{
		{Start: day3.Add(6 * time.Hour), End: day3.Add(12 * time.Hour)},
		{Start: day3.Add(1 * time.Hour), End: day3.Add(5 * time.Hour)},
	}
	s.Labels = []time.Time{day3.Add(3 * time.Hour), day3.Add(9*time.Hour + 30*time.Minute)}
	values := make([]float64, len(s.Rows))
	for i, r := range s.Rows {
		values[i] = r.Value
	}
	got := classify(&s, values)
	if !got[0] || got[1] {
		t.Errorf("drops %v, want [true false]", got)
	}
}

// TestTotalsByDay: two series judged 3 and 1.5 days with false alerts
// [2 1 4] and [1 3]; per series-day, day 1 has 3 alerts over 2 series,
// day 2 4 over 1.5 series-days, day 3 4 over 1; later days 8 over 2.5.
func TestTotalsByDay(t *testing.T) {
	series := func(days float64, byDay []int) SeriesResult {
		j := &Judged{JudgedFrom: t0, JudgedTo: t0.Add(time.Duration(days * 24 * float64(time.Hour)))}
		n := 0
		for _, x := range byDay {
			n += x
		}
		return SeriesResult{Days: j.Days(), Judged: j, Outcomes: map[string]Outcome{Ours: {FalseAlerts: n, FalseByDay: byDay}}}
	}
	r := &Report{Series: []SeriesResult{series(3, []int{2, 1, 4}), series(1.5, []int{1, 3})}}
	r.total()
	ours, _ := r.Total(Ours)
	want := []float64{1.5, 4 / 1.5, 4}
	if len(ours.FalsePerDayByDay) != 3 {
		t.Fatalf("by day %v, want %v", ours.FalsePerDayByDay, want)
	}
	for d := range want {
		if math.Abs(ours.FalsePerDayByDay[d]-want[d]) > 1e-9 {
			t.Errorf("day %d: %.3f per series-day, want %.3f", d+1, ours.FalsePerDayByDay[d], want[d])
		}
	}
	if ours.FirstDayPerDay != 1.5 || math.Abs(ours.LaterDaysPerDay-8/2.5) > 1e-9 {
		t.Errorf("first day %.3f, later %.3f; want 1.5, 3.2", ours.FirstDayPerDay, ours.LaterDaysPerDay)
	}
	if ours.FalseAlerts != 11 || math.Abs(ours.FalseAlertsPerDay-11/4.5) > 1e-9 {
		t.Errorf("%d false alerts, %.3f per series-day; want 11, %.3f", ours.FalseAlerts, ours.FalseAlertsPerDay, 11/4.5)
	}
}
