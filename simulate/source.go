package simulate

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// DefaultRetention is how much recent simulated time a Source keeps in
// memory.
const DefaultRetention = 24 * time.Hour

// Source is the simulated cluster as a source.Source (kind "simulated"): it
// generates the buckets a window needs the first time the window is asked
// for, keeps the most recent ones in a source.Memory, and answers from it.
// It is safe for concurrent use.
type Source struct {
	cluster *Cluster
	keep    int // buckets kept

	mu  sync.RWMutex
	mem *source.Memory
	// have holds the start (Unix seconds) of each bucket in mem.
	have map[int64]bool
}

var _ source.Source = (*Source)(nil)

// NewSource returns a source over c that keeps DefaultRetention of
// generated buckets.
func NewSource(c *Cluster) *Source { return NewSourceWithRetention(c, DefaultRetention) }

// NewSourceWithRetention returns a source over c that keeps the newest
// retention of generated buckets (at least one window's worth whatever
// retention says). Asking for a window older than what it keeps starts
// over from that window.
func NewSourceWithRetention(c *Cluster, retention time.Duration) *Source {
	return &Source{
		cluster: c,
		keep:    max(1, int(retention/c.Bucket())),
		mem:     source.NewMemory("simulated"),
		have:    map[int64]bool{},
	}
}

// Cluster is the simulated cluster the source reads.
func (s *Source) Cluster() *Cluster { return s.cluster }

// Kind is "simulated".
func (s *Source) Kind() string { return "simulated" }

// Aggregate runs q over window w of the simulated cluster.
func (s *Source) Aggregate(ctx context.Context, w source.Window, q source.Query) ([]source.Row, error) {
	var rows []source.Row
	err := s.with(w, func(m *source.Memory) (err error) {
		rows, err = m.Aggregate(ctx, w, q)
		return err
	})
	return rows, err
}

// Count returns how many records of log type t window w holds.
func (s *Source) Count(ctx context.Context, w source.Window, t calicolog.LogType) (source.Counts, error) {
	var c source.Counts
	err := s.with(w, func(m *source.Memory) (err error) {
		c, err = m.Count(ctx, w, t)
		return err
	})
	return c, err
}

// Samples returns up to n records of log type t in w that match filters.
func (s *Source) Samples(ctx context.Context, w source.Window, t calicolog.LogType, filters []source.Term, n int) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := s.with(w, func(m *source.Memory) (err error) {
		out, err = m.Samples(ctx, w, t, filters, n)
		return err
	})
	return out, err
}

// Truth returns the labels of the attacks in the buckets w covers wholly.
func (s *Source) Truth(w source.Window) []Label { return s.cluster.Truth(w) }

// with runs fn against a memory that holds every bucket of w: under the
// read lock when they are all there, else under the write lock after
// generating the missing ones (so no other call can forget them meanwhile).
func (s *Source) with(w source.Window, fn func(*source.Memory) error) error {
	buckets := s.cluster.buckets(w)
	s.mu.RLock()
	if s.holds(buckets) {
		defer s.mu.RUnlock()
		return fn(s.mem)
	}
	s.mu.RUnlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.generate(buckets)
	return fn(s.mem)
}

func (s *Source) holds(buckets []source.Window) bool {
	for _, b := range buckets {
		if !s.have[b.Start.Unix()] {
			return false
		}
	}
	return true
}

// generate adds the missing buckets to the memory, then forgets the oldest
// ones past the retention. Called with the write lock held.
func (s *Source) generate(buckets []source.Window) {
	if len(buckets) == 0 || s.holds(buckets) {
		return
	}
	keep := max(s.keep, len(buckets))
	starts := make([]int64, 0, len(s.have)+len(buckets))
	for t := range s.have {
		starts = append(starts, t)
	}
	for _, b := range buckets {
		if !s.have[b.Start.Unix()] {
			starts = append(starts, b.Start.Unix())
		}
	}
	slices.Sort(starts)
	if len(starts) > keep {
		cutoff := starts[len(starts)-keep]
		if buckets[0].Start.Unix() < cutoff {
			// An old window: keeping it would mean forgetting newer
			// ones right away. Start over from it.
			s.mem = source.NewMemory("simulated")
			clear(s.have)
		} else {
			s.mem.Forget(time.Unix(cutoff, 0))
			for t := range s.have {
				if t < cutoff {
					delete(s.have, t)
				}
			}
		}
	}
	for _, b := range buckets {
		if s.have[b.Start.Unix()] {
			continue
		}
		batch := s.cluster.bucket(b)
		s.mem.AddFlows(batch.Flows...)
		s.mem.AddDNS(batch.DNS...)
		s.mem.AddL7(batch.L7...)
		s.have[b.Start.Unix()] = true
	}
}
