package nab

import (
	"testing"
	"time"
)

func TestZScore(t *testing.T) {
	// A day of 9, 11, 9, 11 ... (mean 10, sd 1.0017), then the judged rows.
	times := rowsAt(288 + 5)
	values := make([]float64, len(times))
	for i := range 288 {
		values[i] = 9 + 2*float64(i%2)
	}
	judged := []float64{10, 13, 14, 20, 4}
	copy(values[288:], judged)
	for _, tc := range []struct {
		z    ZScore
		want []bool
	}{
		// 13 is 2.995 sd from the mean, 14 is 3.99, 20 is 9.98, 4 is 5.99;
		// each row's own span also holds the rows judged before it, which
		// shifts the mean a little.
		{ZScore{Threshold: 3, Span: 24 * time.Hour, MinRows: 12}, []bool{false, false, true, true, true}},
		{ZScore{Threshold: 5, Span: 24 * time.Hour, MinRows: 12}, []bool{false, false, false, true, true}},
	} {
		t.Run(tc.z.Name(), func(t *testing.T) {
			got := tc.z.Flags(times, values, 288)
			for i := range 288 {
				if got[i] {
					t.Fatalf("row %d of the learned span flagged", i)
				}
			}
			for k, want := range tc.want {
				if got[288+k] != want {
					t.Errorf("value %g: flagged %v, want %v", judged[k], got[288+k], want)
				}
			}
		})
	}
	t.Run("no spread", func(t *testing.T) {
		flat := make([]float64, 300)
		for i := range flat {
			flat[i] = 45
		}
		flat[299] = 45.5
		got := ZScore{Threshold: 5, Span: 24 * time.Hour, MinRows: 12}.Flags(rowsAt(300), flat, 288)
		if got[298] || !got[299] {
			t.Errorf("flat series: the same value flagged %v, another value flagged %v; want false, true", got[298], got[299])
		}
	})
	t.Run("too few rows", func(t *testing.T) {
		got := ZScore{Threshold: 3, Span: 24 * time.Hour, MinRows: 12}.Flags(rowsAt(10), []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 100}, 1)
		if got[9] {
			t.Error("flagged with 9 rows of history, want nothing below 12")
		}
	})
}

func TestHourBand(t *testing.T) {
	// Three days: 100 from 12:00 to 13:00, 10 ± 1 otherwise. On the third
	// day, 100 at 12:30 is usual for the hour (a rolling z-score flags
	// it), 100 at 03:00 is not, nor 10 at 12:15 (a drop).
	times := rowsAt(3 * 288)
	values := make([]float64, len(times))
	for i, tm := range times {
		values[i] = 9 + 2*float64(i%2)
		if tm.Hour() == 12 {
			values[i] = 99 + 2*float64(i%2)
		}
	}
	day3 := 2 * 288
	at := func(h, m int) int { return day3 + h*12 + m/5 }
	values[at(3, 0)] = 100
	values[at(12, 15)] = 10
	band := HourBand{Width: 5, Days: 7, MinRows: 12}
	got := band.Flags(times, values, day3)
	want := map[int]bool{at(3, 0): true, at(12, 15): true}
	for i := day3; i < len(times); i++ {
		if got[i] != want[i] {
			t.Errorf("%s (%g): flagged %v, want %v", times[i].Format("15:04"), values[i], got[i], want[i])
		}
	}
	z := ZScore{Threshold: 3, Span: 24 * time.Hour, MinRows: 12}.Flags(times, values, day3)
	if !z[at(12, 30)] {
		t.Error("the z-score did not flag the usual 12:00 hour: the case does not tell the two apart")
	}
}

// TestHourBandHourly: the default band judges a series sampled once an
// hour (one sample of each hour a day) from its fifth day on: 100 at
// 03:00, where 10 ± 1 is usual, is flagged; the usual noon and night
// are not, and nothing is flagged while fewer than five days hold the
// hour.
func TestHourBandHourly(t *testing.T) {
	var band Baseline
	for _, b := range DefaultBaselines() {
		if _, ok := b.(HourBand); ok {
			band = b
		}
	}
	start := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)
	times := make([]time.Time, 6*24)
	values := make([]float64, len(times))
	for i := range times {
		times[i] = start.Add(time.Duration(i) * time.Hour)
		values[i] = 9 + 2*float64(i/24%2)
		if times[i].Hour() == 12 {
			values[i] = 99 + 2*float64(i/24%2)
		}
	}
	values[3*24+4], values[5*24+3] = 100, 100 // 04:00 on the fourth day, 03:00 on the sixth
	got := band.Flags(times, values, 2*24)
	for i := 2 * 24; i < len(times); i++ {
		if want := i == 5*24+3; got[i] != want {
			t.Errorf("%s (%g): flagged %v, want %v", times[i].Format("Jan 2 15:04"), values[i], got[i], want)
		}
	}
}

// TestZScoreNewOver: with NewOver, a value the z-score flags stays flagged
// only when it lies beyond everything of the span before, on its side.
func TestZScoreNewOver(t *testing.T) {
	// Two days of 9, 11, 9, 11 ... with one 30 and one 2 on the first.
	times := rowsAt(576 + 4)
	values := make([]float64, len(times))
	for i := range 576 {
		values[i] = 9 + 2*float64(i%2)
	}
	values[100], values[200] = 30, 2
	judged := []float64{25, 31, 3, 1}
	copy(values[576:], judged)
	z := ZScore{Threshold: 3, Span: 24 * time.Hour, MinRows: 12, NewOver: 48 * time.Hour}
	if z.Name() != "zscore>3,new48h" {
		t.Errorf("name %q", z.Name())
	}
	plain := ZScore{Threshold: 3, Span: 24 * time.Hour, MinRows: 12}.Flags(times, values, 576)
	got := z.Flags(times, values, 576)
	for k, want := range []bool{false, true, false, true} {
		if !plain[576+k] {
			t.Fatalf("value %g: the plain z-score does not flag it; the case shows nothing", judged[k])
		}
		if got[576+k] != want {
			t.Errorf("value %g (30 and 2 seen a day and a half before): flagged %v, want %v", judged[k], got[576+k], want)
		}
	}
}
