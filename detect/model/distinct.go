package model

import (
	"math"
	"slices"
)

// DistinctSketch counts the distinct values of a set in bounded memory: it
// keeps the K smallest 64-bit hashes of the values (a k-minimum-values
// sketch). Below K distinct values the count is exact; above, it is
// estimated from how small the K-th smallest hash is, (K-1)·2⁶⁴/h_K, with
// a relative error of about 1/√(K-2). Unlike a per-window cardinality, the
// sketches of several windows merge into the sketch of their union (as
// HyperLogLog's do), so distinct values over a sliding span of windows are
// counted without keeping the values. Memory: at most K hashes of 8 bytes.
type DistinctSketch struct {
	// Hashes holds the smallest hashes, ascending and distinct.
	Hashes []uint64
	// K is the most hashes kept.
	K int
}

// NewDistinctSketch returns the sketch of the values whose hashes are
// given (hashes is sorted and reused).
func NewDistinctSketch(k int, hashes []uint64) DistinctSketch {
	k = max(k, 2)
	slices.Sort(hashes)
	hashes = slices.Compact(hashes)
	if len(hashes) > k {
		hashes = hashes[:k]
	}
	return DistinctSketch{Hashes: slices.Clip(hashes), K: k}
}

// Count is the number of distinct values the sketch stands for.
func (s DistinctSketch) Count() float64 { return kmvCount(s.Hashes, s.K) }

func kmvCount(h []uint64, k int) float64 {
	if len(h) < k {
		return float64(len(h))
	}
	// h[k-1]/2^64 estimates k/(n+1); (k-1)/that is unbiased.
	frac := float64(h[k-1]) / math.Exp2(64)
	if frac <= 0 {
		return float64(k)
	}
	return math.Max(float64(k), float64(k-1)/frac)
}

// UnionCount is the number of distinct values in the union of the
// sketches, all built with the same K. scratch is reused between calls and
// returned.
func UnionCount(k int, scratch []uint64, sketches ...DistinctSketch) (float64, []uint64) {
	scratch = scratch[:0]
	for _, s := range sketches {
		scratch = append(scratch, s.Hashes...)
	}
	slices.Sort(scratch)
	scratch = slices.Compact(scratch)
	if len(scratch) > k {
		return kmvCount(scratch[:k], k), scratch
	}
	return kmvCount(scratch, k), scratch
}

// HashValue hashes a value for a DistinctSketch: FNV-1a then SplitMix64's
// finaliser, so neighbouring values (ports 1, 2, 3) spread over the whole
// range as the estimate needs.
func HashValue(v string) uint64 {
	x := uint64(fnvOffset64)
	for i := range len(v) {
		x ^= uint64(v[i])
		x *= fnvPrime64
	}
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// FNV-1a's 64-bit parameters (hash/fnv without its allocation).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)
