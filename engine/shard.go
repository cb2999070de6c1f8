package engine

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Shard is one replica's share of the cluster when several replicas of
// the exporter watch it: replica Index of Total owns the namespaces whose
// ShardOfNamespace is Index, and scores, exports, alerts on and sends
// events for the entities of those namespaces only. Total 0 or 1 means no
// sharding.
//
// What a replica reads follows each detector's detect.Scope:
//   - NamespaceScope and PooledScope detectors (all but dga) read only
//     the rows of the replica's namespaces, so their models learn only
//     its entities (memory divided by Total) and Elasticsearch passes over
//     each of the window's records for one replica, not all of them.
//     Every query of such a detector groups first by the namespace field
//     of the entity it judges (source_namespace for a flow's source,
//     dest_namespace for its destination, client_namespace for DNS), and
//     the replica keeps exactly the rows whose first key is one of its
//     namespaces: a flow between two namespaces is read by the owner of
//     the source for the source's verdicts and by the owner of the
//     destination for the destination's.
//   - ClusterScope detectors (dga: whether a domain is new depends on
//     what every namespace resolved) read every row on every replica, as
//     correctness needs, and learn every entity; their verdicts about
//     other replicas' namespaces are dropped before the scoreboard, the
//     sinks or the evidence look-ups see them. A query such a detector
//     shares with namespace-scoped ones is read whole once and the
//     namespace-scoped ones get only the replica's rows.
//
// How Elasticsearch is asked for less: a replica remembers the namespaces
// the rows of its queries named in the last day, and whose each is
// (namespaceBook), and adds to each namespace-scoped query a filter on
// the query's first group-by field that keeps its own namespaces and any
// it has not seen yet, and leaves out those it knows are other replicas'
// (see namespaceBook.filter: positive clauses, so Elasticsearch reads the
// postings of the replica's namespaces only). Rows of namespaces it does
// not own are dropped before any detector sees them, so a new namespace
// costs every replica its rows in the first window that names it, and
// nothing is missed because the list was stale. No query is added per
// window. A replica that starts reads its first window (usually the
// first of the history it learns from) whole.
//
// The window's record counts (calico_anomaly_log_records_total and the
// malformed ones) are the whole window's, not a namespace's: replica 0
// alone counts and exports them, so a sum over the replicas is the
// window's, and the others spare Elasticsearch the count.
//
// The union of the replicas' verdicts is one unsharded replica's, each
// verdict exactly for namespace-scoped detectors once each replica's
// models are ready (readiness counts the rows a model learned, which a
// replica with a share of the entities reaches later), and with the
// scores of a forest pooled over the replica's own namespaces for the
// pooled ones (see detect.PooledScope). Config.Cluster must name the
// cluster the detectors were built for, the one their entities carry.
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

// countsRecords reports whether this replica counts the window's records:
// replica 0, sharded or not.
func (s Shard) countsRecords() bool { return s.Index == 0 }

// Sharded reports whether s divides the entities among several replicas.
func (s Shard) Sharded() bool { return s.Total > 1 }

// Owns reports whether entity e is this replica's to score, export and
// alert on: whether its namespace is. Without sharding every entity is.
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

// ShardOf is the shard, 0..total-1, that owns entity e: the shard of its
// cluster and namespace (ShardOfNamespace). The workload and the type are
// left out on purpose: every verdict about a namespace's entities (of any
// detector, workloads and the namespace-level rows alike) lands on the
// replica that reads that namespace's rows. A total of 0 or 1 gives 0.
func ShardOf(e detect.Entity, total int) int {
	return ShardOfNamespace(e.Cluster, e.Namespace, total)
}

// ShardOfNamespace is the shard, 0..total-1, that owns namespace of
// cluster: the 64-bit FNV-1a hash of "<cluster>/<namespace>", mixed by
// MurmurHash3's 64-bit finalizer, modulo total. The finalizer matters: the
// low bits of an FNV-1a hash depend only on the low bits of each byte, so
// modulo 4 alone "team-a" and "team-e" would always share a replica and
// sequential names would fall round-robin. The hash is fixed by this
// definition, not by Go's map hashing, so replicas of different builds
// agree. A total of 0 or 1 gives 0.
func ShardOfNamespace(cluster, namespace string, total int) int {
	if total <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(cluster))
	h.Write([]byte{'/'})
	h.Write([]byte(namespace))
	return int(fmix64(h.Sum64()) % uint64(total))
}

// fmix64 is MurmurHash3's 64-bit finalizer: every input bit affects every
// output bit.
func fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
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

// namespaceMemory is how long a replica remembers a namespace no row named:
// a namespace deleted a day ago costs nothing more than a new one would.
const namespaceMemory = 24 * time.Hour

// maxExcluded bounds the namespaces one query leaves out, the most recently
// seen first, well inside Elasticsearch's index.max_terms_count (65,536);
// the namespaces beyond it are read and dropped here.
const maxExcluded = 10000

// maxListed bounds the namespaces a query lists as positive clauses (its
// own and the ranges between all it knows, see source.Term's Known):
// Elasticsearch refuses a query of more than 1,024 leaf clauses on the
// smallest nodes, and the malformed-record filter takes a few dozen. At
// 2,000 namespaces (1 million flow records) the ranges would gain little
// over the must_not: four replicas took 1.70-1.77 times one unsharded
// engine's time with them, 1.88-1.90 times with the must_not.
const maxListed = 800

// namespaceBook is what a sharded replica knows of its cluster's
// namespaces: those the rows it read named in the last namespaceMemory,
// each with its owner. It says which namespaces a query may leave out
// (other replicas') and which rows a namespace-scoped detector gets (its
// own). It is used from the engine's goroutine only.
type namespaceBook struct {
	shard   Shard
	cluster string
	known   map[string]*namespaceSeen
	pruned  time.Time // when known was last pruned
}

type namespaceSeen struct {
	mine bool
	last time.Time // end of the last window whose rows named it
}

func newNamespaceBook(s Shard, cluster string) *namespaceBook {
	return &namespaceBook{shard: s, cluster: cluster, known: map[string]*namespaceSeen{}}
}

// owns reports whether namespace ns is this replica's.
func (b *namespaceBook) owns(ns string) bool {
	if k, ok := b.known[ns]; ok {
		return k.mine
	}
	return ShardOfNamespace(b.cluster, ns, b.shard.Total) == b.shard.Index
}

// note records the namespaces named by rows (the first key of each) as
// seen in the window ending at end, and forgets those unseen for
// namespaceMemory.
func (b *namespaceBook) note(rows []source.Row, end time.Time) {
	var last string
	for _, r := range rows {
		if len(r.Key) == 0 || (r.Key[0] == last && last != "") {
			continue
		}
		ns := r.Key[0]
		last = ns
		k, ok := b.known[ns]
		if !ok {
			k = &namespaceSeen{mine: ShardOfNamespace(b.cluster, ns, b.shard.Total) == b.shard.Index}
			b.known[ns] = k
		}
		if end.After(k.last) {
			k.last = end
		}
	}
	if end.Sub(b.pruned) >= time.Hour {
		for ns, k := range b.known {
			if end.Sub(k.last) > namespaceMemory {
				delete(b.known, ns)
			}
		}
		b.pruned = end
	}
}

// others are the namespaces known to be other replicas', sorted, at most
// maxExcluded of them (the most recently seen).
func (b *namespaceBook) others() []string {
	var out []string
	for ns, k := range b.known {
		if !k.mine {
			out = append(out, ns)
		}
	}
	if len(out) > maxExcluded {
		slices.SortFunc(out, func(x, y string) int { return b.known[y].last.Compare(b.known[x].last) })
		out = out[:maxExcluded]
	}
	slices.Sort(out)
	return out
}

// filter is the term a namespace-scoped query of the window adds on its
// namespace field (the caller sets Field), and false when the replica
// knows no other replica's namespace yet (it reads everything). It keeps
// the replica's own namespaces and any it has not seen, and leaves out
// those it knows are other replicas':
//   - as positive clauses (source.Term's Known: the terms of its own
//     namespaces, and the ranges between all it knows, which hold only
//     new ones), so Elasticsearch reads the postings of the replica's
//     namespaces only;
//   - as an excluding term (a must_not of the others, which walks the
//     postings of every other namespace) on the replica that owns the
//     namespace "", which is also the records without the field (no
//     positive clause finds those, and asking for them beside the
//     positive clauses cost more than the must_not), and past maxListed
//     namespaces.
//
// Measured on the default detectors' queries of a 1-million-record window
// of 200 namespaces, one replica of four: 0.41-0.55 s of took with the
// positive clauses, 0.64-0.71 s with the must_not, 0.92 s with the
// positive clauses and the records without the field, 0.37-0.50 s for the
// terms of its own namespaces alone (which would miss new ones);
// 1.34-1.47 s unsharded.
func (b *namespaceBook) filter() (source.Term, bool) {
	var mine, others []string
	for ns, k := range b.known {
		if k.mine {
			mine = append(mine, ns)
		} else {
			others = append(others, ns)
		}
	}
	if len(others) == 0 {
		return source.Term{}, false
	}
	if b.owns("") || len(b.known) > maxListed {
		return source.Term{Values: b.others(), Exclude: true}, true
	}
	slices.Sort(mine)
	slices.Sort(others)
	return source.Term{Values: mine, Known: others}, true
}

// own returns the rows of rows whose first key is one of this replica's
// namespaces, in a new slice.
func (b *namespaceBook) own(rows []source.Row) []source.Row {
	if rows == nil {
		return nil
	}
	out := make([]source.Row, 0, len(rows)/max(b.shard.Total, 1)+1)
	for _, r := range rows {
		if len(r.Key) > 0 && b.owns(r.Key[0]) {
			out = append(out, r)
		}
	}
	return out
}

// isNamespaceField reports whether field holds a namespace
// (source_namespace, dest_namespace, client_namespace).
func isNamespaceField(field string) bool { return strings.HasSuffix(field, "namespace") }
