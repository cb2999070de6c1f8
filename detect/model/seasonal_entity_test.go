package model

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"
)

// TestSeasonalEntityKeysAnswerAsNames feeds the same values to a model
// whose keys are plain names and to one that groups them by entity
// (SetFields), reaching the grouped keys through their groups, through
// their names, or both: every answer must be the same to the bit, the
// saved bytes the same, and the plain model's bytes must load into a
// grouped one that then answers alike.
func TestSeasonalEntityKeysAnswerAsNames(t *testing.T) {
	fields := []string{"bytes_in", "bytes_out", "records"}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, cfg := range []SeasonalConfig{
		{Bucket: 20 * time.Minute, MinSamples: 12, LogScale: true, LevelShiftAfter: 6 * time.Hour},
		{Bucket: 20 * time.Minute, MinSamples: 12, LogScale: true, WithoutRecent: true},
		{Bucket: 20 * time.Minute, MinSamples: 12, Sensitivity: 80},
	} {
		t.Run(fmt.Sprintf("log=%v,recent=%v", cfg.LogScale, !cfg.WithoutRecent), func(t *testing.T) {
			plain, grouped := NewSeasonal(cfg), NewSeasonal(cfg)
			if err := grouped.SetFields("|", fields); err != nil {
				t.Fatal(err)
			}
			entities := []string{"c/shop/cart-*/wep", "c/shop/a|b/wep", "c/pay/db-*/wep"}
			rng := rand.New(rand.NewPCG(1, 2))
			var compared int
			for step := range 9 * 24 * 3 {
				at := start.Add(time.Duration(step) * cfg.Bucket)
				if step == 8*24*3 {
					// Entity 2 stopped being seen two days ago.
					cut := at.Add(-36 * time.Hour)
					if a, b := plain.Prune(cut), grouped.Prune(cut); a != b || a == 0 {
						t.Fatalf("Prune removed %d plain keys, %d grouped", a, b)
					}
				}
				for ei, base := range entities {
					if ei == 2 && step >= 6*24*3 {
						continue
					}
					g := grouped.Entity(base)
					for f, field := range fields {
						name := base + "|" + field
						hod := float64(at.Hour())
						v := 1000 * (1 + float64(f)) * (2 + math.Sin(hod/24*2*math.Pi)) * (1 + 0.2*rng.NormFloat64())
						if rng.IntN(50) == 0 {
							v *= 30
						}
						// Entity 0 by its group, 1 by names, 2 by both.
						byGroup := ei == 0 || ei == 2 && step%2 == 0
						if !sameAnswers(t, plain, grouped, g, name, f, byGroup, at, v) {
							return
						}
						compared++
						z, _, _ := plain.Deviation(name, at, v)
						if math.Abs(z) >= 4 {
							plain.Note(name, at, v)
							if byGroup {
								g.Note(f, at, v)
							} else {
								grouped.Note(name, at, v)
							}
							continue
						}
						plain.Observe(name, at, v)
						if byGroup {
							g.Observe(f, at, v)
						} else {
							grouped.Observe(name, at, v)
						}
					}
				}
				plain.Observe("other", at, 5)
				grouped.Observe("other", at, 5)
			}
			if plain.Keys() != grouped.Keys() || plain.Keys() != 2*len(fields)+1 {
				t.Fatalf("keys: plain %d, grouped %d, want %d", plain.Keys(), grouped.Keys(), 2*len(fields)+1)
			}
			a, err := plain.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			b, err := grouped.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("saved models differ: %d and %d bytes", len(a), len(b))
			}
			loaded := NewSeasonal(cfg)
			if err := loaded.SetFields("|", fields); err != nil {
				t.Fatal(err)
			}
			if err := loaded.UnmarshalBinary(a); err != nil {
				t.Fatal(err)
			}
			if c, _ := loaded.MarshalBinary(); !bytes.Equal(a, c) {
				t.Fatal("a grouped model saves what it loaded differently")
			}
			at := start.Add(9 * 24 * time.Hour)
			for _, base := range entities[:2] {
				for f, field := range fields {
					if !sameAnswers(t, plain, loaded, loaded.Entity(base), base+"|"+field, f, true, at, 2000) {
						return
					}
				}
			}
			if compared < 1000 {
				t.Fatalf("only %d answers compared", compared)
			}
		})
	}
}

// sameAnswers compares every answer of plain's key name with grouped's,
// asked through g's field f when byGroup, through the name otherwise, and
// reports whether they are the same to the bit. Track changes the key:
// both are asked alike.
func sameAnswers(t *testing.T, plain, grouped *Seasonal, g *SeasonalKeys, name string, f int, byGroup bool, at time.Time, v float64) bool {
	t.Helper()
	var got, want []float64
	add := func(dst *[]float64, xs ...float64) { *dst = append(*dst, xs...) }
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	e1, s1, ok1 := plain.Expect(name, at)
	z1, x1, ok2 := plain.Deviation(name, at, v)
	q1, qx1, ok3 := plain.QuietDeviation(name, at, v)
	h1, st1, ok4 := plain.RecentHigh(name, at)
	seen1 := plain.Seen(name, at, z1)
	sh1, by1, run1 := plain.Track(name, at, v, z1, 4)
	add(&want, e1, s1, b2f(ok1), z1, x1, b2f(ok2), q1, qx1, b2f(ok3), h1, st1, b2f(ok4), b2f(seen1), b2f(sh1), by1, float64(run1))
	if byGroup {
		e, s, ok := g.Expect(f, at)
		z, x, okd := g.Deviation(f, at, v)
		q, qx, okq := g.QuietDeviation(f, at, v)
		h, st, okh := g.RecentHigh(f, at)
		seen := g.Seen(f, at, z)
		sh, by, run := g.Track(f, at, v, z, 4)
		add(&got, e, s, b2f(ok), z, x, b2f(okd), q, qx, b2f(okq), h, st, b2f(okh), b2f(seen), b2f(sh), by, float64(run))
	} else {
		e, s, ok := grouped.Expect(name, at)
		z, x, okd := grouped.Deviation(name, at, v)
		q, qx, okq := grouped.QuietDeviation(name, at, v)
		h, st, okh := grouped.RecentHigh(name, at)
		seen := grouped.Seen(name, at, z)
		sh, by, run := grouped.Track(name, at, v, z, 4)
		add(&got, e, s, b2f(ok), z, x, b2f(okd), q, qx, b2f(okq), h, st, b2f(okh), b2f(seen), b2f(sh), by, float64(run))
	}
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			t.Errorf("%s at %s: answer %d is %v, plain model %v", name, at.Format(time.RFC3339), i, got[i], want[i])
			return false
		}
	}
	return true
}

// TestSeasonalEntityForget checks that forgetting a grouped key, by name
// or with its group, drops it and nothing else, and that a group whose
// keys are all gone leaves the model.
func TestSeasonalEntityForget(t *testing.T) {
	s := NewSeasonal(SeasonalConfig{LogScale: true})
	if err := s.SetFields("|", []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"x|a", "x|b", "y|a", "z"} {
		s.Observe(name, at, 1)
	}
	s.Entity("w").Observe(1, at, 1)
	if s.Keys() != 5 {
		t.Fatalf("%d keys, want 5", s.Keys())
	}
	if !s.Forget("x|a") || s.Forget("x|a") || s.Forget("y|b") {
		t.Fatal("Forget by name answered wrongly")
	}
	if _, _, ok := s.Entity("x").RecentHigh(0, at.Add(time.Hour)); ok {
		t.Fatal("x|a answers after Forget")
	}
	if _, _, ok := s.Entity("x").RecentHigh(1, at.Add(time.Hour)); !ok {
		t.Fatal("x|b was forgotten with x|a")
	}
	if n := s.Entity("x").Forget(); n != 1 {
		t.Fatalf("group x forgot %d keys, want 1", n)
	}
	if s.Keys() != 3 || len(s.groups) != 2 {
		t.Fatalf("%d keys in %d groups, want 3 in 2 (y, w)", s.Keys(), len(s.groups))
	}
	if s.find("w|b") == nil || s.find("z") == nil || s.find("w|a") != nil {
		t.Fatal("names do not find the keys of groups")
	}
}

// TestSeasonalSetFieldsRefuses checks the fields a model cannot group by.
func TestSeasonalSetFieldsRefuses(t *testing.T) {
	learned := NewSeasonal(SeasonalConfig{})
	learned.Observe("k", time.Unix(0, 0), 1)
	for _, tc := range []struct {
		name   string
		s      *Seasonal
		sep    string
		fields []string
	}{
		{"no separator", NewSeasonal(SeasonalConfig{}), "", []string{"a"}},
		{"empty field", NewSeasonal(SeasonalConfig{}), "|", []string{"a", ""}},
		{"separator in a field", NewSeasonal(SeasonalConfig{}), "|", []string{"a|b"}},
		{"field twice", NewSeasonal(SeasonalConfig{}), "|", []string{"a", "b", "a"}},
		{"keys learned", learned, "|", []string{"a"}},
	} {
		if err := tc.s.SetFields(tc.sep, tc.fields); err == nil {
			t.Errorf("%s: SetFields(%q, %q) accepted", tc.name, tc.sep, tc.fields)
		}
	}
}

// TestSeasonalKeyRowIsItsCells checks row against rank, cell by cell, on
// random bitmaps (a row can straddle two words of the bitmap).
func TestSeasonalKeyRowIsItsCells(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		var k seasonalKey
		for i := range k.filled {
			k.filled[i] = rng.Uint64() & rng.Uint64()
		}
		k.filled[len(k.filled)-1] &= 1<<(cellsPerKey%64) - 1
		for hod := range hoursPerDay {
			r0, held := k.row(hod)
			for col := range daysKept {
				r, ok := k.rank(hod*daysKept + col)
				if got := held&(1<<col) != 0; got != ok {
					t.Fatalf("bitmap %x, hour %d column %d: row says held %v, rank %v", k.filled, hod, col, got, ok)
				}
				if ok && r0+bits.OnesCount8(held&(1<<col-1)) != r {
					t.Fatalf("bitmap %x, hour %d column %d: row's rank differs from rank %d", k.filled, hod, col, r)
				}
			}
		}
	}
}

// TestSelectMedianIsMedian checks selectMedian against Median to the bit
// on random samples of every length up to a week of cells, with ties,
// zeros of both signs, infinities and NaNs.
func TestSelectMedianIsMedian(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pick := []float64{0, math.Copysign(0, -1), 1, 2.5, math.Inf(1), math.Inf(-1), math.NaN()}
	for n := range cellsPerKey + 1 {
		for trial := range 20 {
			x := make([]float64, n)
			for i := range x {
				switch {
				case trial%4 == 0:
					x[i] = float64(rng.IntN(4)) // many ties
				case trial%4 == 1 && rng.IntN(8) == 0:
					x[i] = pick[rng.IntN(len(pick))]
				default:
					x[i] = rng.NormFloat64()
				}
			}
			y := slices.Clone(x)
			want, got := Median(x), selectMedian(y)
			if math.Float64bits(got) != math.Float64bits(want) && !(got == 0 && want == 0) && !(math.IsNaN(got) && math.IsNaN(want)) {
				t.Fatalf("n=%d: selectMedian %v, Median %v", n, got, want)
			}
		}
	}
}

// FuzzSeasonalUnmarshalGrouped checks that a model grouping its keys by
// entity reads exactly what a plain one reads: the same encodings
// accepted, and saved again as the same bytes.
func FuzzSeasonalUnmarshalGrouped(f *testing.F) {
	cfg := SeasonalConfig{Bucket: 20 * time.Minute, LogScale: true}
	s := NewSeasonal(cfg)
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for i := range 3 * 24 * 3 {
		for _, name := range []string{"x|a", "x|b", "y|a", "x|c", "z"} {
			s.Observe(name, at.Add(time.Duration(i)*cfg.Bucket), float64(10+i%7))
		}
	}
	good, _ := s.MarshalBinary()
	f.Add(good)
	if data, err := os.ReadFile("testdata/seasonal-v4-log.bin"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, grouped := NewSeasonal(cfg), NewSeasonal(cfg)
		if err := grouped.SetFields("|", []string{"a", "b"}); err != nil {
			t.Fatal(err)
		}
		errPlain, errGrouped := plain.UnmarshalBinary(data), grouped.UnmarshalBinary(data)
		if (errPlain == nil) != (errGrouped == nil) {
			t.Fatalf("plain model: %v; grouped model: %v", errPlain, errGrouped)
		}
		if errPlain != nil {
			return
		}
		a, _ := plain.MarshalBinary()
		b, _ := grouped.MarshalBinary()
		if !bytes.Equal(a, b) || plain.Keys() != grouped.Keys() {
			t.Fatalf("grouped model saves %d bytes of %d keys, plain %d bytes of %d keys", len(b), grouped.Keys(), len(a), plain.Keys())
		}
	})
}
