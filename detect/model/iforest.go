package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
)

// Defaults of an isolation forest, scikit-learn's.
const (
	DefaultEstimators = 100
	DefaultMaxSamples = 256
)

// eulerGamma is the Euler–Mascheroni constant of the harmonic number
// approximation in c(n).
const eulerGamma = 0.5772156649015329

// featureThreshold is the smallest range a feature must span in a node to
// be split on (scikit-learn's FEATURE_THRESHOLD).
const featureThreshold = 1e-7

// ForestConfig configures an isolation forest.
type ForestConfig struct {
	// Estimators is the number of trees (scikit-learn's n_estimators),
	// DefaultEstimators when 0.
	Estimators int
	// MaxSamples is the rows each tree is grown from (max_samples),
	// DefaultMaxSamples when 0; fewer when fewer rows are given.
	MaxSamples int
	// Seed makes the forest deterministic: the same seed and rows give the
	// same trees.
	Seed uint64
	// Extrapolate scores rows outside the training data's range as the
	// isolation forest means to, rather than as scikit-learn walks them
	// (see Forest). Rows within every node's range score the same either
	// way.
	Extrapolate bool
}

func (c ForestConfig) withDefaults() ForestConfig {
	if c.Estimators <= 0 {
		c.Estimators = DefaultEstimators
	}
	if c.MaxSamples <= 0 {
		c.MaxSamples = DefaultMaxSamples
	}
	return c
}

// forestNode is one node of a tree, trees stored flat in preorder: a split
// node's left child is the next node, its right child is at right. A leaf
// has feature -1 and holds in value its depth plus c(n) of the rows that
// reached it, the path length scikit-learn's score_samples counts.
type forestNode struct {
	value   float64 // split threshold (x <= value goes left), or a leaf's path length
	lo, hi  float64 // the range of the split feature over the node's rows
	feature int32
	right   int32
}

// Forest is an isolation forest (Liu, Ting and Zhou, 2008) that scores as
// scikit-learn's IsolationForest does: a row's score is 2^(-E[h]/c(ψ)),
// where h is the path length to the row's leaf in each tree (edges walked
// plus c(n) for the n training rows left in the leaf), ψ the rows each
// tree was grown from and c(n) = 2H(n-1) - 2(n-1)/n the average path
// length of an unsuccessful binary search. Score is therefore exactly
// -score_samples, and Calico's AD_*_IsolationForest_score_threshold t
// (negative, e.g. -0.836) alerts at Score >= -t.
//
// Trees grow as scikit-learn's ExtraTreeRegressor with one random feature
// per split: a feature drawn among those not constant in the node, a
// threshold uniform between its minimum and maximum, down to a depth of
// ceil(log2 ψ). A Forest is safe for concurrent scoring once fitted.
//
// Walked as scikit-learn walks it, a row far outside the training data
// scores no higher than the most extreme training row of its corner: a
// split's threshold lies within its node's rows, so the row always travels
// with them. In two dimensions and ψ = 256 that caps the score near 0.73,
// below Calico's default alert at 0.836, however far the row lies. With
// ForestConfig.Extrapolate, each split scores the row as if it had been
// among the node's rows when the threshold was drawn: a row at v beyond the
// node's range [lo, hi] of the split feature would have been cut off alone,
// at the next depth, with probability (v-hi)/(v-lo) (or (lo-v)/(hi-v)
// below), and travels on with the rest of the probability. The path length
// is the expectation of the two; rows within every range score exactly as
// in scikit-learn.
type Forest struct {
	cfg     ForestConfig
	dims    int
	samples int     // ψ, rows per tree
	norm    float64 // c(ψ)
	roots   []int32 // first node of each tree; a tree ends where the next begins
	nodes   []forestNode
}

// NewForest returns an unfitted forest.
func NewForest(cfg ForestConfig) *Forest {
	return &Forest{cfg: cfg.withDefaults()}
}

// Config is the forest's configuration (with defaults filled in).
func (f *Forest) Config() ForestConfig { return f.cfg }

// Fitted reports whether the forest has trees.
func (f *Forest) Fitted() bool { return len(f.roots) > 0 }

// Dims is the number of features the forest was fitted on.
func (f *Forest) Dims() int { return f.dims }

// Nodes is the number of nodes over all trees.
func (f *Forest) Nodes() int { return len(f.nodes) }

// AveragePathLength is c(n), the average path length of an unsuccessful
// search in a binary search tree of n rows, as scikit-learn computes it:
// 0 for n <= 1, 1 for n = 2, 2(ln(n-1)+γ) - 2(n-1)/n above.
func AveragePathLength(n float64) float64 {
	switch {
	case n <= 1:
		return 0
	case n <= 2:
		return 1
	}
	return 2*(math.Log(n-1)+eulerGamma) - 2*(n-1)/n
}

// Fit grows the trees from rows, a row-major matrix of dims features per
// row (len(x) = rows·dims), replacing any trees the forest had. Each tree
// draws its ψ = min(MaxSamples, rows) rows without replacement.
func (f *Forest) Fit(x []float64, dims int) error {
	if dims <= 0 {
		return fmt.Errorf("isolation forest: %d features, want at least 1", dims)
	}
	if len(x)%dims != 0 {
		return fmt.Errorf("isolation forest: %d values is not a whole number of rows of %d features", len(x), dims)
	}
	n := len(x) / dims
	if n < 2 {
		return fmt.Errorf("isolation forest: %d rows, want at least 2", n)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("isolation forest: row %d feature %d is %v", i/dims, i%dims, v)
		}
	}
	cfg := f.cfg
	psi := min(cfg.MaxSamples, n)
	if psi > math.MaxInt32/2 {
		return fmt.Errorf("isolation forest: %d samples per tree is too many", psi)
	}
	b := builder{
		x: x, dims: dims,
		rng:      rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
		maxDepth: int(math.Ceil(math.Log2(float64(max(psi, 2))))),
		perm:     make([]int32, n),
		feats:    make([]int32, dims),
		nodes:    make([]forestNode, 0, cfg.Estimators*(2*psi-1)),
	}
	roots := make([]int32, 0, cfg.Estimators)
	for i := range b.perm {
		b.perm[i] = int32(i)
	}
	for range cfg.Estimators {
		// A partial Fisher–Yates shuffle draws ψ distinct rows.
		for i := range psi {
			j := i + b.rng.IntN(n-i)
			b.perm[i], b.perm[j] = b.perm[j], b.perm[i]
		}
		idx := append(b.idx[:0], b.perm[:psi]...)
		b.idx = idx
		roots = append(roots, int32(len(b.nodes)))
		b.grow(idx, 0)
	}
	f.dims, f.samples, f.norm = dims, psi, AveragePathLength(float64(psi))
	f.roots, f.nodes = roots, b.nodes
	return nil
}

type builder struct {
	x        []float64
	dims     int
	rng      *rand.Rand
	maxDepth int
	perm     []int32
	idx      []int32
	feats    []int32
	nodes    []forestNode
}

// grow appends the subtree of rows idx at depth and returns its index.
func (b *builder) grow(idx []int32, depth int) int32 {
	at := int32(len(b.nodes))
	feat, lo, hi, ok := int32(-1), 0.0, 0.0, false
	if depth < b.maxDepth && len(idx) > 1 {
		feat, lo, hi, ok = b.pickFeature(idx)
	}
	if !ok {
		b.nodes = append(b.nodes, forestNode{value: float64(depth) + AveragePathLength(float64(len(idx))), feature: -1})
		return at
	}
	thr := lo + b.rng.Float64()*(hi-lo)
	if thr >= hi { // rounding; as scikit-learn does
		thr = lo
	}
	// Partition: rows with x <= thr first.
	i, j := 0, len(idx)-1
	for i <= j {
		if b.x[int(idx[i])*b.dims+int(feat)] <= thr {
			i++
		} else {
			idx[i], idx[j] = idx[j], idx[i]
			j--
		}
	}
	b.nodes = append(b.nodes, forestNode{value: thr, lo: lo, hi: hi, feature: feat})
	b.grow(idx[:i], depth+1)
	b.nodes[at].right = b.grow(idx[i:], depth+1)
	return at
}

// pickFeature draws features without replacement until one spans more than
// featureThreshold over idx; ok is false when every feature is constant.
func (b *builder) pickFeature(idx []int32) (feat int32, lo, hi float64, ok bool) {
	for i := range b.feats {
		b.feats[i] = int32(i)
	}
	for left := len(b.feats); left > 0; left-- {
		k := b.rng.IntN(left)
		feat = b.feats[k]
		b.feats[k], b.feats[left-1] = b.feats[left-1], b.feats[k]
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, r := range idx {
			v := b.x[int(r)*b.dims+int(feat)]
			lo, hi = min(lo, v), max(hi, v)
		}
		if hi-lo > featureThreshold {
			return feat, lo, hi, true
		}
	}
	return -1, 0, 0, false
}

// PathLength is the mean path length E[h] of row over the trees. It panics
// when row has fewer features than the forest was fitted on.
func (f *Forest) PathLength(row []float64) float64 {
	_ = row[f.dims-1]
	var sum float64
	for _, i := range f.roots {
		for {
			n := &f.nodes[i]
			if n.feature < 0 {
				sum += n.value
				break
			}
			if row[n.feature] <= n.value {
				i++
			} else {
				i = n.right
			}
		}
	}
	return sum / float64(len(f.roots))
}

// extrapolatedPathLength is PathLength with Extrapolate's expectation at
// every split whose range the row lies outside.
func (f *Forest) extrapolatedPathLength(row []float64) float64 {
	_ = row[f.dims-1]
	var sum float64
	for _, i := range f.roots {
		h, weight, depth := 0.0, 1.0, 0.0
		for {
			n := &f.nodes[i]
			if n.feature < 0 {
				h += weight * n.value
				break
			}
			v := row[n.feature]
			var p float64
			switch {
			case v > n.hi:
				p = (v - n.hi) / (v - n.lo)
			case v < n.lo:
				p = (n.lo - v) / (n.hi - v)
			}
			h += weight * p * (depth + 1)
			weight *= 1 - p
			depth++
			if v <= n.value {
				i++
			} else {
				i = n.right
			}
		}
		sum += h
	}
	return sum / float64(len(f.roots))
}

// Score is the anomaly score of row, 2^(-E[h]/c(ψ)) in (0, 1]: about 0.5
// and below for ordinary rows, near 1 for rows isolated in few splits.
// Without Extrapolate it equals -score_samples of scikit-learn's
// IsolationForest. An unfitted forest scores 0.
func (f *Forest) Score(row []float64) float64 {
	if len(f.roots) == 0 {
		return 0
	}
	if f.norm == 0 { // ψ = 1: every row is a leaf at the root
		return 1
	}
	if f.cfg.Extrapolate {
		return math.Exp2(-f.extrapolatedPathLength(row) / f.norm)
	}
	return math.Exp2(-f.PathLength(row) / f.norm)
}

// ScoreRows scores every row of x (row-major, Dims features each) into
// out, which it returns, resized. It gives the same scores as Score row by
// row, walking each tree for all rows in turn, so a tree stays in cache:
// the way to score a window of many entities.
func (f *Forest) ScoreRows(x []float64, out []float64) []float64 {
	n := 0
	if f.dims > 0 {
		n = len(x) / f.dims
	}
	if cap(out) < n {
		out = make([]float64, n)
	}
	out = out[:n]
	clear(out)
	if len(f.roots) == 0 || n == 0 {
		return out
	}
	if f.norm == 0 {
		for i := range out {
			out[i] = 1
		}
		return out
	}
	for _, root := range f.roots {
		for r := range n {
			row := x[r*f.dims : (r+1)*f.dims]
			if f.cfg.Extrapolate {
				out[r] += f.treePathExtrapolated(root, row)
			} else {
				out[r] += f.treePath(root, row)
			}
		}
	}
	k := float64(len(f.roots)) * f.norm
	for i, h := range out {
		out[i] = math.Exp2(-h / k)
	}
	return out
}

func (f *Forest) treePath(i int32, row []float64) float64 {
	for {
		n := &f.nodes[i]
		if n.feature < 0 {
			return n.value
		}
		if row[n.feature] <= n.value {
			i++
		} else {
			i = n.right
		}
	}
}

func (f *Forest) treePathExtrapolated(i int32, row []float64) float64 {
	h, weight, depth := 0.0, 1.0, 0.0
	for {
		n := &f.nodes[i]
		if n.feature < 0 {
			return h + weight*n.value
		}
		v := row[n.feature]
		var p float64
		switch {
		case v > n.hi:
			p = (v - n.hi) / (v - n.lo)
		case v < n.lo:
			p = (n.lo - v) / (n.hi - v)
		}
		h += weight * p * (depth + 1)
		weight *= 1 - p
		depth++
		if v <= n.value {
			i++
		} else {
			i = n.right
		}
	}
}

// ThresholdFromCalico turns Calico's AD_*_IsolationForest_score_threshold
// (scikit-learn's score_samples scale, negative, more negative means fewer
// alerts) into the Score at or above which a row is anomalous.
func ThresholdFromCalico(scoreThreshold float64) float64 { return -scoreThreshold }

// Binary format: magic, version, configuration, shape, tree roots, nodes,
// then a CRC-32 (IEEE) of everything before it; little endian.
var forestMagic = []byte("CAEIFOR")

const forestVersion = 1

// forestNodeBytes is the size of one encoded node.
const forestNodeBytes = 32

// MarshalBinary encodes the forest, configuration and trees.
func (f *Forest) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(forestMagic) + 1 + 40 + 4*len(f.roots) + forestNodeBytes*len(f.nodes) + 4)
	b.Write(forestMagic)
	b.WriteByte(forestVersion)
	var buf [forestNodeBytes]byte
	le := binary.LittleEndian
	put32 := func(v uint32) { le.PutUint32(buf[:4], v); b.Write(buf[:4]) }
	put64 := func(v uint64) { le.PutUint64(buf[:8], v); b.Write(buf[:8]) }
	put32(uint32(f.cfg.Estimators))
	put32(uint32(f.cfg.MaxSamples))
	put64(f.cfg.Seed)
	flags := uint32(0)
	if f.cfg.Extrapolate {
		flags = 1
	}
	put32(flags)
	put32(uint32(f.dims))
	put32(uint32(f.samples))
	put32(uint32(len(f.roots)))
	put32(uint32(len(f.nodes)))
	for _, r := range f.roots {
		put32(uint32(r))
	}
	for _, n := range f.nodes {
		le.PutUint64(buf[:8], math.Float64bits(n.value))
		le.PutUint64(buf[8:16], math.Float64bits(n.lo))
		le.PutUint64(buf[16:24], math.Float64bits(n.hi))
		le.PutUint32(buf[24:28], uint32(n.feature))
		le.PutUint32(buf[28:32], uint32(n.right))
		b.Write(buf[:])
	}
	put32(crc32.ChecksumIEEE(b.Bytes()))
	return b.Bytes(), nil
}

// errForest wraps every reason a forest encoding is refused.
var errForest = errors.New("isolation forest model")

func forestErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format+": %w", append(append([]any{errForest}, args...), ErrCorruptModel)...)
}

// UnmarshalBinary replaces the forest with one written by MarshalBinary.
// It refuses, leaving the receiver unchanged, an encoding that is
// truncated, altered (checksum), of another version, or whose trees do not
// form valid trees over its features.
func (f *Forest) UnmarshalBinary(data []byte) error {
	const header = 7*4 + 8
	if len(data) < len(forestMagic)+1+4 || !bytes.Equal(data[:len(forestMagic)], forestMagic) {
		return forestErr("not an isolation forest")
	}
	if v := data[len(forestMagic)]; v != forestVersion {
		return forestErr("format version %d, this build reads %d", v, forestVersion)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return forestErr("checksum mismatch")
	}
	p := body[len(forestMagic)+1:]
	if len(p) < header {
		return forestErr("truncated header")
	}
	le := binary.LittleEndian
	cfg := ForestConfig{Estimators: int(le.Uint32(p)), MaxSamples: int(le.Uint32(p[4:])), Seed: le.Uint64(p[8:])}
	flags := le.Uint32(p[16:])
	if flags > 1 {
		return forestErr("unknown flags %#x", flags)
	}
	cfg.Extrapolate = flags == 1
	dims, samples := le.Uint32(p[20:]), le.Uint32(p[24:])
	ntrees, nnodes := le.Uint32(p[28:]), le.Uint32(p[32:])
	p = p[header:]
	if uint64(len(p)) != 4*uint64(ntrees)+forestNodeBytes*uint64(nnodes) {
		return forestErr("%d trees and %d nodes do not fill %d bytes", ntrees, nnodes, len(p))
	}
	if cfg.Estimators <= 0 || cfg.MaxSamples <= 0 || cfg.Estimators > math.MaxInt32 || cfg.MaxSamples > math.MaxInt32 {
		return forestErr("configuration %d trees of %d samples", cfg.Estimators, cfg.MaxSamples)
	}
	if ntrees > 0 && (dims == 0 || dims > 1<<20 || samples == 0 || int(samples) > cfg.MaxSamples || ntrees > nnodes) {
		return forestErr("shape %d features, %d samples, %d trees, %d nodes", dims, samples, ntrees, nnodes)
	}
	roots := make([]int32, ntrees)
	for i := range roots {
		roots[i] = int32(le.Uint32(p[4*i:]))
	}
	p = p[4*ntrees:]
	nodes := make([]forestNode, nnodes)
	for i := range nodes {
		q := p[forestNodeBytes*i:]
		nodes[i] = forestNode{
			value: math.Float64frombits(le.Uint64(q)), lo: math.Float64frombits(le.Uint64(q[8:])), hi: math.Float64frombits(le.Uint64(q[16:])),
			feature: int32(le.Uint32(q[24:])), right: int32(le.Uint32(q[28:])),
		}
	}
	// Each tree occupies [root, next root) in preorder: a split's left
	// child follows it, its right child lies after it within the tree, so
	// every walk moves forward and ends at a leaf inside the tree.
	for t, r := range roots {
		end := int32(nnodes)
		if t+1 < len(roots) {
			end = roots[t+1]
		}
		if (t == 0 && r != 0) || r < 0 || r >= end {
			return forestErr("tree %d spans nodes %d to %d", t, r, end)
		}
		if nodes[end-1].feature >= 0 {
			return forestErr("tree %d does not end in a leaf", t)
		}
		for i := r; i < end; i++ {
			n := nodes[i]
			switch {
			case math.IsNaN(n.value) || math.IsInf(n.value, 0):
				return forestErr("node %d holds %v", i, n.value)
			case n.feature < 0 && (n.feature != -1 || n.value < 0):
				return forestErr("leaf %d is malformed", i)
			case n.feature >= 0 && (uint32(n.feature) >= dims || n.right <= i+1 || n.right >= end):
				return forestErr("split %d on feature %d goes to node %d", i, n.feature, n.right)
			case n.feature >= 0 && !(n.lo < n.hi && n.lo <= n.value && n.value <= n.hi && !math.IsInf(n.lo, 0) && !math.IsInf(n.hi, 0)):
				return forestErr("split %d at %v outside its range %v..%v", i, n.value, n.lo, n.hi)
			}
		}
	}
	f.cfg, f.dims, f.samples = cfg, int(dims), int(samples)
	f.norm = AveragePathLength(float64(samples))
	f.roots, f.nodes = roots, nodes
	if ntrees == 0 {
		f.dims, f.samples, f.norm, f.roots, f.nodes = 0, 0, 0, nil, nil
	}
	return nil
}

// Reservoir keeps a uniform sample of at most Cap rows of a stream
// (Vitter's algorithm R), deterministic for a seed: the rows a model trains
// on, bounded whatever the stream's length.
type Reservoir struct {
	dims int
	cap  int
	seen uint64
	rows []float64 // row-major, len = min(seen, cap)·dims
	pcg  *rand.PCG
	rng  *rand.Rand
}

// NewReservoir returns an empty reservoir of rows of dims values holding at
// most capacity rows.
func NewReservoir(dims, capacity int, seed uint64) *Reservoir {
	pcg := rand.NewPCG(seed, 0x2545f4914f6cdd1d)
	return &Reservoir{dims: max(dims, 1), cap: max(capacity, 1), pcg: pcg, rng: rand.New(pcg)}
}

// Add offers a row (copied); it is kept with probability Cap/Seen.
func (r *Reservoir) Add(row []float64) {
	if len(row) != r.dims {
		panic(fmt.Sprintf("reservoir: row of %d values, want %d", len(row), r.dims))
	}
	if r.seen < math.MaxUint64 { // saturates rather than wrapping to 0
		r.seen++
	}
	if n := len(r.rows) / r.dims; n < r.cap {
		r.rows = append(r.rows, row...)
		return
	}
	if j := r.rng.Uint64N(r.seen); j < uint64(r.cap) {
		copy(r.rows[int(j)*r.dims:], row)
	}
}

// Rows is the sample, row-major; it must not be modified.
func (r *Reservoir) Rows() []float64 { return r.rows }

// Len is the number of rows held.
func (r *Reservoir) Len() int { return len(r.rows) / r.dims }

// Seen is the number of rows offered.
func (r *Reservoir) Seen() uint64 { return r.seen }

// Dims is the number of values per row.
func (r *Reservoir) Dims() int { return r.dims }

// Column copies feature j of every row held into dst[:0] and returns it.
func (r *Reservoir) Column(j int, dst []float64) []float64 {
	dst = dst[:0]
	for i := j; i < len(r.rows); i += r.dims {
		dst = append(dst, r.rows[i])
	}
	return dst
}

var reservoirMagic = []byte("CAERSV")

const reservoirVersion = 1

// MarshalBinary encodes the sample and the random state, so a reservoir
// read back continues exactly as the one written.
func (r *Reservoir) MarshalBinary() ([]byte, error) {
	state, err := r.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(reservoirMagic)
	b.WriteByte(reservoirVersion)
	le := binary.LittleEndian
	var buf [8]byte
	put32 := func(v uint32) { le.PutUint32(buf[:4], v); b.Write(buf[:4]) }
	put32(uint32(r.dims))
	put32(uint32(r.cap))
	le.PutUint64(buf[:], r.seen)
	b.Write(buf[:])
	put32(uint32(len(state)))
	b.Write(state)
	put32(uint32(r.Len()))
	for _, v := range r.rows {
		le.PutUint64(buf[:], math.Float64bits(v))
		b.Write(buf[:])
	}
	put32(crc32.ChecksumIEEE(b.Bytes()))
	return b.Bytes(), nil
}

// UnmarshalBinary replaces the reservoir with one written by
// MarshalBinary; on error the receiver is unchanged.
func (r *Reservoir) UnmarshalBinary(data []byte) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("reservoir: "+format+": %w", append(args, ErrCorruptModel)...)
	}
	if len(data) < len(reservoirMagic)+1+4 || !bytes.Equal(data[:len(reservoirMagic)], reservoirMagic) {
		return bad("not a reservoir")
	}
	if v := data[len(reservoirMagic)]; v != reservoirVersion {
		return bad("format version %d, this build reads %d", v, reservoirVersion)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return bad("checksum mismatch")
	}
	p := body[len(reservoirMagic)+1:]
	le := binary.LittleEndian
	if len(p) < 20 {
		return bad("truncated")
	}
	dims, capacity, seen, slen := int(le.Uint32(p)), int(le.Uint32(p[4:])), le.Uint64(p[8:]), int(le.Uint32(p[16:]))
	p = p[20:]
	if dims <= 0 || capacity <= 0 || dims > 1<<20 || capacity > 1<<28 || slen > len(p) {
		return bad("shape %d values, capacity %d", dims, capacity)
	}
	pcg := &rand.PCG{}
	if err := pcg.UnmarshalBinary(p[:slen]); err != nil {
		return bad("random state: %v", err)
	}
	p = p[slen:]
	if len(p) < 4 {
		return bad("truncated")
	}
	n := int(le.Uint32(p))
	p = p[4:]
	if n > capacity || uint64(n) > seen || (uint64(n) < seen && n != capacity) || uint64(len(p)) != 8*uint64(n)*uint64(dims) {
		return bad("%d rows of %d values (capacity %d, %d seen) in %d bytes", n, dims, capacity, seen, len(p))
	}
	rows := make([]float64, n*dims)
	for i := range rows {
		rows[i] = math.Float64frombits(le.Uint64(p[8*i:]))
	}
	*r = Reservoir{dims: dims, cap: capacity, seen: seen, rows: rows, pcg: pcg, rng: rand.New(pcg)}
	return nil
}
