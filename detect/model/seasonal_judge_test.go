package model

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// steady learns days of a value with ±10% noise every bucket for key k.
func steady(s *Seasonal, key string, from time.Time, days int, level float64, rng *rand.Rand) time.Time {
	t := from
	for end := from.Add(time.Duration(days) * 24 * time.Hour); t.Before(end); t = t.Add(bucket) {
		s.Observe(key, t, level*(0.9+0.2*rng.Float64()))
	}
	return t
}

// TestSeasonalSeenRecentDeviations: a burst the key showed in the last 48
// hours is seen again (same side, as large or smaller); a larger one, one
// on the other side, or one older than 48 hours is not.
func TestSeasonalSeenRecentDeviations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
	now := steady(s, "k", monday, 3, 1e5, rng)
	burst := now.Add(2 * time.Hour)
	for t := now; t.Before(burst); t = t.Add(bucket) {
		s.Observe("k", t, 1e5)
	}
	s.Note("k", burst, 5e6) // judged anomalous: noted, not learned
	for t := burst.Add(bucket); t.Before(burst.Add(3 * time.Hour)); t = t.Add(bucket) {
		s.Observe("k", t, 1e5)
	}
	at := burst.Add(3 * time.Hour)
	zSame, _, _ := s.Deviation("k", at, 5e6)
	zLarger, _, _ := s.Deviation("k", at, 5e8)
	zFall, _, _ := s.Deviation("k", at, 10)
	tests := []struct {
		name string
		at   time.Time
		z    float64
		want bool
	}{
		{"the same burst three hours later", at, zSame, true},
		{"a smaller burst", at, zSame / 2, true},
		{"a burst a hundred times larger", at, zLarger, false},
		{"a fall", at, zFall, false},
		{"the same burst 50 hours later", burst.Add(50 * time.Hour), zSame, false},
	}
	for _, tc := range tests {
		if got := s.Seen("k", tc.at, tc.z); got != tc.want {
			t.Errorf("%s (z %.1f): seen %v, want %v", tc.name, tc.z, got, tc.want)
		}
	}
	if s.Seen("k", burst, zSame) {
		t.Error("the burst's own hour counts as seen before it")
	}
}

// TestSeasonalTrackMovesTheLevel: a departure that holds on one side for
// LevelShiftAfter moves the baseline to the new level, keeping the daily
// shape, whether its values alert (four times the level) or settle just
// under the threshold, and despite a window back at the old level; a
// burst that ends, or noise within half the threshold, does not.
func TestSeasonalTrackMovesTheLevel(t *testing.T) {
	const threshold = 5
	for _, tc := range []struct {
		name string
		// at is the value of window i of the six hours judged, given the
		// baseline's expected value and spread in the model's space.
		at      func(i int, m, spread float64) float64
		shifted bool
	}{
		{"a level four times higher for six hours", func(int, float64, float64) float64 { return 4e5 }, true},
		{"the same, one window back at the old level", func(i int, _, _ float64) float64 {
			if i == 40 {
				return 1e5
			}
			return 4e5
		}, true},
		{"four times higher for three hours, then back", func(i int, _, _ float64) float64 {
			if i < 36 {
				return 4e5
			}
			return 1e5
		}, false},
		{"a level settling at 0.8 of the threshold", func(_ int, m, spread float64) float64 {
			return math.Expm1(m + 0.8*threshold*spread)
		}, true},
		{"a level at 0.3 of the threshold", func(_ int, m, spread float64) float64 {
			return math.Expm1(m + 0.3*threshold*spread)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true, LevelShiftAfter: 6 * time.Hour})
			now := steady(s, "k", monday, 3, 1e5, rng)
			m, spread, _ := s.expect(s.find("k"), now)
			moved, by, last := false, 0.0, 0.0
			for i := range 72 {
				v := tc.at(i, m, spread)
				last = v
				z, _, _ := s.Deviation("k", now, v)
				shifted, d, _ := s.Track("k", now, v, z, threshold)
				if shifted {
					moved, by = true, d
				}
				if math.Abs(z) < threshold || shifted {
					s.Observe("k", now, v) // as a detector learns what does not alert
				}
				now = now.Add(bucket)
			}
			if moved != tc.shifted {
				t.Fatalf("shifted %v, want %v", moved, tc.shifted)
			}
			if !moved {
				return
			}
			if want := s.scale(last) - m; math.Abs(by-want) > 0.25*math.Abs(want) {
				t.Errorf("moved by %.3f, want about %.3f (the new level's distance)", by, want)
			}
			if z, _, _ := s.Deviation("k", now, last); math.Abs(z) >= 2 {
				t.Errorf("the new level is still %+.1f spreads from the baseline", z)
			}
		})
	}
}

// TestSeasonalQuietDeviation: a fall to the level of the key's quiet
// hours is within its range; one far below them is not.
func TestSeasonalQuietDeviation(t *testing.T) {
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
	rng := rand.New(rand.NewPCG(5, 6))
	day := func(t time.Time) float64 { // busy by day, a tenth at night
		if h := t.Hour(); h >= 8 && h < 20 {
			return 1e6
		}
		return 1e5
	}
	now := monday
	for end := monday.Add(3 * 24 * time.Hour); now.Before(end); now = now.Add(bucket) {
		s.Observe("k", now, day(now)*(0.9+0.2*rng.Float64()))
	}
	noon := now.Add(12 * time.Hour)
	z, _, _ := s.Deviation("k", noon, 1e5)
	qz, quiet, _ := s.QuietDeviation("k", noon, 1e5)
	if z > -5 || math.Abs(qz) > 2 || quiet > 2e5 {
		t.Errorf("a fall to the night's level at noon: %+.1f spreads from noon, %+.1f from the quietest hour (%.3g)", z, qz, quiet)
	}
	if qz, _, _ := s.QuietDeviation("k", noon, 100); qz > -5 {
		t.Errorf("a fall far below the night's level: %+.1f spreads from the quietest hour", qz)
	}
}

// TestSeasonalRecentHigh: the highest value of the 48 hours before t's
// hour, learned or noted, and the highest at t's time of day (an hour
// either side) on those days; t's own hour and older hours do not count.
func TestSeasonalRecentHigh(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
	now := monday.Add(3 * 24 * time.Hour) // Thursday 00:00
	for at := monday; at.Before(now); at = at.Add(bucket) {
		switch at {
		case now.Add(-30 * time.Hour): // Wednesday 18:00, judged anomalous
			s.Note("k", at, 5e4)
		case now.Add(-22 * time.Hour): // Wednesday 02:00
			s.Observe("k", at, 2e3)
		case now.Add(-50 * time.Hour): // Monday 22:00: too old
			s.Observe("k", at, 1e6)
		default:
			s.Observe("k", at, 100*(0.9+0.2*rng.Float64()))
		}
	}
	for _, tc := range []struct {
		at             time.Time
		high, sameTime float64
	}{
		{now.Add(2 * time.Hour), 5e4, 2e3},                // Thursday 02:00: Wednesday's 02:00
		{now.Add(3 * time.Hour), 5e4, 2e3},                // an hour later: still its time of day
		{now.Add(5 * time.Hour), 5e4, 121},                // 05:00: only ordinary values then
		{now.Add(43*time.Hour + 5*time.Minute), 110, 110}, // Friday 19:00: both more than 48 hours back
	} {
		high, same, ok := s.RecentHigh("k", tc.at)
		if !ok || math.Abs(high-tc.high) > 0.01*tc.high || same > tc.sameTime*1.01 || same < tc.sameTime*0.7 {
			t.Errorf("at %s: highest %.4g and %.4g at that time of day (ok %v), want %.4g and about %.4g", tc.at.Format("Mon 15:04"), high, same, ok, tc.high, tc.sameTime)
		}
	}
	if _, _, ok := s.RecentHigh("other", now); ok {
		t.Error("a key never seen has a recent highest value")
	}
}
