package model

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestSeasonalSeenDays: a key that spikes every other day, each time at
// another hour, has its spikes counted on the days they came, noted (kept
// out of the baseline) as a detector notes what it alerted on. A spike
// no larger counts the days within the week before the day judged; a
// larger one, a fall, or a spike judged after the week has passed counts
// none.
func TestSeasonalSeenDays(t *testing.T) {
	const spike = 1e6
	spikes := map[time.Time]bool{
		monday.Add(5*24*time.Hour + 3*time.Hour + 10*time.Minute):  true,
		monday.Add(7*24*time.Hour + 14*time.Hour + 20*time.Minute): true,
		monday.Add(9*24*time.Hour + 20*time.Hour + 40*time.Minute): true,
	}
	// learn returns the model of the days up to at.
	learn := func(at time.Time) *Seasonal {
		s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
		rng := rand.New(rand.NewPCG(31, 32))
		for tt := monday; tt.Before(at); tt = tt.Add(bucket) {
			if spikes[tt] {
				s.Note("k", tt, spike)
				continue
			}
			s.Observe("k", tt, 1000*(0.9+0.2*rng.Float64()))
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		day   int
		value float64
		want  int
	}{
		{"the same spike at an hour it never hit, two days after the last", 11, spike, 3},
		{"a smaller spike", 11, spike / 10, 3},
		{"a spike a hundred times larger", 11, 100 * spike, 0},
		{"a fall: no day fell", 11, 10, 0},
		{"the week before day 14 holds days 7 and 9", 14, spike, 2},
		{"the week before day 17 holds none", 17, spike, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := monday.Add(time.Duration(tc.day)*24*time.Hour + 10*time.Hour)
			s := learn(at)
			z, _, ok := s.Deviation("k", at, tc.value)
			if !ok {
				t.Fatalf("no baseline at %s", at)
			}
			if got := s.SeenDays("k", at, z); got != tc.want {
				t.Fatalf("value %g (%+.1f spreads) on day %d: seen on %d days, want %d", tc.value, z, tc.day, got, tc.want)
			}
		})
	}
	if n := learn(monday.Add(11*24*time.Hour)).SeenDays("missing", monday.Add(11*24*time.Hour), 9); n != 0 {
		t.Fatalf("a key never seen: %d days", n)
	}
	if n := NewSeasonal(SeasonalConfig{Bucket: bucket, WithoutRecent: true}).SeenDays("k", monday, 9); n != 0 {
		t.Fatalf("a model without recent extremes: %d days", n)
	}
}

// TestSeasonalSeenDaysFalls: a key that drops to almost nothing every
// other day counts those days for a fall as deep, and none for a rise.
func TestSeasonalSeenDaysFalls(t *testing.T) {
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
	rng := rand.New(rand.NewPCG(33, 34))
	at := monday.Add(11*24*time.Hour + 3*time.Hour)
	for tt := monday; tt.Before(at); tt = tt.Add(bucket) {
		day, h := int(tt.Sub(monday)/(24*time.Hour)), tt.Hour()
		if day%2 == 0 && day > 2 && h == 6+day && tt.Minute() == 0 {
			s.Note("k", tt, 2)
			continue
		}
		s.Observe("k", tt, 1000*(0.9+0.2*rng.Float64()))
	}
	fall, _, _ := s.Deviation("k", at, 2)
	rise, _, _ := s.Deviation("k", at, 5e5)
	if fall >= -5 || rise <= 5 {
		t.Fatalf("deviations %+.1f and %+.1f, want beyond 5 spreads each way", fall, rise)
	}
	if n := s.SeenDays("k", at, fall); n != 4 {
		t.Fatalf("a fall to 2 (%+.1f spreads): seen on %d days, want 4 (days 4, 6, 8 and 10)", fall, n)
	}
	if n := s.SeenDays("k", at, rise); n != 0 {
		t.Fatalf("a rise (%+.1f spreads): seen on %d days, want 0", rise, n)
	}
}

// TestSeasonalSeenAtAQuietHour: a sparse key whose spike wanders across
// the day (every 8 h 20 min, a pair of windows each time), learned for two
// days as a new install learns its history, has learned part of the spike
// into the hours it hit (an hour known on two days expects the mean of
// both), so the same spike lies fewer of their spreads out than at an
// hour it never hit. Measured against the hour judged, the same
// value at an hour as quiet is seen; a value that only a busier hour
// reached is not.
func TestSeasonalSeenAtAQuietHour(t *testing.T) {
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
	const spike = 1.3e5
	end := monday.Add(2 * 24 * time.Hour)
	for at := monday; at.Before(end); at = at.Add(bucket) {
		v := 0.0
		if m := at.Sub(monday) % (500 * time.Minute); m == 0 || m == 30*time.Minute {
			v = spike
		}
		s.Observe("k", at, v)
	}
	// The quietest hour of the next day that the spike has not hit.
	var at time.Time
	best := 0.0
	for h := range 24 {
		tt := end.Add(time.Duration(h)*time.Hour + 20*time.Minute)
		if z, _, ok := s.Deviation("k", tt, spike); ok && z > best {
			at, best = tt, z
		}
	}
	k := s.find("k")
	if best < 5 {
		t.Fatalf("the spike at its quietest hour is %+.1f spreads, want beyond 5", best)
	}
	if s.seenBy(k, at, best, false, heldRange{0, -1}) {
		t.Fatalf("at %s the spike (%+.1f spreads) lay as many spreads out at the hours it hit: the test shows nothing", at.Format("15:04"), best)
	}
	if !s.Seen("k", at, best) {
		t.Fatalf("at %s the same spike (%+.1f spreads) is not seen, though the last 48 hours held it at hours as quiet", at.Format("15:04"), best)
	}

	// A daily shape: quiet nights, a busy noon. The noon level at night
	// was reached only at busier hours.
	d := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
	rng := rand.New(rand.NewPCG(35, 36))
	level := dailyShape(11, 14, 1e5, 100)
	for tt := monday; tt.Before(end); tt = tt.Add(bucket) {
		d.Observe("k", tt, level(tt)*(0.9+0.2*rng.Float64()))
	}
	night := end.Add(3*time.Hour + 10*time.Minute)
	z, _, ok := d.Deviation("k", night, 1e5)
	if !ok || z < 5 {
		t.Fatalf("the noon level at night: %+.1f spreads (%v), want beyond 5", z, ok)
	}
	if d.Seen("k", night, z) {
		t.Fatalf("the noon level at night (%+.1f spreads) is seen: only busier hours reached it", z)
	}
}

// TestSeasonalHourSeenAtANewLevel: a key sampled once an hour (each value
// held for the hour's twelve windows, each hour's usual level a little
// different) steps up by two thirds: too little for a window, not for an
// hour's mean. The second hour at the new level has the first's mean, at
// an hour as quiet, though against the first hour's own baseline (a
// little higher) that mean lay a little nearer: the change is one
// episode. A second hour higher still is news.
func TestSeasonalHourSeenAtANewLevel(t *testing.T) {
	usual := func(tt time.Time) float64 { return 26 * (1 - 0.03*math.Sin(float64(tt.Hour()))) }
	step := monday.Add(8 * 24 * time.Hour)
	judged := step.Add(time.Hour + 55*time.Minute) // the last window of the step's second hour
	for _, tc := range []struct {
		name  string
		level float64 // of the second hour
		seen  bool
	}{
		{"the same level a second hour", 44, true},
		{"a level higher still", 60, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
			for tt := monday; tt.Before(judged); tt = tt.Add(bucket) {
				switch {
				case tt.Before(step):
					s.Observe("k", tt, usual(tt))
				case tt.Before(step.Add(time.Hour)):
					s.Observe("k", tt, 44)
				default:
					s.Observe("k", tt, tc.level)
				}
			}
			z, _, n, ok := s.HourDeviation("k", judged, tc.level)
			if !ok || z < s.Threshold() {
				t.Fatalf("the second hour's mean at %g: %+.1f spreads (%v), want past the threshold %.1f", tc.level, z, ok, s.Threshold())
			}
			if got := s.HourSeen("k", judged, z, n); got != tc.seen {
				t.Fatalf("the second hour's mean at %g (%+.1f spreads): seen %v, want %v", tc.level, z, got, tc.seen)
			}
			if tc.seen && s.hourSeenBy(s.find("k"), judged, z, n, false) {
				t.Fatalf("the hour's mean at %g (%+.1f spreads) lay as far out by the first hour's own baseline: the test shows nothing", tc.level, z)
			}
		})
	}
}

// TestSeasonalSeenNotANewHigh: a key with quiet nights and busy days that
// spikes a hundredfold every night. At noon, a rise as many spreads out
// as the nightly spike is known behaviour only while its value is one the
// last 48 hours reached: five times the highest night is a new high, and
// news, though it lies no farther out in spreads than the nights' spikes did. A
// value within the noise floor of the highest is the same value. The
// days of the week count the same way.
func TestSeasonalSeenNotANewHigh(t *testing.T) {
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
	rng := rand.New(rand.NewPCG(37, 38))
	level := dailyShape(9, 18, 1000, 100)
	const spike = 1e4
	end := monday.Add(4 * 24 * time.Hour)
	for tt := monday; tt.Before(end); tt = tt.Add(bucket) {
		if tt.Hour() == 3 && tt.Minute() < 10 {
			s.Note("k", tt, spike)
			continue
		}
		s.Observe("k", tt, level(tt)*(0.8+0.4*rng.Float64()))
	}
	night, noon := end.Add(-21*time.Hour+5*time.Minute), end.Add(12*time.Hour+10*time.Minute)
	zNight, _, ok := s.Deviation("k", night, spike)
	if !ok || zNight < 5 {
		t.Fatalf("the nightly spike: %+.1f spreads (%v), want beyond 5", zNight, ok)
	}
	for _, tc := range []struct {
		name  string
		value float64
		seen  bool
	}{
		{"the nightly spike's value", spike, true},
		{"within the noise floor of it", 1.03 * spike, true},
		{"five times the highest night", 5 * spike, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z, _, ok := s.Deviation("k", noon, tc.value)
			if !ok || z <= 0 || z > zNight {
				t.Fatalf("%g at noon: %+.1f spreads (%v), want a rise no farther out than the nights' %+.1f", tc.value, z, ok, zNight)
			}
			if got := s.Seen("k", noon, z); got != tc.seen {
				t.Fatalf("%g at noon (%+.1f spreads): seen %v, want %v", tc.value, z, got, tc.seen)
			}
			want := 0
			if tc.seen {
				want = 2 // days 2 and 3: the first two nights came before a baseline
			}
			if got := s.SeenDays("k", noon, z); got != want {
				t.Fatalf("%g at noon (%+.1f spreads): seen on %d days, want %d", tc.value, z, got, want)
			}
		})
	}
}

// TestSeasonalSeenExcept: a steady key falls silent at five to the hour,
// its silent windows noted as a detector notes what lies beyond its
// threshold, and the first two held back as a fall is before it alerts.
// Ten minutes into the next hour the silence is seen, but only by its own
// held windows: without them it is news. The same silence a day earlier
// is evidence, held windows or not.
func TestSeasonalSeenExcept(t *testing.T) {
	for _, tc := range []struct {
		name    string
		earlier bool // the key fell silent a day before too
		want    bool
	}{
		{"a first silence", false, false},
		{"a silence seen the day before", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
			rng := rand.New(rand.NewPCG(39, 40))
			began := monday.Add(4*24*time.Hour + 2*time.Hour + 55*time.Minute)
			at := began.Add(15 * time.Minute)
			for tt := monday; !tt.After(at); tt = tt.Add(bucket) {
				if !tt.Before(began) || tc.earlier && !tt.Before(began.Add(-24*time.Hour)) && tt.Before(began.Add(-23*time.Hour)) {
					s.Note("k", tt, 0)
					continue
				}
				s.Observe("k", tt, 1000*(0.9+0.2*rng.Float64()))
			}
			z, _, ok := s.Deviation("k", at, 0)
			if !ok || z > -5 {
				t.Fatalf("silence: %+.1f spreads (%v), want beyond -5", z, ok)
			}
			if !s.Seen("k", at, z) {
				t.Fatalf("the silence (%+.1f spreads) is not seen by its held windows: the test shows nothing", z)
			}
			if got := s.SeenExcept("k", at, z, began, began.Add(2*bucket)); got != tc.want {
				t.Fatalf("the silence (%+.1f spreads), its held windows not counted: seen %v, want %v", z, got, tc.want)
			}
		})
	}
}

// dailyShape is a level of busy from hour from up to hour to (UTC) and
// quiet the rest of the day.
func dailyShape(from, to int, busy, quiet float64) func(time.Time) float64 {
	return func(t time.Time) float64 {
		if h := t.Hour(); h >= from && h < to {
			return busy
		}
		return quiet
	}
}

// TestSeasonalSeenWithinTheNoiseFloor: a nightly job's spike, noted each
// night as a detector notes what it alerted on, comes back at its hour a
// little larger than any night before, within the noise floor of the
// highest: it lies a little farther out in spreads than the nights did,
// and it is the same job, seen in the last 48 hours and on the days of
// the week. A spike well beyond the floor is still news.
func TestSeasonalSeenWithinTheNoiseFloor(t *testing.T) {
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
	rng := rand.New(rand.NewPCG(39, 40))
	const spike = 1e4
	end := monday.Add(5*24*time.Hour + 3*time.Hour)
	for tt := monday; tt.Before(end); tt = tt.Add(bucket) {
		if tt.Hour() == 3 && tt.Minute() < 10 {
			s.Note("k", tt, spike)
			continue
		}
		s.Observe("k", tt, 1000*(0.9+0.2*rng.Float64()))
	}
	for _, tc := range []struct {
		name  string
		value float64
		seen  bool
	}{
		{"the nightly spike's value", spike, true},
		{"within the noise floor above it", 1.03 * spike, true},
		{"a third above it", 1.33 * spike, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z, _, ok := s.Deviation("k", end, tc.value)
			if !ok || z < 5 {
				t.Fatalf("%g at the job's hour: %+.1f spreads (%v), want beyond 5", tc.value, z, ok)
			}
			if got := s.Seen("k", end, z); got != tc.seen {
				t.Fatalf("%g at the job's hour (%+.1f spreads): seen %v, want %v", tc.value, z, got, tc.seen)
			}
			if got := s.SeenDays("k", end, z) >= 2; got != tc.seen {
				t.Fatalf("%g at the job's hour (%+.1f spreads): seen on %d days, want two or more: %v", tc.value, z, s.SeenDays("k", end, z), tc.seen)
			}
		})
	}
}
