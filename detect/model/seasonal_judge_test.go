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

// TestSeasonalTrackMovesTheLevel: values beyond the threshold on one side
// for LevelShiftAfter move the baseline to the new level, keeping the
// daily shape; a run broken by a normal value does not.
func TestSeasonalTrackMovesTheLevel(t *testing.T) {
	const threshold = 5
	for _, tc := range []struct {
		name    string
		breakAt int // window of the run that is normal, -1 for none
		shifted bool
	}{
		{"a level four times higher for six hours", -1, true},
		{"the same, broken by one normal window", 40, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			s := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true, LevelShiftAfter: 6 * time.Hour})
			now := steady(s, "k", monday, 3, 1e5, rng)
			moved, by := false, 0.0
			for i := range 72 {
				v := 4e5
				if i == tc.breakAt {
					v = 1e5
				}
				z, _, _ := s.Deviation("k", now, v)
				if shifted, d, _ := s.Track("k", now, v, z, threshold); shifted {
					moved, by = true, d
				}
				now = now.Add(bucket)
			}
			if moved != tc.shifted {
				t.Fatalf("shifted %v, want %v", moved, tc.shifted)
			}
			if !moved {
				return
			}
			if f := math.Exp(by); f < 3 || f > 5 {
				t.Errorf("moved by a factor %.2f, want about 4", f)
			}
			if z, _, _ := s.Deviation("k", now, 4e5); math.Abs(z) >= threshold {
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
