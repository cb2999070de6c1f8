package perf

import (
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
)

// TestSharesAreTheReplicasNamespaces: the synthetic rows a replica's
// detectors learn are those its engine would hand them: each workload's,
// for a namespace-scoped detector, on the one replica owning its
// namespace; every workload's for dga on every replica. Trained on them,
// the replicas' models hold each workload once between them.
func TestSharesAreTheReplicasNamespaces(t *testing.T) {
	const total, entities = 4, 1000
	ds, err := AllDetectors("c", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ds = DefaultDetectors(ds)
	owner := map[int]int{}
	for index := range total {
		shard := engine.Shard{Total: total, Index: index}
		shares := Shares(ds, entities, shard, "c")
		for i, d := range ds {
			info, _ := detect.Lookup(d.Name())
			if !info.Scope.Sharded() {
				if shares[i] != nil {
					t.Errorf("replica %d: %s (%s-scoped) reads %d workloads, want all", index, d.Name(), info.Scope, len(shares[i]))
				}
				continue
			}
			if len(shares[i]) == 0 || len(shares[i]) == entities {
				t.Errorf("replica %d: %s reads %d of %d workloads", index, d.Name(), len(shares[i]), entities)
			}
			for _, e := range shares[i] {
				if o, ok := owner[e]; ok && o != index {
					t.Fatalf("workload %d read by replicas %d and %d", e, o, index)
				}
				owner[e] = index
				if ns := keyValue("dest_namespace", e, 0, nil); engine.ShardOfNamespace("c", ns, total) != index {
					t.Errorf("replica %d reads workload %d of %s, another replica's", index, e, ns)
				}
			}
		}
	}
	if len(owner) != entities {
		t.Errorf("%d of %d workloads read by some replica", len(owner), entities)
	}

	live := func(ds []detect.Detector) map[string]int {
		out := map[string]int{}
		for _, d := range ds {
			if b, ok := d.(detect.EntityBounded); ok {
				out[d.Name()] = b.LiveEntities()
			}
		}
		return out
	}
	train := func(shard engine.Shard) map[string]int {
		ds, err := AllDetectors("c", 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		ds = DefaultDetectors(ds)
		trainShares(ds, Shares(ds, 200, shard, "c"), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Hour, 5*time.Minute, 200, 2, 2)
		return live(ds)
	}
	whole := train(engine.Shard{})
	if whole["generic_flows"] == 0 || whole["dga"] == 0 {
		t.Fatalf("the unsharded models hold no entities: %v", whole)
	}
	held := map[string]int{}
	for index := range total {
		for name, n := range train(engine.Shard{Total: total, Index: index}) {
			held[name] += n
		}
	}
	for name, n := range whole {
		info, _ := detect.Lookup(name)
		want := n
		if !info.Scope.Sharded() {
			want = total * n
		}
		if held[name] != want {
			t.Errorf("%s (%s-scoped): the replicas hold %d entities together, one unsharded %d", name, info.Scope, held[name], n)
		}
	}
}
