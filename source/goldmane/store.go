package goldmane

import (
	"cmp"
	"fmt"
	"sort"
	"sync"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
)

// Outcome is what became of one flow update.
type Outcome int

// The outcomes of a flow update, the result label of
// calico_anomaly_goldmane_flow_updates_total.
const (
	// Accepted updates were added to an open window.
	Accepted Outcome = iota
	// Duplicate updates repeat a 15-second interval of a key already
	// counted (a stream resumed after a reconnect replays what it had).
	Duplicate
	// Late updates belong to a window already closed and judged.
	Late
	// Dropped updates brought a new key to a window already holding the
	// most keys allowed (MaxKeys).
	Dropped
	// Malformed updates have no key, no times or no ends named.
	Malformed
	outcomes
)

func (o Outcome) String() string {
	return [...]string{"accepted", "duplicate", "late", "dropped", "malformed"}[o]
}

// slotSeconds is Goldmane's aggregation interval: every Stream update
// covers one 15-second slot.
const slotSeconds = 15

// store gathers flow updates into buckets aligned to the wall clock and
// closes them: an open bucket holds one entry per flow key with the
// 15-second slots already counted (so a replayed update is not counted
// twice); a closed bucket holds one Calico flow log record per key and is
// never changed again. It is safe for concurrent use.
type store struct {
	bucket  int64 // seconds
	slot    int64 // seconds per bit of slotSet
	maxKeys int

	mu      sync.Mutex
	open    map[int64]*openBucket
	closed  map[int64][]keyed
	through int64 // every bucket ending at or before this is closed
	counts  [outcomes]uint64
	listed  uint64 // flows taken from Flows.List answers (in counts too)
	cache   struct {
		w source.Window
		m *source.Memory
	}
}

// keyed is one key's statistics in a closed bucket; the Calico flow log
// record is written from it when the bucket is read (records take half as
// much memory again as the key and counters).
type keyed struct {
	k flowKey
	c counters
}

type openBucket struct {
	keys map[flowKey]*entry
}

type entry struct {
	c     counters
	slots uint64 // bit i: slot i of the bucket counted
}

func newStore(bucketSeconds int64, maxKeys int) *store {
	slot := int64(slotSeconds)
	for bucketSeconds/slot > 64 {
		slot += slotSeconds
	}
	return &store{bucket: bucketSeconds, slot: slot, maxKeys: maxKeys,
		open: map[int64]*openBucket{}, closed: map[int64][]keyed{}}
}

func (s *store) bucketOf(t int64) int64 { return floorDiv(t, s.bucket) * s.bucket }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// add counts one update in the open bucket holding its start time.
func (s *store) add(f *pb.Flow) Outcome {
	k, _, ok := keyOf(f.GetKey())
	if !ok || f.GetStartTime() <= 0 || f.GetEndTime() < f.GetStartTime() {
		return s.count(Malformed)
	}
	start := s.bucketOf(f.GetStartTime())
	first := (f.GetStartTime() - start) / s.slot
	last := min((max(f.GetEndTime()-1, f.GetStartTime())-start)/s.slot, s.bucket/s.slot-1)
	var mask uint64
	for i := first; i <= last; i++ {
		mask |= 1 << uint(i)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if start+s.bucket <= s.through {
		s.counts[Late]++
		return Late
	}
	b := s.open[start]
	if b == nil {
		b = &openBucket{keys: map[flowKey]*entry{}}
		s.open[start] = b
	}
	e := b.keys[k]
	switch {
	case e == nil && s.maxKeys > 0 && len(b.keys) >= s.maxKeys:
		s.counts[Dropped]++
		return Dropped
	case e == nil:
		e = &entry{}
		b.keys[k] = e
	case e.slots&mask != 0:
		s.counts[Duplicate]++
		return Duplicate
	}
	e.slots |= mask
	e.c.add(f)
	s.counts[Accepted]++
	return Accepted
}

func (s *store) count(o Outcome) Outcome {
	s.mu.Lock()
	s.counts[o]++
	s.mu.Unlock()
	return o
}

// closeThrough closes every open bucket that ends at or before t (Unix s).
func (s *store) closeThrough(t int64) {
	t = s.bucketOf(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t <= s.through {
		return
	}
	for start, b := range s.open {
		if start+s.bucket <= t {
			s.closed[start] = b.close()
			delete(s.open, start)
		}
	}
	// Buckets without a single update are closed too: empty, not unknown.
	for start := s.through; start < t; start += s.bucket {
		if _, ok := s.closed[start]; !ok {
			s.closed[start] = []keyed{}
		}
	}
	s.through = t
}

// close returns the bucket's keys and statistics in key order, so a
// bucket reads the same however its updates arrived.
func (b *openBucket) close() []keyed {
	out := make([]keyed, 0, len(b.keys))
	for k, e := range b.keys {
		out = append(out, keyed{k: k, c: e.c})
	}
	sort.Slice(out, func(i, j int) bool { return keyLess(out[i].k, out[j].k) })
	return out
}

func keyLess(a, b flowKey) bool {
	return cmp.Or(
		cmp.Compare(a.sourceNamespace, b.sourceNamespace), cmp.Compare(a.sourceName, b.sourceName),
		cmp.Compare(a.sourceType, b.sourceType), cmp.Compare(a.destNamespace, b.destNamespace),
		cmp.Compare(a.destName, b.destName), cmp.Compare(a.destType, b.destType),
		cmp.Compare(a.destPort, b.destPort), cmp.Compare(a.proto, b.proto),
		cmp.Compare(a.reporter, b.reporter), cmp.Compare(a.action, b.action),
		cmp.Compare(a.serviceNamespace, b.serviceNamespace), cmp.Compare(a.serviceName, b.serviceName),
		cmp.Compare(a.svcPort, b.svcPort), cmp.Compare(a.servicePortNum, b.servicePortNum),
		cmp.Compare(a.policies, b.policies),
	) < 0
}

// fill stores the flows a List answer gave for the bucket starting at
// start as that bucket, closed: List is asked only for buckets the stream
// did not cover, and its answer is complete.
func (s *store) fill(start int64, flows []*pb.Flow) {
	b := &openBucket{keys: map[flowKey]*entry{}}
	for _, f := range flows {
		k, _, ok := keyOf(f.GetKey())
		if !ok {
			s.count(Malformed)
			continue
		}
		e := b.keys[k]
		if e == nil {
			if s.maxKeys > 0 && len(b.keys) >= s.maxKeys {
				s.count(Dropped)
				continue
			}
			e = &entry{}
			b.keys[k] = e
		}
		e.c.add(f)
		s.count(Accepted)
	}
	recs := b.close()
	s.mu.Lock()
	s.listed += uint64(len(flows))
	s.closed[start] = recs
	s.mu.Unlock()
}

// has reports whether the bucket starting at start is closed and held.
func (s *store) has(start int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.closed[start]
	return ok
}

// memory returns the records of window w, whose buckets must all be
// closed and held, as an in-memory source.
func (s *store) memory(w source.Window) (*source.Memory, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache.m != nil && s.cache.w == w {
		return s.cache.m, nil
	}
	m := source.NewMemory(Kind)
	for start := w.Start.Unix(); start < w.End.Unix(); start += s.bucket {
		recs, ok := s.closed[start]
		if !ok {
			return nil, fmt.Errorf("goldmane: bucket at %d of window %s is not closed", start, w)
		}
		for i := range recs {
			m.AddFlows(recs[i].k.flowLog(&recs[i].c, start, start+s.bucket))
		}
	}
	s.cache.w, s.cache.m = w, m
	return m, nil
}

// prune forgets closed buckets that end before t.
func (s *store) prune(t int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for start := range s.closed {
		if start+s.bucket < t {
			delete(s.closed, start)
		}
	}
}

// stats returns the outcome counts and the number of keys in open buckets.
func (s *store) stats() (counts [outcomes]uint64, openKeys int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.open {
		openKeys += len(b.keys)
	}
	return s.counts, openKeys
}
