package detect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
)

// SaveModel writes the forest, its training sample and the baselines.
func (d *isolationDetector) SaveModel(w io.Writer) error {
	forest, err := d.forest.MarshalBinary()
	if err != nil {
		return err
	}
	train, err := d.train.MarshalBinary()
	if err != nil {
		return err
	}
	baseline, err := d.baseline.MarshalBinary()
	if err != nil {
		return err
	}
	var meta, rings bytes.Buffer
	le := binary.LittleEndian
	_ = binary.Write(&meta, le, []int64{timeNanos(d.firstSeen), timeNanos(d.lastTrain), timeNanos(d.firstFit), timeNanos(d.lastEnd), int64(d.dims())})
	ents := make([]Entity, 0, len(d.recent))
	for e := range d.recent {
		ents = append(ents, e)
	}
	slices.SortFunc(ents, entityKeyCompare)
	_ = binary.Write(&rings, le, uint32(len(ents)))
	for _, e := range ents {
		for _, s := range []string{e.Cluster, e.Namespace, e.Workload, e.Type} {
			_ = binary.Write(&rings, le, uint32(len(s)))
			rings.WriteString(s)
		}
		r := d.recent[e]
		_ = binary.Write(&rings, le, []uint32{uint32(r.next), uint32(r.len())})
		_ = binary.Write(&rings, le, timeNanos(r.since))
		starts := make([]int64, len(r.at))
		for i := range r.at {
			starts[i] = r.start(i)
		}
		_ = binary.Write(&rings, le, starts)
		vals := make([]float32, len(r.rows))
		for i, v := range r.rows {
			vals[i] = float32(v.float())
		}
		_ = binary.Write(&rings, le, vals)
	}
	return writeModelFile(w, d.name, d.rows, meta.Bytes(), forest, train, baseline, rings.Bytes())
}

func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// LoadModel replaces the model with a saved one; on error it is unchanged.
func (d *isolationDetector) LoadModel(r io.Reader) error {
	rows, parts, err := readModelFile(r, d.name, 5)
	if err != nil {
		return err
	}
	bad := func(what string, err error) error {
		return fmt.Errorf("%s model: %s: %v: %w", d.name, what, err, errModelFile)
	}
	le := binary.LittleEndian
	if len(parts[0]) != 40 {
		return bad("header", fmt.Errorf("%d bytes", len(parts[0])))
	}
	var stamps [5]int64
	for i := range stamps {
		stamps[i] = int64(le.Uint64(parts[0][8*i:]))
	}
	dims := stamps[4]
	if dims != int64(d.dims()) {
		return bad("features", fmt.Errorf("the file has %d features, this detector %d", dims, d.dims()))
	}
	forest := model.NewForest(d.forestCfg)
	if err := forest.UnmarshalBinary(parts[1]); err != nil {
		return bad("forest", err)
	}
	if forest.Fitted() && forest.Dims() != d.dims() {
		return bad("forest", fmt.Errorf("%d features", forest.Dims()))
	}
	train := model.NewReservoir(1, 1, 0)
	if err := train.UnmarshalBinary(parts[2]); err != nil {
		return bad("training sample", err)
	}
	if train.Dims() != d.dims() {
		return bad("training sample", fmt.Errorf("%d features", train.Dims()))
	}
	baseline, err := newFieldModel(d.baseline.Config(), d.metrics)
	if err != nil {
		return bad("baselines", err)
	}
	if err := baseline.UnmarshalBinary(parts[3]); err != nil {
		return bad("baselines", err)
	}
	recent, err := readRowRings(parts[4], d.dims())
	if err != nil {
		return bad("recent windows", err)
	}
	d.rows, d.firstSeen, d.lastTrain = rows, nanosTime(stamps[0]), nanosTime(stamps[1])
	d.firstFit, d.lastEnd = nanosTime(stamps[2]), nanosTime(stamps[3])
	d.forest, d.train, d.baseline, d.keys, d.recent = forest, train, baseline, newKeyCache(baseline), recent
	// A model saved before its baselines were shared holds its own of the
	// fields the owner now keeps.
	d.dropShared()
	// The saved rings tell when each entity was last kept.
	d.seen = make(entityClock, len(recent))
	for e, r := range recent {
		d.seen.see(e, r.since)
		for i := range r.at {
			d.seen.see(e, time.Unix(r.start(i), 0))
		}
	}
	return nil
}

func readRowRings(p []byte, dims int) (map[Entity]*rowRing, error) {
	le := binary.LittleEndian
	truncated := errors.New("truncated")
	u32 := func() (uint32, bool) {
		if len(p) < 4 {
			return 0, false
		}
		v := le.Uint32(p)
		p = p[4:]
		return v, true
	}
	n, ok := u32()
	if !ok || uint64(n) > uint64(len(p)) {
		return nil, truncated
	}
	out := make(map[Entity]*rowRing, n)
	for range n {
		var e Entity
		for _, s := range []*string{&e.Cluster, &e.Namespace, &e.Workload, &e.Type} {
			l, ok := u32()
			if !ok || uint64(l) > uint64(len(p)) {
				return nil, truncated
			}
			*s, p = string(p[:l]), p[l:]
		}
		next, ok1 := u32()
		count, ok2 := u32()
		size := uint64(count) * uint64(dims)
		if !ok1 || !ok2 || count > recentWindows || uint64(len(p)) < 8+8*uint64(count)+4*size || (next != 0 && (count < recentWindows || next >= count)) {
			return nil, fmt.Errorf("entity %s: malformed", e.Key())
		}
		since := nanosTime(int64(le.Uint64(p)))
		p = p[8:]
		r := &rowRing{since: since, dims: dims, at: make([]int32, count), rows: make([]rowValue, size), next: int(next)}
		for i := range r.at {
			o, ok := ringOffset(since, int64(le.Uint64(p[8*i:])))
			if !ok {
				return nil, fmt.Errorf("entity %s: a window 68 years from the first", e.Key())
			}
			r.at[i] = o
		}
		p = p[8*count:]
		for i := range r.rows {
			r.rows[i] = toRowValue(float64(math.Float32frombits(le.Uint32(p[4*i:]))))
		}
		p = p[4*size:]
		out[e] = r
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%d bytes left over", len(p))
	}
	return out, nil
}
