package engine

import (
	"fmt"
	"hash/fnv"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// Shard is one replica's share of the entities when several replicas of the
// exporter watch the same cluster: replica Index of Total scores only the
// entities whose ShardOf is Index. Total 0 or 1 means no sharding.
//
// Every replica still reads the whole cluster and its models learn every
// entity: a replica must know the whole cluster to judge its share against
// it (a baseline, the peers of a workload, what is usual in a namespace).
// Sharding divides what comes after judging: the exported series, the
// detections counted, the evidence look-ups, and the alerts and events
// sent. Verdicts of the other shards are dropped before the scoreboard,
// the sinks or the evidence look-ups see them.
type Shard struct {
	Total int
	Index int
}

// Validate reports a shard that cannot be: a negative total, or an index
// outside 0..Total-1.
func (s Shard) Validate() error {
	switch {
	case s.Total < 0:
		return fmt.Errorf("shard total %d is negative", s.Total)
	case s.Total <= 1 && s.Index != 0:
		return fmt.Errorf("shard index %d without sharding (total %d): the index must be 0", s.Index, s.Total)
	case s.Total > 1 && (s.Index < 0 || s.Index >= s.Total):
		return fmt.Errorf("shard index %d is outside 0..%d (total %d)", s.Index, s.Total-1, s.Total)
	}
	return nil
}

// Sharded reports whether s divides the entities among several replicas.
func (s Shard) Sharded() bool { return s.Total > 1 }

// Owns reports whether entity e is this replica's to score. Without
// sharding every entity is.
func (s Shard) Owns(e detect.Entity) bool {
	return !s.Sharded() || ShardOf(e, s.Total) == s.Index
}

// String is "index/total", or "none" without sharding.
func (s Shard) String() string {
	if !s.Sharded() {
		return "none"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Total)
}

// ShardOf is the shard, 0..total-1, that owns entity e: the 64-bit FNV-1a
// hash of "<cluster>/<namespace>/<workload>" modulo total. The entity's
// type is left out on purpose, so every verdict about one workload (of any
// detector, as a workload or a namespace-level row of the same name) lands
// on the same replica. The hash is fixed by this definition, not by Go's
// map hashing, so replicas of different builds agree. A total of 0 or 1
// gives 0.
func ShardOf(e detect.Entity, total int) int {
	if total <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(e.Cluster))
	h.Write([]byte{'/'})
	h.Write([]byte(e.Namespace))
	h.Write([]byte{'/'})
	h.Write([]byte(e.Workload))
	return int(h.Sum64() % uint64(total))
}

// ownVerdicts returns the verdicts of entities this replica owns, in a new
// slice (a detector may keep the one it returned).
func (s Shard) ownVerdicts(vs []detect.Verdict) []detect.Verdict {
	if !s.Sharded() {
		return vs
	}
	var kept []detect.Verdict
	for _, v := range vs {
		if s.Owns(v.Entity) {
			kept = append(kept, v)
		}
	}
	return kept
}
