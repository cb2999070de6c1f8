package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"
)

const bucket = 5 * time.Minute

var monday = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) // a Monday

// workload is a synthetic service: a base load with a morning peak, a
// nightly backup, optionally quieter weekends and a weekly Sunday job, and
// ±10% noise.
type workload struct {
	base, peak, backup, weekly float64
	weekends                   bool
}

func (w workload) value(t time.Time, rng *rand.Rand) float64 {
	v := w.base
	h, m := t.Hour(), t.Minute()
	weekend := t.Weekday() == time.Saturday || t.Weekday() == time.Sunday
	if h >= 8 && h < 10 && !(w.weekends && weekend) {
		v += w.peak
	}
	if h == 2 && m < 30 {
		v += w.backup
	}
	if w.weekends && weekend {
		v *= 0.3
	}
	if w.weekly > 0 && t.Weekday() == time.Sunday && h == 4 {
		v += w.weekly
	}
	return v * (0.9 + 0.2*rng.Float64())
}

func feed(s *Seasonal, key string, w workload, from time.Time, days int, rng *rand.Rand) time.Time {
	t := from
	for end := from.Add(time.Duration(days) * 24 * time.Hour); t.Before(end); t = t.Add(bucket) {
		s.Observe(key, t, w.value(t, rng))
	}
	return t
}

func TestSeasonalLearnsPatterns(t *testing.T) {
	tests := []struct {
		name     string
		w        workload
		history  int // days learned before the judged day
		spikeAt  time.Duration
		spikeAdd float64
	}{
		{"morning peak and nightly backup are learned, an afternoon spike is not",
			workload{base: 100, peak: 1000, backup: 5000}, 3, 14 * time.Hour, 800},
		{"a night spike is flagged although the morning is busier",
			workload{base: 100, peak: 1000, backup: 5000}, 3, 23 * time.Hour, 300},
		{"quiet weekends and a weekly Sunday job are learned once a week exists",
			workload{base: 1e6, peak: 4e6, backup: 2e7, weekly: 3e7, weekends: true}, 13, 15 * time.Hour, 3e6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			s := NewSeasonal(SeasonalConfig{Bucket: bucket, Sensitivity: 1, MinSamples: 288})
			day := feed(s, "k", tc.w, monday, tc.history, rng)
			// Judge a full normal day (then learn it), counting false alerts.
			flagged, judged := 0, 0
			for tt := day; tt.Before(day.Add(24 * time.Hour)); tt = tt.Add(bucket) {
				v := tc.w.value(tt, rng)
				z, _, ok := s.Deviation("k", tt, v)
				if !ok {
					t.Fatalf("no baseline at %s after %d days", tt, tc.history)
				}
				judged++
				if z >= s.Threshold() {
					flagged++
					t.Errorf("normal value %.0f at %s flagged: z=%.2f", v, tt.Format("Mon 15:04"), z)
				}
				s.Observe("k", tt, v)
			}
			// A spike on the next day.
			spike := day.Add(24*time.Hour + tc.spikeAt)
			v := tc.w.value(spike, rng) + tc.spikeAdd
			z, expected, ok := s.Deviation("k", spike, v)
			if !ok || z < s.Threshold() {
				t.Errorf("spike %.0f at %s (expected %.0f) not flagged: z=%.2f ok=%v threshold %.2f",
					v, spike.Format("Mon 15:04"), expected, z, ok, s.Threshold())
			}
			t.Logf("%d of %d normal buckets flagged; spike z=%.1f", flagged, judged, z)
		})
	}
}

// TestSeasonalWeeklyJobInPartOfAnHour: on the logarithm, a weekly job
// that fills part of an hour moves that hour's mean by part of its size
// (on a quieter weekend day the job's rise and the weekend's dip partly
// cancel) but widens it; once a week exists the job at its hour is
// normal, while the same bytes at that hour on another day are still
// flagged.
func TestSeasonalWeeklyJobInPartOfAnHour(t *testing.T) {
	const (
		base       = 1e6
		jobFactor  = 20  // the job multiplies the bytes of its windows
		noiseSigma = 0.3 // window-to-window noise, on the logarithm
		jobHour    = 3   // Sundays
	)
	tests := []struct {
		name       string
		weekend    float64 // the share of a weekday Saturdays and Sundays carry
		jobMinutes int
	}{
		{"a job filling the whole hour of a quiet Sunday", 0.45, 60},
		{"a job filling half the hour of a quiet Sunday", 0.55, 30},
		{"a job filling a quarter of the hour", 1, 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			job := func(t time.Time) bool {
				return t.Weekday() == time.Sunday && t.Hour() == jobHour && t.Minute() < tc.jobMinutes
			}
			value := func(t time.Time) float64 {
				v := base * math.Exp(noiseSigma*rng.NormFloat64())
				if t.Weekday() == time.Saturday || t.Weekday() == time.Sunday {
					v *= tc.weekend
				}
				if job(t) {
					v *= jobFactor
				}
				return v
			}
			s := NewSeasonal(SeasonalConfig{Bucket: bucket, Sensitivity: 5, MinSamples: 288, LogScale: true})
			// Two weeks from a Monday: the job runs on the first Sunday
			// (learned) and on the second (judged, then learned).
			sunday := monday.Add(13 * 24 * time.Hour)
			for tt := monday; tt.Before(sunday); tt = tt.Add(bucket) {
				s.Observe("k", tt, value(tt))
			}
			jobWindows := 0
			for tt := sunday; tt.Before(sunday.Add(24 * time.Hour)); tt = tt.Add(bucket) {
				v := value(tt)
				if job(tt) {
					jobWindows++
				}
				z, expected, ok := s.Deviation("k", tt, v)
				if !ok {
					t.Fatalf("no baseline at %s", tt.Format("Mon 15:04"))
				}
				if z >= s.Threshold() {
					t.Errorf("normal value %.3g at %s flagged: expected %.3g, z=%.2f", v, tt.Format("Mon 15:04"), expected, z)
				}
				s.Observe("k", tt, v)
			}
			if want := tc.jobMinutes / int(bucket/time.Minute); jobWindows != want {
				t.Fatalf("the job ran in %d windows, want %d", jobWindows, want)
			}
			// The job's bytes on Monday at the job's hour: never seen then.
			at := sunday.Add(24*time.Hour + jobHour*time.Hour + 5*time.Minute)
			v := base * jobFactor
			z, expected, ok := s.Deviation("k", at, v)
			if !ok || z < s.Threshold() {
				t.Errorf("%.3g at %s (expected %.3g) not flagged: z=%.2f ok=%v threshold %.2f",
					v, at.Format("Mon 15:04"), expected, z, ok, s.Threshold())
			}
		})
	}
}

// TestSeasonalWeeklyGapDoesNotWiden: a window with next to nothing in it
// last week (a hundredth of the usual, too little to move the hour's mean
// three spreads) widens its hour's cell as much as a burst would, but
// lowers it: the same hour this week keeps the hour-of-day baseline, and
// a burst there is still flagged.
func TestSeasonalWeeklyGapDoesNotWiden(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, Sensitivity: 5, MinSamples: 288, LogScale: true})
	gap := monday.Add(6*24*time.Hour + 3*time.Hour + 10*time.Minute) // the first Sunday, 03:10
	judged := gap.Add(7*24*time.Hour - 5*time.Minute)                // the second Sunday, 03:05
	for tt := monday; tt.Before(judged); tt = tt.Add(bucket) {
		v := 1e6 * math.Exp(0.3*rng.NormFloat64())
		if tt.Equal(gap) {
			v = 1e4
		}
		s.Observe("k", tt, v)
	}
	if _, sd, ok := s.cell(s.keys["k"], absHour(gap)); !ok || sd < 1 {
		t.Fatalf("last week's hour with a gap: deviation %.2f ok=%v, want a wide cell", sd, ok)
	}
	v := 2e7
	z, expected, ok := s.Deviation("k", judged, v)
	if !ok || z < s.Threshold() {
		t.Errorf("%.3g at %s (expected %.3g) not flagged: z=%.2f ok=%v threshold %.2f",
			v, judged.Format("Mon 15:04"), expected, z, ok, s.Threshold())
	}
}

func TestSeasonalNeedsHistory(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	w := workload{base: 100, peak: 1000}
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, Sensitivity: 1, MinSamples: 288})
	if _, _, ok := s.Expect("k", monday); ok {
		t.Fatal("an unknown key has a baseline")
	}
	next := feed(s, "k", w, monday, 1, rng)
	if _, _, ok := s.Expect("k", next); ok {
		t.Fatal("one day of history gives a baseline; want two days covering the hour")
	}
	next = feed(s, "k", w, next, 1, rng)
	if _, _, ok := s.Expect("k", next); !ok {
		t.Fatal("two days of history give no baseline")
	}
	s2 := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 10000})
	feed(s2, "k", w, monday, 3, rng)
	if _, _, ok := s2.Expect("k", monday.Add(72*time.Hour)); ok {
		t.Fatal("baseline given before MinSamples observations")
	}
}

func TestSeasonalDeterministicAndRoundTrip(t *testing.T) {
	for _, logScale := range []bool{false, true} {
		t.Run(fmt.Sprintf("log scale %v", logScale), func(t *testing.T) { testSeasonalRoundTrip(t, logScale) })
	}
}

func testSeasonalRoundTrip(t *testing.T, logScale bool) {
	cfg := SeasonalConfig{Bucket: bucket, Sensitivity: 10, MinSamples: 100, LogScale: logScale}
	build := func() *Seasonal {
		rng := rand.New(rand.NewPCG(5, 6))
		s := NewSeasonal(cfg)
		for i, key := range []string{"b", "a", "c"} {
			feed(s, key, workload{base: float64(100 * (i + 1)), peak: 500, backup: 900}, monday, 9, rng)
		}
		// an hour in progress, so the buffer is part of the state, with a
		// value noted in it (the mean of every value is part of it too)
		s.Observe("a", monday.Add(9*24*time.Hour+5*time.Minute), 42)
		s.Observe("a", monday.Add(9*24*time.Hour+10*time.Minute), 43)
		s.Note("a", monday.Add(9*24*time.Hour+15*time.Minute), 4200)
		// both drifts under way, so both are part of the state
		s.find("c").drift, s.find("c").driftDown = 1.5, 2.5
		return s
	}
	a, b := build(), build()
	ba, _ := a.MarshalBinary()
	bb, _ := b.MarshalBinary()
	if !bytes.Equal(ba, bb) {
		t.Fatal("the same observations marshal differently")
	}
	restored := NewSeasonal(cfg)
	if err := restored.UnmarshalBinary(ba); err != nil {
		t.Fatal(err)
	}
	if restored.Keys() != 3 || restored.Samples() != a.Samples() {
		t.Fatalf("restored %d keys %d samples, want 3 and %d", restored.Keys(), restored.Samples(), a.Samples())
	}
	again, _ := restored.MarshalBinary()
	if !bytes.Equal(ba, again) {
		for i := range min(len(ba), len(again)) {
			if ba[i] != again[i] {
				t.Fatalf("marshal of the restored model differs at byte %d of %d/%d", i, len(ba), len(again))
			}
		}
		t.Fatal("marshal of the restored model differs")
	}
	if k := restored.find("c"); k.drift != 1.5 || k.driftDown != 2.5 {
		t.Fatalf("drifts restored as %v and %v, want 1.5 and 2.5", k.drift, k.driftDown)
	}
	hourJudged, seenDays := 0, 0
	for _, key := range []string{"a", "b", "c"} {
		for h := range 48 {
			at := monday.Add(9*24*time.Hour + time.Duration(h)*30*time.Minute)
			z1, e1, ok1 := a.Deviation(key, at, 777)
			z2, e2, ok2 := restored.Deviation(key, at, 777)
			if z1 != z2 || e1 != e2 || ok1 != ok2 || !ok1 {
				t.Fatalf("%s at %s: %v %v %v, restored %v %v %v", key, at, z1, e1, ok1, z2, e2, ok2)
			}
			hz1, m1, n1, hok1 := a.HourDeviation(key, at, 777)
			hz2, m2, n2, hok2 := restored.HourDeviation(key, at, 777)
			if hz1 != hz2 || m1 != m2 || n1 != n2 || hok1 != hok2 {
				t.Fatalf("%s at %s: hour deviation %v %v %v %v, restored %v %v %v %v", key, at, hz1, m1, n1, hok1, hz2, m2, n2, hok2)
			}
			if hok1 {
				hourJudged++
			}
			if s1, s2 := a.HourSeen(key, at, 3, 6), restored.HourSeen(key, at, 3, 6); s1 != s2 {
				t.Fatalf("%s at %s: hour seen %v, restored %v", key, at, s1, s2)
			}
			for _, z := range []float64{1, -1, 3} {
				if n1, n2 := a.SeenDays(key, at, z), restored.SeenDays(key, at, z); n1 != n2 {
					t.Fatalf("%s at %s: seen on %d days (%+g spreads), restored %d", key, at, n1, z, n2)
				}
				if n := a.SeenDays(key, at, z); n > 0 {
					seenDays++
				}
			}
			d1, dok1 := a.Drift(key, at, 777)
			d2, dok2 := restored.Drift(key, at, 777)
			if d1 != d2 || dok1 != dok2 || a.DriftSeen(key, at) != restored.DriftSeen(key, at) {
				t.Fatalf("%s at %s: drift %v %v, restored %v %v", key, at, d1, dok1, d2, dok2)
			}
		}
	}
	if hourJudged == 0 {
		t.Fatal("no hour deviation answered: the hour in progress's values were not restored")
	}
	if seenDays == 0 && logScale {
		t.Fatal("no day's deviation answered: the days' deviations were not part of the state")
	}
	// Both continue identically after the restore.
	a.Observe("a", monday.Add(9*24*time.Hour+70*time.Minute), 1)
	restored.Observe("a", monday.Add(9*24*time.Hour+70*time.Minute), 1)
	x, _ := a.MarshalBinary()
	y, _ := restored.MarshalBinary()
	if !bytes.Equal(x, y) {
		t.Fatal("the restored model learns differently")
	}
}

func TestSeasonalRefusesBadEncodings(t *testing.T) {
	s := NewSeasonal(SeasonalConfig{Bucket: bucket})
	feed(s, "k", workload{base: 10}, monday, 2, rand.New(rand.NewPCG(7, 8)))
	good, _ := s.MarshalBinary()
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	version := bytes.Clone(good)
	version[len(seasonalMagic)] = 99
	for name, data := range map[string][]byte{
		"empty":       nil,
		"truncated":   good[:len(good)-9],
		"a bit flips": flipped,
		"new version": version,
		"not a model": []byte("hello, this is not a model at all"),
	} {
		fresh := NewSeasonal(SeasonalConfig{Bucket: bucket})
		fresh.Observe("kept", monday, 1)
		err := fresh.UnmarshalBinary(data)
		if !errors.Is(err, ErrCorruptModel) {
			t.Errorf("%s: err = %v, want ErrCorruptModel", name, err)
		}
		if fresh.Keys() != 1 {
			t.Errorf("%s: a failed load changed the model", name)
		}
	}
}

// TestSeasonalRefusesKeysOutOfOrder checks version 4's shared name
// prefixes: a name that sorts before the one it follows is refused.
func TestSeasonalRefusesKeysOutOfOrder(t *testing.T) {
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, LogScale: true})
	s.Observe("ab", monday, 1)
	s.Observe("ac", monday, 1)
	good, _ := s.MarshalBinary()
	at := bytes.Index(good, []byte{1, 1, 'c'})
	if at < 0 {
		t.Fatal("the second name is not stored as a shared prefix of 1 and one byte")
	}
	bad := bytes.Clone(good[:len(good)-4])
	bad[at+2] = 'a'
	bad = binary.LittleEndian.AppendUint32(bad, crc32.ChecksumIEEE(bad))
	fresh := NewSeasonal(s.Config())
	if err := fresh.UnmarshalBinary(bad); !errors.Is(err, ErrCorruptModel) {
		t.Fatalf("names out of order: err = %v, want ErrCorruptModel", err)
	}
	if err := fresh.UnmarshalBinary(good); err != nil || fresh.Keys() != 2 {
		t.Fatalf("the good encoding: %v, %d keys", err, fresh.Keys())
	}
}

func FuzzSeasonalUnmarshal(f *testing.F) {
	s := NewSeasonal(SeasonalConfig{Bucket: bucket})
	feed(s, "k", workload{base: 10, peak: 5}, monday, 2, rand.New(rand.NewPCG(9, 9)))
	good, _ := s.MarshalBinary()
	f.Add(good)
	f.Add([]byte("CAESEAS\x01"))
	// A week and more on a log scale: its days' deviations are kept.
	week := NewSeasonal(SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true})
	feed(week, "k", workload{base: 100, peak: 500, backup: 900}, monday, 9, rand.New(rand.NewPCG(9, 10)))
	weekly, _ := week.MarshalBinary()
	f.Add(weekly)
	for _, old := range []string{"testdata/seasonal-v3-linear.bin", "testdata/seasonal-v4-log.bin", "testdata/seasonal-v6-log.bin", "testdata/seasonal-v7-log.bin", "testdata/seasonal-v8-log.bin"} {
		if data, err := os.ReadFile(old); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := NewSeasonal(SeasonalConfig{Bucket: bucket})
		if err := m.UnmarshalBinary(data); err != nil {
			return
		}
		out, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		m2 := NewSeasonal(SeasonalConfig{Bucket: bucket})
		if err := m2.UnmarshalBinary(out); err != nil {
			t.Fatalf("re-encoded model refused: %v", err)
		}
		m.Expect("k", monday)
	})
}

func TestSensitivityZ(t *testing.T) {
	tests := []struct {
		sensitivity, want float64
	}{
		{-5, 5.199}, {0, 5.199}, {1, 5.178}, {10, 4.991}, {50, 4.000}, {100, 2.326}, {200, 2.326},
	}
	for _, tc := range tests {
		if got := SensitivityZ(tc.sensitivity); math.Abs(got-tc.want) > 0.01 {
			t.Errorf("SensitivityZ(%v) = %.3f, want %.3f", tc.sensitivity, got, tc.want)
		}
	}
	if IQRFactorZ(500) < 600 || math.Abs(IQRFactorZ(3)-4.72) > 0.01 {
		t.Errorf("IQRFactorZ(500)=%v IQRFactorZ(3)=%v", IQRFactorZ(500), IQRFactorZ(3))
	}
}

func TestRobustZ(t *testing.T) {
	peers := []float64{100, 110, 95, 105, 98, 102, 5000}
	z, med, ok := RobustZ(104, bytes2(peers), 3)
	if !ok || math.Abs(med-102) > 1e-9 || z > 1 {
		t.Errorf("a typical peer: z=%v median=%v ok=%v", z, med, ok)
	}
	z, _, _ = RobustZ(5000, bytes2(peers), 3)
	if z < 100 {
		t.Errorf("an outlier among its peers: z=%v", z)
	}
	if _, _, ok := RobustZ(1, []float64{1, 2}, 3); ok {
		t.Error("two peers are enough for RobustZ with minSamples 3")
	}
	if Score(0, 5) != 0 || Score(-3, 5) != 0 || Score(5, 5) != 0.5 || Score(math.Inf(1), 5) != 1 {
		t.Error("Score does not map the threshold to 0.5")
	}
}

func bytes2(x []float64) []float64 { return append([]float64(nil), x...) }

func BenchmarkSeasonalDeviation(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	s := NewSeasonal(SeasonalConfig{Bucket: bucket, Sensitivity: 1, MinSamples: 100})
	next := feed(s, "k", workload{base: 100, peak: 1000, backup: 5000}, monday, 8, rng)
	b.ReportAllocs()
	for b.Loop() {
		s.Deviation("k", next, 123)
	}
}

// TestSeasonalReadsVersion1 loads models saved by version 1 of the encoding
// (float32 cells, testdata/seasonal-v1-*.bin) and compares their deviations
// with the ones that version computed before saving (the .json beside):
// linear models keep their float32 cells, so they agree but for the
// rounding of the hour in progress; log-scale models are re-encoded into
// 16-bit fixed point. Version 3 judges with pooled and widened spreads, so
// the expected values must be version 1's while a deviation keeps its side
// and may shrink by the widening (at most 1.25 on two days) and change by
// the pooling, within a factor of two.
func TestSeasonalReadsVersion1(t *testing.T) {
	for _, tc := range []struct {
		name     string
		logScale bool
	}{
		{"linear", false},
		{"log", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile("testdata/seasonal-v1-" + tc.name + ".bin")
			if err != nil {
				t.Fatal(err)
			}
			var want []struct {
				Key     string
				At      time.Time
				V, Z, E float64
				OK      bool
			}
			j, err := os.ReadFile("testdata/seasonal-v1-" + tc.name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(j, &want); err != nil {
				t.Fatal(err)
			}
			s := NewSeasonal(SeasonalConfig{Bucket: bucket, Sensitivity: 10, MinSamples: 100, LogScale: tc.logScale})
			if err := s.UnmarshalBinary(data); err != nil {
				t.Fatal(err)
			}
			worst, answered := 0.0, 0
			for _, w := range want {
				z, e, ok := s.Deviation(w.Key, w.At, w.V)
				if ok != w.OK {
					t.Fatalf("%s at %s: ok %v, version 1 said %v", w.Key, w.At, ok, w.OK)
				}
				if !ok {
					continue
				}
				answered++
				if d := math.Abs(z-w.Z) / max(1, math.Abs(w.Z)); d > worst {
					worst = d
				}
				sameSide := math.Abs(w.Z) < 1 || z*w.Z > 0 && math.Abs(z) <= 2*math.Abs(w.Z) && math.Abs(z) >= math.Abs(w.Z)/2
				if !sameSide || math.Abs(e-w.E) > 0.002*max(1, math.Abs(w.E)) {
					t.Errorf("%s at %s, value %g: z %.4f expected %.4g, version 1 said %.4f and %.4g", w.Key, w.At, w.V, z, e, w.Z, w.E)
				}
			}
			if answered < len(want)/2 {
				t.Fatalf("only %d of %d deviations answered", answered, len(want))
			}
			t.Logf("%d deviations, largest difference %.5f spreads (relative above one)", answered, worst)
			// A log-scale model does not load into a linear one, nor back.
			other := NewSeasonal(SeasonalConfig{Bucket: bucket, LogScale: !tc.logScale})
			again, _ := s.MarshalBinary()
			if err := other.UnmarshalBinary(again); !errors.Is(err, ErrCorruptModel) {
				t.Errorf("a model saved with log scale %v loaded into one without: %v", tc.logScale, err)
			}
		})
	}
}

// BenchmarkSeasonalKeyMemory reports the live heap one key takes, its map
// entry included but not its name (B/key), once it holds two days or a
// week of hours, with and without recent extremes (WithoutRecent) and log
// scale. Before cells were held sparsely a key took 1,024 bytes and its
// map entry whatever its history (log scale).
func BenchmarkSeasonalKeyMemory(b *testing.B) {
	const keys = 2000
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("c/ns-%03d/wl-%05d-*/wep|bytes_in", i/50, i)
	}
	for _, tc := range []struct {
		name     string
		hours    int
		logScale bool
		noRecent bool
	}{
		{"log,2days", 2 * hoursPerDay, true, false},
		{"log,week", cellsPerKey, true, false},
		{"log,week,without-recent", cellsPerKey, true, true},
		{"linear,week", cellsPerKey, false, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var perKey float64
			for b.Loop() {
				runtime.GC()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				s := NewSeasonal(SeasonalConfig{Bucket: time.Hour, LogScale: tc.logScale, WithoutRecent: tc.noRecent})
				for h := range tc.hours + 1 {
					at := monday.Add(time.Duration(h) * time.Hour)
					for _, name := range names {
						s.Observe(name, at, float64(h))
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&m1)
				perKey = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / keys
				runtime.KeepAlive(s)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}

// TestSeasonalReadsVersion3 loads models saved by versions 3 and 4 of the
// encoding (testdata/seasonal-v[34]-*.bin: a week and more of three keys, a sparse
// key, a level change being tracked, values noted and an hour in
// progress) and checks every deviation, quiet-hour deviation and recent
// deviation against what version 3 computed before saving (the .json
// beside): the layout in memory changed, the figures must not. A level
// change version 4 was tracking goes on where it stopped.
func TestSeasonalReadsVersion3(t *testing.T) {
	for _, tc := range []struct {
		version  string
		name     string
		logScale bool
	}{
		{"v3", "linear", false},
		{"v3", "log", true},
		{"v4", "linear", false},
		{"v4", "log", true},
	} {
		t.Run(tc.version+"-"+tc.name, func(t *testing.T) {
			data, err := os.ReadFile("testdata/seasonal-" + tc.version + "-" + tc.name + ".bin")
			if err != nil {
				t.Fatal(err)
			}
			var want []struct {
				Key       string
				At        time.Time
				V, Z, E   float64
				OK        bool
				QZ, QE    float64
				QOK, Seen bool
			}
			j, err := os.ReadFile("testdata/seasonal-" + tc.version + "-" + tc.name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(j, &want); err != nil {
				t.Fatal(err)
			}
			s := NewSeasonal(SeasonalConfig{Bucket: bucket, Sensitivity: 10, MinSamples: 100, LogScale: tc.logScale, LevelShiftAfter: 6 * time.Hour})
			if err := s.UnmarshalBinary(data); err != nil {
				t.Fatal(err)
			}
			answered, seen := 0, 0
			for _, w := range want {
				z, e, ok := s.Deviation(w.Key, w.At, w.V)
				qz, qe, qok := s.QuietDeviation(w.Key, w.At, w.V)
				// Seen as version 3 measured it: each recent hour
				// against its own hour's baseline only.
				sn := s.seenBy(s.find(w.Key), w.At, z, false, heldRange{0, -1})
				if z != w.Z || e != w.E || ok != w.OK || qz != w.QZ || qe != w.QE || qok != w.QOK || sn != w.Seen {
					t.Fatalf("%s at %s, value %g: deviation %v %v %v, quiet %v %v %v, seen %v; version 3 said %v %v %v, %v %v %v, %v",
						w.Key, w.At, w.V, z, e, ok, qz, qe, qok, sn, w.Z, w.E, w.OK, w.QZ, w.QE, w.QOK, w.Seen)
				}
				if ok {
					answered++
				}
				if sn {
					seen++
				}
			}
			if answered < len(want)/2 || seen == 0 {
				t.Fatalf("the golden file exercises too little: %d of %d answered, %d seen", answered, len(want), seen)
			}
			// Saved again and read back, the model answers the same.
			again, err := s.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			s2 := NewSeasonal(s.Config())
			if err := s2.UnmarshalBinary(again); err != nil {
				t.Fatal(err)
			}
			for _, w := range want {
				if z, e, ok := s2.Deviation(w.Key, w.At, w.V); z != w.Z || e != w.E || ok != w.OK {
					t.Fatalf("%s at %s after a new save: %v %v %v, want %v %v %v", w.Key, w.At, z, e, ok, w.Z, w.E, w.OK)
				}
			}
			t.Logf("%d bytes in version %s, %d now", len(data), tc.version[1:], len(again))
			if tc.version != "v4" {
				return
			}
			// Key "moving" was saved three hours into a level four times
			// higher (a run of 36 windows beyond the threshold): the run
			// is carried over as the departure Track follows, so three
			// more hours of it make six and move the level.
			at := time.Date(2026, 11, 10, 7, 0, 0, 0, time.UTC)
			for i := 1; i <= 36; i++ {
				z, _, _ := s2.Deviation("moving", at, 4e5)
				shifted, _, _ := s2.Track("moving", at, 4e5, z, 5)
				if shifted != (i == 36) {
					t.Fatalf("window %d of the carried run (z %+.1f): shifted %v, want it at window 36", i, z, shifted)
				}
				at = at.Add(bucket)
			}
		})
	}
}

// TestSeasonalWithoutRecent checks a model that keeps no recent extremes
// expects what one that keeps them does, while Seen answers false; a model
// saved with extremes loads into one without.
func TestSeasonalWithoutRecent(t *testing.T) {
	cfg := SeasonalConfig{Bucket: bucket, Sensitivity: 10, MinSamples: 100, LogScale: true}
	lean := cfg
	lean.WithoutRecent = true
	full, without := NewSeasonal(cfg), NewSeasonal(lean)
	w := workload{base: 100, peak: 500, backup: 900}
	end := feed(full, "k", w, monday, 8, rand.New(rand.NewPCG(3, 4)))
	feed(without, "k", w, monday, 8, rand.New(rand.NewPCG(3, 4)))
	// A spike, noted: an hour later the full model has seen one like it.
	full.Note("k", end, 90000)
	without.Note("k", end, 90000)
	end = end.Add(time.Hour)
	saved, _ := full.MarshalBinary()
	loaded := NewSeasonal(lean)
	if err := loaded.UnmarshalBinary(saved); err != nil {
		t.Fatal(err)
	}
	z, _, _ := full.Deviation("k", end, 90000)
	z /= 2 // the hour noted has a baseline of its own
	if !full.Seen("k", end, z) {
		t.Fatal("the model with recent extremes has not seen the spike it noted")
	}
	for _, m := range []*Seasonal{without, loaded} {
		if m.Seen("k", end, z) {
			t.Error("a model without recent extremes has seen a deviation")
		}
		for h := range 24 {
			at := end.Add(time.Duration(h) * time.Hour)
			for _, v := range []float64{0, 120, 600, 5000} {
				z1, e1, ok1 := full.Deviation("k", at, v)
				z2, e2, ok2 := m.Deviation("k", at, v)
				if z1 != z2 || e1 != e2 || ok1 != ok2 || !ok1 {
					t.Fatalf("at %s, %g: %v %v %v, without recent extremes %v %v %v", at, v, z1, e1, ok1, z2, e2, ok2)
				}
			}
		}
	}
	if k := without.keys["k"]; k.recent != nil || k.hourSeen {
		t.Error("a model without recent extremes keeps some")
	}
}

// TestSeasonalWeekCellsAreTheHoursOfTheWeek checks that the cells pool
// visits (eachWeekCell) are exactly those a lookup of each of the week's
// hours finds, on keys with gaps of hours and days, at every hour of
// several weeks, before and after the epoch.
func TestSeasonalWeekCellsAreTheHoursOfTheWeek(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, start := range []time.Time{monday, time.Date(1969, 12, 20, 5, 0, 0, 0, time.UTC)} {
		s := NewSeasonal(SeasonalConfig{Bucket: time.Hour, LogScale: true})
		for h := range 24 * 30 {
			if rng.IntN(4) == 0 || h%(24*9) < 30 {
				continue // hours and whole days without observations
			}
			s.Observe("k", start.Add(time.Duration(h)*time.Hour), rng.Float64()*1000)
		}
		k := s.keys["k"]
		first := absHour(start)
		for last := first; last < first+24*32; last++ {
			type cell struct {
				hod      int
				mean, sd float64
			}
			var want, got []cell
			for hh := last - cellsPerKey + 1; hh <= last; hh++ {
				if m, sd, ok := s.cell(k, hh); ok {
					want = append(want, cell{int(hh - dayOf(hh)*hoursPerDay), m, sd})
				}
			}
			k.eachWeekCell(last, func(r, hod int, _ int64) {
				m, sd := s.decodeRank(k, r)
				got = append(got, cell{hod, m, sd})
			})
			order := func(a, b cell) int {
				if a.hod != b.hod {
					return a.hod - b.hod
				}
				if a.mean != b.mean {
					return cmpFloat(a.mean, b.mean)
				}
				return cmpFloat(a.sd, b.sd)
			}
			slices.SortFunc(want, order)
			slices.SortFunc(got, order)
			if !slices.Equal(want, got) {
				t.Fatalf("from %s, week up to hour %d: visited %v, the week's hours hold %v", start, last, got, want)
			}
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestSeasonalReadsVersion6: models saved before the lower drift
// (testdata/seasonal-v6-log.bin, written by the version 6 encoder),
// before the days' largest deviations (testdata/seasonal-v7-log.bin, by
// the version 7 encoder) and before the values noted as known
// (testdata/seasonal-v8-log.bin, by the version 8 encoder), each from
// the observations rebuilt here, still load: they judge every window and
// hour as the same observations learned now do, keep their upper drift
// (and from version 7 their lower one), start a lower drift at 0
// (version 6) and no days' deviations (SeenDays, before version 8), and
// save as the current version.
func TestSeasonalReadsVersion6(t *testing.T) {
	cfg := SeasonalConfig{Bucket: bucket, MinSamples: 12, LogScale: true}
	fresh := NewSeasonal(cfg)
	rng := rand.New(rand.NewPCG(21, 22))
	for i, key := range []string{"b", "a", "c"} {
		feed(fresh, key, workload{base: float64(100 * (i + 1)), peak: 500, backup: 900}, monday, 9, rng)
	}
	for i, v := range []float64{42, 43, 44} {
		fresh.Observe("a", monday.Add(9*24*time.Hour+time.Duration(i+1)*5*time.Minute), v)
	}
	for _, version := range []uint8{6, 7, 8} {
		t.Run(fmt.Sprintf("version %d", version), func(t *testing.T) {
			data, err := os.ReadFile(fmt.Sprintf("testdata/seasonal-v%d-log.bin", version))
			if err != nil {
				t.Fatal(err)
			}
			if data[len(seasonalMagic)] != version {
				t.Fatalf("golden file is version %d, want %d", data[len(seasonalMagic)], version)
			}
			old := NewSeasonal(cfg)
			if err := old.UnmarshalBinary(data); err != nil {
				t.Fatal(err)
			}
			if old.Keys() != 3 || old.Samples() != fresh.Samples() {
				t.Fatalf("read %d keys %d samples, want 3 and %d", old.Keys(), old.Samples(), fresh.Samples())
			}
			spikes := 0
			for _, key := range []string{"a", "b", "c"} {
				o, f := old.find(key), fresh.find(key)
				wantDown := f.driftDown
				if version < 7 {
					wantDown = 0
				}
				if o.drift != f.drift || o.driftDown != wantDown {
					t.Errorf("%s: drifts %v and %v, want %v and %v", key, o.drift, o.driftDown, f.drift, wantDown)
				}
				for h := range 48 {
					at := monday.Add(9*24*time.Hour + time.Duration(h)*30*time.Minute)
					z1, e1, ok1 := old.Deviation(key, at, 777)
					z2, e2, ok2 := fresh.Deviation(key, at, 777)
					hz1, m1, n1, hok1 := old.HourDeviation(key, at, 50)
					hz2, m2, n2, hok2 := fresh.HourDeviation(key, at, 50)
					if z1 != z2 || e1 != e2 || ok1 != ok2 || hz1 != hz2 || m1 != m2 || n1 != n2 || hok1 != hok2 {
						t.Fatalf("%s at %s: version %d judges %v %v %v / %v %v %v %v, the same observations now %v %v %v / %v %v %v %v",
							key, at.Format("15:04"), version, z1, e1, ok1, hz1, m1, n1, hok1, z2, e2, ok2, hz2, m2, n2, hok2)
					}
					if n, want := old.SeenDays(key, at, 0.5), fresh.SeenDays(key, at, 0.5); version < 8 && n != 0 || version >= 8 && n != want {
						t.Fatalf("%s at %s: version %d has %d days' deviations, want %d", key, at.Format("15:04"), version, n, want*int(version/8))
					}
					spikes += fresh.SeenDays(key, at, 0.5)
				}
			}
			if spikes == 0 {
				t.Fatal("the same observations learned now keep no days' deviations either: the test shows nothing")
			}
			again, err := old.MarshalBinary()
			if err != nil || again[len(seasonalMagic)] != seasonalVersion {
				t.Fatalf("saved again: %v, version %d", err, again[len(seasonalMagic)])
			}
			if err := NewSeasonal(cfg).UnmarshalBinary(again); err != nil {
				t.Fatalf("saved again, refused: %v", err)
			}
		})
	}
}
