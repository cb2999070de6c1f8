package model

import (
	"math"
	"strconv"
	"testing"
)

func sketchOf(k, first, n int) DistinctSketch {
	h := make([]uint64, 0, n)
	for i := first; i < first+n; i++ {
		h = append(h, HashValue(strconv.Itoa(i)))
	}
	return NewDistinctSketch(k, h)
}

func TestDistinctSketchCounts(t *testing.T) {
	tests := []struct {
		name     string
		k        int
		sets     [][2]int // first, n of each sketch
		want     float64
		tolerate float64 // relative error allowed
	}{
		{"one small set is exact", 512, [][2]int{{0, 37}}, 37, 0},
		{"overlapping sets count their union exactly below k", 512, [][2]int{{0, 200}, {100, 200}}, 300, 0},
		{"disjoint sets above k are estimated", 512, [][2]int{{0, 3000}, {3000, 3000}}, 6000, 0.15},
		{"a set repeated does not grow", 64, [][2]int{{0, 1000}, {0, 1000}, {0, 1000}}, 1000, 0.35},
		{"nothing is zero", 16, nil, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sk []DistinctSketch
			for _, s := range tc.sets {
				sk = append(sk, sketchOf(tc.k, s[0], s[1]))
			}
			got, _ := UnionCount(tc.k, nil, sk...)
			if math.Abs(got-tc.want) > tc.tolerate*tc.want {
				t.Errorf("union count %v, want %v ± %.0f%%", got, tc.want, 100*tc.tolerate)
			}
			for _, s := range sk {
				if len(s.Hashes) > tc.k {
					t.Errorf("sketch holds %d hashes, more than k=%d", len(s.Hashes), tc.k)
				}
			}
		})
	}
}

func BenchmarkUnionCount(b *testing.B) {
	var sk []DistinctSketch
	for i := range 12 {
		sk = append(sk, sketchOf(512, i*40, 40))
	}
	var scratch []uint64
	b.ReportAllocs()
	for b.Loop() {
		_, scratch = UnionCount(512, scratch, sk...)
	}
}
