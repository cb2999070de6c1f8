package model

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestSeasonalLearnsAWeekend: a key 1.8 times busier at weekends, judged
// and learned as a detector does (values beyond the threshold noted, not
// learned; Track following departures), alerts on its first weekend and
// the Monday after, and from the Tuesday after on judges every window,
// weekends and Mondays included, within the threshold, with no level
// change: the first weekend's hours, learned or only noted, are kept as
// they were when the level moves back on Monday, so the same hours a
// week later find them.
func TestSeasonalLearnsAWeekend(t *testing.T) {
	const threshold = 5.2
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true, LevelShiftAfter: 6 * time.Hour})
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2014, 9, 1, 0, 0, 0, 0, time.UTC) // a Monday
	secondWeek := start.Add(8 * 24 * time.Hour)          // from the Tuesday after the first weekend
	firstWeekAlerts, shifts := 0, 0
	for at := start; at.Before(start.Add(22 * 24 * time.Hour)); at = at.Add(bucket) {
		level := 1e5
		if wd := at.Weekday(); wd == time.Saturday || wd == time.Sunday {
			level = 1.8e5
		}
		v := level * math.Exp(0.06*r.NormFloat64())
		z, _, ok := s.Deviation("k", at, v)
		shifted, _, _ := s.Track("k", at, v, z, threshold)
		if !ok || math.Abs(z) < threshold || shifted {
			s.Observe("k", at, v)
		} else {
			s.Note("k", at, v)
		}
		switch {
		case at.Before(secondWeek):
			if ok && math.Abs(z) >= threshold {
				firstWeekAlerts++
			}
		case math.Abs(z) >= threshold:
			t.Fatalf("%s: %+.1f spreads, a weekend already seen a week before", at.Format("Mon 01-02 15:04"), z)
		case shifted:
			shifts++
		}
	}
	if firstWeekAlerts == 0 {
		t.Error("the first weekend, never seen before, did not depart")
	}
	if shifts > 0 {
		t.Errorf("%d level changes after the first week, want none", shifts)
	}
}

// TestSeasonalNotedHourHeldApart: an hour whose every value was noted as
// anomalous leaves the days' median and spreads of that hour as they
// were without it, and a week later is last week's same hour to the
// weekly override, so the same hour then lies within the threshold, in a
// model saved and read back too.
func TestSeasonalNotedHourHeldApart(t *testing.T) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	odd := start.Add(3*24*time.Hour + 10*time.Hour) // day 4, 10:00
	play := func(noteOdd bool, days int) *Seasonal {
		s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
		r := rand.New(rand.NewPCG(7, 8))
		for at := start; at.Before(start.Add(time.Duration(days) * 24 * time.Hour)); at = at.Add(bucket) {
			v := 1e5 * math.Exp(0.05*r.NormFloat64())
			switch {
			case !at.Before(odd) && at.Before(odd.Add(time.Hour)):
				if noteOdd {
					s.Note("k", at, 10*v)
				}
			default:
				s.Observe("k", at, v)
			}
		}
		return s
	}
	// Saved and read back: a cell held apart stays apart.
	readBack := func(m *Seasonal) *Seasonal {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		s := NewSeasonal(m.Config())
		if err := s.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		return s
	}
	next := odd.Add(24 * time.Hour)
	with, without := readBack(play(true, 5)), play(false, 5)
	we, ws, wok := with.Expect("k", next)
	oe, os, ook := without.Expect("k", next)
	if !wok || !ook || we != oe || ws != os {
		t.Errorf("the next day's 10:00: %.4g ± %.4g (%v) with the noted hour, %.4g ± %.4g (%v) without: want the same", we, ws, wok, oe, os, ook)
	}
	week := odd.Add(7 * 24 * time.Hour)
	s := readBack(play(true, 10))
	if z, _, ok := s.Deviation("k", week, 1e6); !ok || math.Abs(z) >= 5 {
		t.Errorf("10x a week after the noted hour: %+.1f spreads (%v), want it within the threshold as last week's hour", z, ok)
	}
	if z, _, ok := s.Deviation("k", week.Add(-24*time.Hour), 1e6); !ok || z < 5 {
		t.Errorf("10x on the day before: %+.1f spreads (%v), want it beyond the threshold", z, ok)
	}
}
