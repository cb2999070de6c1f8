package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func TestShardValidate(t *testing.T) {
	for _, tc := range []struct {
		s       Shard
		wantErr string
	}{
		{Shard{}, ""},
		{Shard{Total: 1}, ""},
		{Shard{Total: 2, Index: 0}, ""},
		{Shard{Total: 2, Index: 1}, ""},
		{Shard{Total: 2, Index: 2}, "outside 0..1"},
		{Shard{Total: 3, Index: -1}, "outside 0..2"},
		{Shard{Total: -1}, "negative"},
		{Shard{Total: 1, Index: 1}, "without sharding"},
		{Shard{Total: 0, Index: 3}, "without sharding"},
	} {
		t.Run(fmt.Sprintf("%d/%d", tc.s.Index, tc.s.Total), func(t *testing.T) {
			err := tc.s.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate: %v, want an error containing %q", err, tc.wantErr)
			}
			if _, err := New(Config{Shard: tc.s}, nil, nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New accepted shard %+v: %v", tc.s, err)
			}
		})
	}
}

// fnv1a64 is FNV-1a 64 written out from its definition, so a change of
// ShardOf's hash (which would make replicas of different builds disagree)
// fails here.
func fnv1a64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func TestShardOfIsFNV1aOfClusterNamespaceWorkload(t *testing.T) {
	for _, e := range []detect.Entity{
		{Cluster: "prod", Namespace: "shop", Workload: "frontend-7c9d-*", Type: "wep"},
		{Cluster: "prod", Namespace: "-", Workload: "pub", Type: "net"},
		{Cluster: "", Namespace: "", Workload: "", Type: ""},
		{Cluster: "c\xff", Namespace: "ns/x", Workload: "é-*", Type: "hep"},
	} {
		for _, total := range []int{2, 3, 7, 64} {
			want := int(fnv1a64(e.Cluster+"/"+e.Namespace+"/"+e.Workload) % uint64(total))
			if got := ShardOf(e, total); got != want {
				t.Errorf("ShardOf(%q, %d) = %d, want %d", e.Key(), total, got, want)
			}
			other := e
			other.Type = "ns"
			if ShardOf(other, total) != ShardOf(e, total) {
				t.Errorf("the type moved %q to another shard", e.Key())
			}
		}
	}
	if got := ShardOf(detect.Entity{Workload: "x"}, 1); got != 0 {
		t.Errorf("ShardOf with total 1 = %d", got)
	}
}

func TestShardOfSpreadsEntities(t *testing.T) {
	const total, n = 4, 4000
	counts := make([]int, total)
	for i := range n {
		counts[ShardOf(detect.Entity{Cluster: "c", Namespace: fmt.Sprintf("ns-%d", i%40), Workload: fmt.Sprintf("app-%d-*", i)}, total)]++
	}
	for i, c := range counts {
		if c < n/total*8/10 || c > n/total*12/10 {
			t.Errorf("shard %d got %d of %d entities: %v", i, c, n, counts)
		}
	}
}

// TestShardsTogetherScoreEveryEntityOnce: two replicas sharding one
// simulated cluster between them score every entity exactly once per
// window, and together give exactly the verdicts (keys and scores) of one
// unsharded engine, learned detectors included, because each replica's
// models learn the whole cluster.
func TestShardsTogetherScoreEveryEntityOnce(t *testing.T) {
	start := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	end := start.Add(2 * time.Hour)
	c := simulate.New(simulate.Options{Seed: 7})
	cfg := Config{Start: start, TrainLookback: 50 * time.Hour}

	_, _, whole := runUntil(t, cfg, c, end)
	cfg.Shard = Shard{Total: 2, Index: 0}
	_, _, s0 := runUntil(t, cfg, c, end)
	cfg.Shard = Shard{Total: 2, Index: 1}
	_, _, s1 := runUntil(t, cfg, c, end)

	compared, learned := 0, 0
	owned := [2]int{}
	for w := start; w.Before(end); w = w.Add(5 * time.Minute) {
		want := whole.scores[w]
		if len(want) == 0 {
			t.Fatalf("window %s: the unsharded engine gave no verdicts", w.Format("15:04"))
		}
		union := map[string]float64{}
		for i, part := range []map[string]float64{s0.scores[w], s1.scores[w]} {
			for k, s := range part {
				if _, dup := union[k]; dup {
					t.Errorf("window %s: %s scored by both shards", w.Format("15:04"), k)
				}
				union[k] = s
				owned[i]++
			}
		}
		for k, s := range want {
			g, ok := union[k]
			if !ok {
				t.Errorf("window %s: %s scored by no shard", w.Format("15:04"), k)
				continue
			}
			if g != s {
				t.Errorf("window %s %s: score %v sharded, %v unsharded", w.Format("15:04"), k, g, s)
			}
			compared++
			if strings.HasPrefix(k, "generic_flows ") || strings.HasPrefix(k, "bytes_out ") {
				learned++
			}
		}
		if len(union) != len(want) {
			t.Errorf("window %s: %d verdicts from the shards, %d unsharded", w.Format("15:04"), len(union), len(want))
		}
	}
	if learned == 0 {
		t.Fatal("no learned detector judged: the shards' models were not compared")
	}
	if owned[0] == 0 || owned[1] == 0 {
		t.Fatalf("one shard scored nothing: %v", owned)
	}
	t.Logf("%d verdicts compared (%d of learned models); shard 0 scored %d, shard 1 %d", compared, learned, owned[0], owned[1])
}

func BenchmarkShardOwnVerdicts(b *testing.B) {
	vs := make([]detect.Verdict, 10000)
	for i := range vs {
		vs[i].Entity = detect.Entity{Cluster: "prod", Namespace: fmt.Sprintf("ns-%d", i%50), Workload: fmt.Sprintf("app-%d-7c9d8f-*", i), Type: "wep"}
	}
	s := Shard{Total: 4, Index: 1}
	b.ReportAllocs()
	for b.Loop() {
		s.ownVerdicts(vs)
	}
}

// TestOtherShardsVerdictsGetNoEvidenceNorSink: the verdict on an entity
// another replica owns is dropped before the evidence look-up, the
// scoreboard and the sinks; the owning replica fetches its evidence.
func TestOtherShardsVerdictsGetNoEvidenceNorSink(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	w := source.Window{Start: start, End: start.Add(5 * time.Minute)}
	attacker := detect.Entity{Cluster: "c1", Namespace: "shop", Workload: "attacker-*", Type: "wep"}
	owner := ShardOf(attacker, 2)
	for _, index := range []int{0, 1} {
		t.Run(fmt.Sprint(index), func(t *testing.T) {
			src := &fakeSource{}
			dets, err := Build([]string{"port_scan"}, "c1", func(string) string { return "" }, nil)
			if err != nil {
				t.Fatal(err)
			}
			board := scoreboard.New(0)
			sink := &scoreSink{}
			e, err := New(Config{Interval: 5 * time.Minute, Shard: Shard{Total: 2, Index: index}, Sinks: []Sink{sink}}, src, dets, board, &fixedClock{now: start.Add(time.Hour)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.ProcessWindow(context.Background(), w); err != nil {
				t.Fatal(err)
			}
			owns := index == owner
			_, sunk := sink.scores[start]["port_scan "+attacker.Key()]
			published := false
			for _, v := range board.Snapshot().Verdicts["port_scan"] {
				if v.Entity == attacker {
					published = true
				}
				if !(Shard{Total: 2, Index: index}).Owns(v.Entity) {
					t.Errorf("shard %d published %s, another shard's", index, v.Entity.Key())
				}
			}
			if sunk != owns || published != owns || (src.samples > 0) != owns {
				t.Errorf("shard %d (attacker's is %d): sink %t, scoreboard %t, evidence look-ups %d", index, owner, sunk, published, src.samples)
			}
			if owns && board.Snapshot().Detections[scoreboard.DetectionKey{Cluster: "c1", Detector: "port_scan", Namespace: "shop"}] != 1 {
				t.Errorf("the owning shard did not count the detection")
			}
		})
	}
}
