package engine

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
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

// fnv1a64Mixed is FNV-1a 64 followed by MurmurHash3's fmix64, written out
// from their definitions, so a change of ShardOf's hash (which would make
// replicas of different builds disagree) fails here.
func fnv1a64Mixed(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func TestShardOfIsFNV1aOfClusterNamespace(t *testing.T) {
	for _, e := range []detect.Entity{
		{Cluster: "prod", Namespace: "shop", Workload: "frontend-7c9d-*", Type: "wep"},
		{Cluster: "prod", Namespace: "-", Workload: "pub", Type: "net"},
		{Cluster: "", Namespace: "", Workload: "", Type: ""},
		{Cluster: "c\xff", Namespace: "ns/x", Workload: "é-*", Type: "hep"},
	} {
		for _, total := range []int{2, 3, 7, 64} {
			want := int(fnv1a64Mixed(e.Cluster+"/"+e.Namespace) % uint64(total))
			if got := ShardOf(e, total); got != want {
				t.Errorf("ShardOf(%q, %d) = %d, want %d", e.Key(), total, got, want)
			}
			other := e
			other.Type, other.Workload = "ns", "*"
			if ShardOf(other, total) != ShardOf(e, total) {
				t.Errorf("the workload or the type moved %q to another shard", e.Key())
			}
			if got := ShardOfNamespace(e.Cluster, e.Namespace, total); got != want {
				t.Errorf("ShardOfNamespace(%q, %q, %d) = %d, want %d", e.Cluster, e.Namespace, total, got, want)
			}
		}
	}
	if got := ShardOf(detect.Entity{Workload: "x"}, 1); got != 0 {
		t.Errorf("ShardOf with total 1 = %d", got)
	}
}

// TestShardOfSpreadsNamespaces: namespaces named alike (sequential
// numbers, letters with the same low bits) spread evenly, in chunks too.
func TestShardOfSpreadsNamespaces(t *testing.T) {
	const total, n = 4, 4000
	counts := make([]int, total)
	for i := range n {
		counts[ShardOf(detect.Entity{Cluster: "c", Namespace: fmt.Sprintf("team-%d", i), Workload: "app-*"}, total)]++
	}
	for _, names := range [][]string{
		{"team-a", "team-e", "team-i", "team-m", "team-q", "team-u", "team-y"}, // the same two low bits
		{"ns-000", "ns-001", "ns-002", "ns-003", "ns-004", "ns-005", "ns-006", "ns-007"},
	} {
		seen := map[int]bool{}
		for _, ns := range names {
			seen[ShardOfNamespace("c", ns, total)] = true
		}
		if len(seen) < 3 {
			t.Errorf("%v fall on %d of %d replicas", names, len(seen), total)
		}
	}
	if got := fmt.Sprint(ShardOfNamespace("c", "ns-000", total), ShardOfNamespace("c", "ns-001", total), ShardOfNamespace("c", "ns-002", total), ShardOfNamespace("c", "ns-003", total)); got == "0 1 2 3" || got == "3 2 1 0" {
		t.Errorf("sequential names fall round-robin (%s): the low bits are not mixed", got)
	}
	for i, c := range counts {
		if c < n/total*8/10 || c > n/total*12/10 {
			t.Errorf("shard %d got %d of %d entities: %v", i, c, n, counts)
		}
	}
}

// verdictsByWindow keeps every verdict by window and "detector entity".
type verdictsByWindow struct {
	verdicts map[time.Time]map[string]detect.Verdict
}

func (s *verdictsByWindow) Deliver(ctx context.Context, w source.Window, verdicts []detect.Verdict) {
	if s.verdicts == nil {
		s.verdicts = map[time.Time]map[string]detect.Verdict{}
	}
	m := map[string]detect.Verdict{}
	for _, v := range verdicts {
		m[v.Detector+" "+v.Entity.Key()] = v
	}
	s.verdicts[w.Start] = m
}

// replayShard replays [from, to) of simulated cluster c with every
// registered detector on replica shard, after learnLookback of history,
// and returns its verdicts and the queries its source was asked.
func replayShard(t *testing.T, c *simulate.Cluster, shard Shard, from, to time.Time, lookback time.Duration) (*verdictsByWindow, *recordingSource, scoreboard.Snapshot) {
	t.Helper()
	var names []string
	params := map[string]map[string]string{}
	for _, info := range detect.Registered() {
		names = append(names, info.Name)
		for _, p := range info.Params {
			switch p.Key {
			case "min_size_for_train":
				params[info.Name] = map[string]string{"min_size_for_train": "100"}
			case "min_history_hours":
				params[info.Name]["min_history_hours"] = "24"
			}
		}
	}
	dets, err := BuildWith(names, BuildOptions{Cluster: c.Name(), Getenv: func(string) string { return "" }, Bucket: 5 * time.Minute, Seed: 1, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	sink := &verdictsByWindow{}
	src := &recordingSource{Source: simulate.NewSource(c)}
	board := scoreboard.New(0)
	e, err := New(Config{Interval: 5 * time.Minute, Cluster: c.Name(), Shard: shard, TrainLookback: lookback, Sinks: []Sink{sink}},
		src, dets, board, &fixedClock{now: to.Add(time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Replay(context.Background(), from, to); err != nil {
		t.Fatal(err)
	}
	return sink, src, board.Snapshot()
}

// recordingSource keeps the queries it was asked, the rows it answered and
// how often it counted records.
type recordingSource struct {
	source.Source
	mu      sync.Mutex
	queries []source.Query
	rows    int
	counts  int
}

func (r *recordingSource) Count(ctx context.Context, w source.Window, t calicolog.LogType) (source.Counts, error) {
	r.mu.Lock()
	r.counts++
	r.mu.Unlock()
	return r.Source.Count(ctx, w, t)
}

func (r *recordingSource) Aggregate(ctx context.Context, w source.Window, q source.Query) ([]source.Row, error) {
	rows, err := r.Source.Aggregate(ctx, w, q)
	r.mu.Lock()
	r.queries = append(r.queries, q)
	r.rows += len(rows)
	r.mu.Unlock()
	return rows, err
}

// TestShardsTogetherGiveTheUnshardedVerdicts: four replicas sharding a
// simulated cluster (ten namespaces, outside attackers, the demo's scans)
// between them by namespace give, together, exactly the verdicts of one
// unsharded replica, detector by detector: each verdict once, by the
// replica owning its namespace, with the same score, figures and summary;
// the pooled detectors (one isolation forest over the replica's entities)
// with the same entities and observed figures. Meanwhile each replica's
// namespace-scoped queries leave out the namespaces it knows are other
// replicas', and its source answers a fraction of the rows.
func TestShardsTogetherGiveTheUnshardedVerdicts(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 66 simulated hours five times")
	}
	const total = 4
	start := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	end := start.Add(2 * time.Hour)
	c := simulate.New(simulate.Options{Seed: 7, Namespaces: 10, DeploymentsPerNamespace: 2}, simulate.DemoAttacks(start, time.Hour, 2)...)
	// The baselines answer once two days cover an hour; the isolation
	// forests then score 12 hours before they judge.
	lookback := 64 * time.Hour

	whole, wholeSrc, wholeBoard := replayShard(t, c, Shard{}, start, end, lookback)
	var parts [total]*verdictsByWindow
	var srcs [total]*recordingSource
	var boards [total]scoreboard.Snapshot
	for i := range total {
		parts[i], srcs[i], boards[i] = replayShard(t, c, Shard{Total: total, Index: i}, start, end, lookback)
	}

	for _, info := range detect.Registered() {
		t.Run(info.Name, func(t *testing.T) {
			compared, anomalous, exact, flipped := 0, 0, 0, 0
			diff := 0.0
			var byShard [total]int
			for w := start; w.Before(end); w = w.Add(5 * time.Minute) {
				want := map[string]detect.Verdict{}
				for k, v := range whole.verdicts[w] {
					if v.Detector == info.Name {
						want[k] = v
					}
				}
				got := map[string]detect.Verdict{}
				for i, part := range parts {
					for k, v := range part.verdicts[w] {
						if v.Detector != info.Name {
							continue
						}
						if owner := ShardOf(v.Entity, total); owner != i {
							t.Errorf("window %s: replica %d gave a verdict on %s, replica %d's", w.Format("15:04"), i, v.Entity.Key(), owner)
						}
						if _, dup := got[k]; dup {
							t.Errorf("window %s: %s judged by two replicas", w.Format("15:04"), k)
						}
						got[k] = v
						byShard[i]++
					}
				}
				for k, v := range want {
					g, ok := got[k]
					if !ok {
						t.Errorf("window %s: %s judged by no replica", w.Format("15:04"), k)
						continue
					}
					compared++
					if v.Anomalous() {
						anomalous++
					}
					if g.Observed != v.Observed {
						t.Errorf("window %s %s: observed %v sharded, %v unsharded", w.Format("15:04"), k, g.Observed, v.Observed)
					}
					if info.Scope == detect.PooledScope {
						if g.Expected != v.Expected {
							t.Errorf("window %s %s: expected %v sharded, %v unsharded: the entity's own baselines differ", w.Format("15:04"), k, g.Expected, v.Expected)
						}
						if g.Anomalous() != v.Anomalous() {
							flipped++
						}
						diff += math.Abs(g.Score - v.Score)
						continue
					}
					if g.Score != v.Score || g.Expected != v.Expected || g.Summary != v.Summary {
						t.Errorf("window %s %s: score %v expected %v %q sharded, %v %v %q unsharded", w.Format("15:04"), k, g.Score, g.Expected, g.Summary, v.Score, v.Expected, v.Summary)
						continue
					}
					exact++
				}
				for k := range got {
					if _, ok := want[k]; !ok {
						t.Errorf("window %s: %s judged sharded only", w.Format("15:04"), k)
					}
				}
			}
			if info.Scope == detect.PooledScope {
				// The forests differ; what they call anomalous must not.
				if flipped > 0 || diff/float64(max(compared, 1)) > 0.05 {
					t.Errorf("pooled over each replica's namespaces, %d verdicts changed sides and scores moved %.4f on average", flipped, diff/float64(max(compared, 1)))
				}
			}
			// What the models hold: each entity on one replica, or, for a
			// detector judging against the whole cluster, every entity on
			// every replica.
			held := 0
			for i := range total {
				n := boards[i].Detectors[info.Name].Entities
				held += n
				if !info.Scope.Sharded() && n != wholeBoard.Detectors[info.Name].Entities {
					t.Errorf("replica %d holds %d entities, the unsharded replica %d", i, n, wholeBoard.Detectors[info.Name].Entities)
				}
			}
			if info.Scope.Sharded() && held != wholeBoard.Detectors[info.Name].Entities {
				t.Errorf("the replicas hold %d entities together, the unsharded replica %d: each entity must be learned by its namespace's replica only", held, wholeBoard.Detectors[info.Name].Entities)
			}
			if compared == 0 && info.DefaultEnabled {
				t.Fatalf("the unsharded replica gave no verdict: nothing was compared")
			}
			t.Logf("%s (%s): %d verdicts compared, %d exactly, %d anomalous (%d of them not on both sides), mean score difference %.4f; per replica %v; entities held %d unsharded, %d by the replicas together",
				info.Name, info.Scope, compared, exact, anomalous, flipped, diff/float64(max(compared, 1)), byShard, wholeBoard.Detectors[info.Name].Entities, held)
		})
	}

	// What the replicas read: each a share of the rows, together about
	// what one replica reads alone (dga's DNS names are read whole by each).
	read := 0
	for i, src := range srcs {
		read += src.rows
		excluding := 0
		for _, q := range src.queries {
			for _, f := range q.Filters {
				if !f.Exclude && f.Known == nil {
					continue
				}
				excluding++
				if f.Field != q.GroupBy[0] {
					t.Errorf("replica %d: query %s leaves out namespaces by %s, not by its first group-by field %s", i, q.Name, f.Field, q.GroupBy[0])
				}
				left := f.Values // the namespaces left out
				if !f.Exclude {
					left = f.Known
					for _, ns := range f.Values {
						if ShardOfNamespace(c.Name(), ns, total) != i {
							t.Errorf("replica %d: query %s asks for %q, another replica's namespace", i, q.Name, ns)
						}
					}
				}
				for _, ns := range left {
					if ShardOfNamespace(c.Name(), ns, total) == i {
						t.Errorf("replica %d: query %s leaves out its own namespace %q", i, q.Name, ns)
					}
				}
			}
			if strings.Contains(q.Name, "dga") && len(q.Filters) > 0 {
				if f := q.Filters[len(q.Filters)-1]; f.Exclude || f.Known != nil {
					t.Errorf("replica %d: dga's query %s leaves out namespaces: dga judges against the whole cluster", i, q.Name)
				}
			}
		}
		if excluding == 0 {
			t.Errorf("replica %d left no namespace out of any query", i)
		}
		t.Logf("replica %d: %d rows answered (%d queries leaving namespaces out)", i, src.rows, excluding)
	}
	t.Logf("one replica: %d rows; four together: %d (%.2fx)", wholeSrc.rows, read, float64(read)/float64(wholeSrc.rows))

	// The window's record counts: replica 0's, the unsharded replica's.
	for i, src := range srcs {
		if counted := src.counts > 0; counted != (i == 0) {
			t.Errorf("replica %d counted records %d times", i, src.counts)
		}
	}
	if !reflect.DeepEqual(boards[0].Records, wholeBoard.Records) || len(wholeBoard.Records) == 0 {
		t.Errorf("replica 0 counted %v records, the unsharded replica %v", boards[0].Records, wholeBoard.Records)
	}
	for i := 1; i < total; i++ {
		if n := boards[i].Records["flows"]; n != 0 {
			t.Errorf("replica %d exports %d flow records: the window's counts are replica 0's", i, n)
		}
	}
	if read >= 2*wholeSrc.rows {
		t.Errorf("four replicas were answered %d rows, one alone %d: sharding does not divide the reading", read, wholeSrc.rows)
	}
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
			e, err := New(Config{Interval: 5 * time.Minute, Cluster: "c1", Shard: Shard{Total: 2, Index: index}, Sinks: []Sink{sink}}, src, dets, board, &fixedClock{now: start.Add(time.Hour)}, nil)
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

// TestNamespaceBook: a replica leaves out exactly the namespaces it saw
// that other replicas own, forgets those unseen for a day, lists at most
// maxExcluded (the most recently seen), and hands detectors only its own
// namespaces' rows, whatever it has seen.
func TestNamespaceBook(t *testing.T) {
	const total, cluster = 4, "prod"
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	b := newNamespaceBook(Shard{Total: total, Index: 1}, cluster)
	var rows []source.Row
	for i := range 40 {
		ns := fmt.Sprintf("team-%d", i)
		rows = append(rows, source.Row{Key: []string{ns, "a-*"}}, source.Row{Key: []string{ns, "b-*"}})
	}
	b.note(rows, at)
	others := b.others()
	if len(others) == 0 || len(others) == 40 {
		t.Fatalf("%d of 40 namespaces are other replicas'", len(others))
	}
	if !slices.IsSorted(others) {
		t.Errorf("others not sorted: %v", others)
	}
	for _, ns := range others {
		if ShardOfNamespace(cluster, ns, total) == 1 {
			t.Errorf("%s is replica 1's own, yet left out", ns)
		}
	}
	mine := 40 - len(others)
	own := b.own(append(rows, source.Row{Key: []string{"new-namespace", "x-*"}}))
	wantOwn := 2 * mine
	if ShardOfNamespace(cluster, "new-namespace", total) == 1 {
		wantOwn++
	}
	if len(own) != wantOwn {
		t.Errorf("%d rows kept, want %d", len(own), wantOwn)
	}
	for _, r := range own {
		if ShardOfNamespace(cluster, r.Key[0], total) != 1 {
			t.Errorf("row of %s kept, another replica's", r.Key[0])
		}
	}

	// The filter: positive clauses of its own namespaces and the others
	// known, but on the replica owning "" (records without the field) and
	// past maxListed namespaces, the others left out.
	for index := range total {
		b := newNamespaceBook(Shard{Total: total, Index: index}, cluster)
		b.note(rows, at)
		f, ok := b.filter()
		if !ok {
			t.Fatalf("replica %d: no filter knowing 40 namespaces", index)
		}
		ownsNone := ShardOfNamespace(cluster, "", total) == index
		if f.Exclude != ownsNone {
			t.Errorf("replica %d (owns \"\": %t): the filter excludes: %t", index, ownsNone, f.Exclude)
		}
		if !f.Exclude && (len(f.Values)+len(f.Known) != 40 || !slices.IsSorted(f.Values) || !slices.IsSorted(f.Known)) {
			t.Errorf("replica %d: asks for %d namespaces knowing %d others, want the 40 seen, sorted", index, len(f.Values), len(f.Known))
		}
		for _, ns := range f.Values {
			if mine := ShardOfNamespace(cluster, ns, total) == index; mine == f.Exclude {
				t.Errorf("replica %d: %q listed (exclude %t), owned by it: %t", index, ns, f.Exclude, mine)
			}
		}
	}
	if _, ok := newNamespaceBook(Shard{Total: total, Index: 1}, cluster).filter(); ok {
		t.Error("a replica that has seen nothing filters")
	}

	// A day and more later, only what was seen since is known.
	later := at.Add(namespaceMemory + time.Hour)
	b.note(rows[:2], later)
	if got := len(b.known); got != 1 {
		t.Errorf("%d namespaces known after a day unseen, want the 1 seen since", got)
	}

	// More namespaces than one query may leave out: the most recent.
	b = newNamespaceBook(Shard{Total: total, Index: 0}, cluster)
	for i := range maxExcluded * 2 {
		b.note([]source.Row{{Key: []string{fmt.Sprintf("ns-%d", i)}}}, at.Add(time.Duration(i)*time.Second))
	}
	if f, _ := b.filter(); !f.Exclude {
		t.Errorf("past %d namespaces, the filter still lists them as clauses", maxListed)
	}
	others = b.others()
	if len(others) != maxExcluded {
		t.Fatalf("%d namespaces left out, want at most %d", len(others), maxExcluded)
	}
	newest := at.Add(time.Duration(maxExcluded*2-1) * time.Second)
	for _, ns := range others {
		if newest.Sub(b.known[ns].last) > time.Duration(maxExcluded*3/2)*time.Second {
			t.Errorf("%s, seen at %s, left out before more recent ones", ns, b.known[ns].last)
			break
		}
	}
}
