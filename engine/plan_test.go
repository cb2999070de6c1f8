package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// allDetectors builds every registered detector, enabled by default or
// not, with its default settings (as internal/perf.AllDetectors does,
// which this package cannot import).
func allDetectors(t testing.TB) []detect.Detector {
	t.Helper()
	var out []detect.Detector
	for _, info := range detect.Registered() {
		d, err := info.New(detect.Options{Cluster: "cluster", Bucket: 5 * time.Minute, Seed: 1})
		if err != nil {
			t.Fatalf("detector %s: %v", info.Name, err)
		}
		out = append(out, d)
	}
	return out
}

// defaultDetectors builds the detectors enabled by default.
func defaultDetectors(t testing.TB) []detect.Detector {
	t.Helper()
	var names []string
	for _, info := range detect.Registered() {
		if info.DefaultEnabled {
			names = append(names, info.Name)
		}
	}
	ds, err := BuildWith(names, BuildOptions{Cluster: "cluster", Getenv: func(string) string { return "" }, Bucket: 5 * time.Minute, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// attackedCluster is the simulated cluster with the demo's scans and every
// entry of the scenario library played from start.
func attackedCluster(seed uint64, start time.Time) *simulate.Cluster {
	opts := simulate.Options{Seed: seed}
	attacks := simulate.DemoAttacks(start, 30*time.Minute, 4)
	probe := simulate.New(opts)
	for _, spec := range simulate.ScenarioLibrary() {
		attacks = append(attacks, spec.New(probe, start, 2*time.Hour)...)
	}
	return simulate.New(opts, attacks...)
}

// countingSource counts the calls reaching a source, and the most
// aggregations in flight at once; fail, when set, decides the error of an
// aggregation (and may block).
type countingSource struct {
	source.Source
	mu          sync.Mutex
	aggregates  map[string]int
	asked       []string // query names, in the order asked
	counts      int
	inFlight    int
	maxInFlight int
	fail        func(ctx context.Context, q source.Query) error
}

func newCountingSource(src source.Source) *countingSource {
	return &countingSource{Source: src, aggregates: map[string]int{}}
}

func (c *countingSource) Aggregate(ctx context.Context, w source.Window, q source.Query) ([]source.Row, error) {
	c.mu.Lock()
	c.aggregates[q.Name]++
	c.asked = append(c.asked, q.Name)
	c.inFlight++
	c.maxInFlight = max(c.maxInFlight, c.inFlight)
	fail := c.fail
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight--
		c.mu.Unlock()
	}()
	if fail != nil {
		if err := fail(ctx, q); err != nil {
			return nil, err
		}
	}
	return c.Source.Aggregate(ctx, w, q)
}

func (c *countingSource) Count(ctx context.Context, w source.Window, t calicolog.LogType) (source.Counts, error) {
	c.mu.Lock()
	c.counts++
	c.mu.Unlock()
	return c.Source.Count(ctx, w, t)
}

func (c *countingSource) calls() (aggregates int, byName map[string]int, maxInFlight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byName = map[string]int{}
	for k, v := range c.aggregates {
		aggregates += v
		byName[k] = v
	}
	return aggregates, byName, c.maxInFlight
}

func windowAt(start time.Time, i int) source.Window {
	return source.Window{Start: start.Add(time.Duration(i) * 5 * time.Minute), End: start.Add(time.Duration(i+1) * 5 * time.Minute)}
}

func queryCount(ds []detect.Detector) int {
	n := 0
	for _, d := range ds {
		n += len(d.Queries())
	}
	return n
}

// TestPlanGivesEveryDetectorTheRowsOfItsOwnQueries: on the simulated
// cluster under attack, over several windows, every detector gets from
// the planned (merged) queries exactly the rows the source answers to each
// of its own queries, while the source is asked once per planned query.
func TestPlanGivesEveryDetectorTheRowsOfItsOwnQueries(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		detectors func(testing.TB) []detect.Detector
		seed      uint64
		windows   []int // window numbers from start
		limit     int
	}{
		{"all detectors, sequential", allDetectors, 3, []int{0, 2, 5, 9}, 1},
		{"all detectors, concurrent", allDetectors, 3, []int{1, 4, 7, 12}, 4},
		{"default detectors", defaultDetectors, 8, []int{3, 6, 10}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := tc.detectors(t)
			p, err := newPlan(ds, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n := queryCount(ds); len(p.queries) >= n {
				t.Fatalf("%d planned queries for %d detector queries: nothing merged", len(p.queries), n)
			}
			src := newCountingSource(simulate.NewSource(attackedCluster(tc.seed, start)))
			rowsSeen := 0
			for _, wi := range tc.windows {
				w := windowAt(start, wi)
				before, _, _ := src.calls()
				results, _, err := p.read(context.Background(), src, w, tc.limit, nil)
				if err != nil {
					t.Fatal(err)
				}
				after, byName, maxInFlight := src.calls()
				if after-before != len(p.queries) {
					t.Errorf("window %s: %d source aggregations, want one per planned query (%d)", w, after-before, len(p.queries))
				}
				if maxInFlight > tc.limit {
					t.Errorf("%d aggregations in flight at once, limit %d", maxInFlight, tc.limit)
				}
				got, err := p.split(results, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				for i, d := range ds {
					for j, q := range d.Queries() {
						want, err := src.Source.Aggregate(context.Background(), w, q)
						if err != nil {
							t.Fatal(err)
						}
						rowsSeen += len(want)
						if !reflect.DeepEqual(got[i][j], want) {
							t.Errorf("window %s: detector %s query %s: planned rows differ from its own query's (%d rows against %d)",
								w, d.Name(), q.Name, len(got[i][j]), len(want))
						}
					}
				}
				for name, n := range byName {
					if n != (slices.Index(tc.windows, wi)+1) && strings.Contains(name, "+") {
						t.Errorf("merged query %s asked %d times after %d windows", name, n, slices.Index(tc.windows, wi)+1)
					}
				}
			}
			if rowsSeen == 0 {
				t.Fatal("the windows held no rows: the comparison proved nothing")
			}
		})
	}
}

// TestPlanMergesOnlyQueriesThatReadTheSameGroups checks which queries share
// a pass: filters compare as sets, group-by fields in order.
func TestPlanMergesOnlyQueriesThatReadTheSameGroups(t *testing.T) {
	base := source.Query{Log: calicolog.Flows, GroupBy: []string{"source_namespace", "source_name_aggr"},
		Filters: []source.Term{{Field: "reporter", Values: []string{"src"}}, {Field: "proto", Values: []string{"tcp", "udp"}}}}
	with := func(name string, edit func(*source.Query), metrics ...source.Metric) source.Query {
		q := cloneQuery(base)
		q.Name, q.Metrics = name, metrics
		if edit != nil {
			edit(&q)
		}
		return q
	}
	bytesIn := source.Metric{Name: "in", Kind: source.Sum, Field: "bytes_in"}
	bytesOut := source.Metric{Name: "out", Kind: source.Sum, Field: "bytes_out"}
	records := source.Metric{Name: "records", Kind: source.Count}
	bytesMax := source.Metric{Name: "most", Kind: source.Max, Field: "bytes_in"}
	for _, tc := range []struct {
		name    string
		a, b    source.Query
		merged  bool
		name2   string // the merged query's name
		metrics int    // the merged query's metrics
	}{
		{"same groups, other metrics", with("a", nil, bytesIn), with("b", nil, bytesOut, bytesIn), true, "a+b", 2},
		{"terms in another order", with("a", nil, bytesIn), with("b", func(q *source.Query) { slices.Reverse(q.Filters) }, records), true, "a+b", 2},
		{"values in another order", with("a", nil, bytesIn), with("b", func(q *source.Query) { q.Filters[1].Values = []string{"udp", "tcp"} }, bytesIn), true, "a+b", 1},
		{"a count named otherwise", with("a", nil, records), with("b", func(q *source.Query) { q.Metrics[0].Name = "n" }, records), true, "a+b", 1},
		{"group-by in another order", with("a", nil, bytesIn), with("b", func(q *source.Query) { slices.Reverse(q.GroupBy) }, bytesIn), false, "", 0},
		{"one more group-by field, a Max", with("a", nil, bytesMax), with("b", func(q *source.Query) { q.GroupBy = append(q.GroupBy, "dest_port") }, bytesMax), false, "", 0},
		{"another filter value", with("a", nil, bytesIn), with("b", func(q *source.Query) { q.Filters[0].Values = []string{"dst"} }, bytesIn), false, "", 0},
		{"one filter fewer", with("a", nil, bytesIn), with("b", func(q *source.Query) { q.Filters = q.Filters[:1] }, bytesIn), false, "", 0},
		{"another log", with("a", nil, bytesIn), with("b", func(q *source.Query) { q.Log = calicolog.L7 }, bytesIn), false, "", 0},
		{"same kind, other field", with("a", nil, bytesIn), with("b", nil, source.Metric{Name: "in", Kind: source.Max, Field: "bytes_in"}), true, "a+b", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := []detect.Detector{stubDetector{"da", []source.Query{tc.a}}, stubDetector{"db", []source.Query{tc.b}}}
			p, err := newPlan(ds, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			if merged := len(p.queries) == 1; merged != tc.merged {
				t.Fatalf("merged = %v (%d planned queries), want %v", merged, len(p.queries), tc.merged)
			}
			if !tc.merged {
				for k, q := range []source.Query{tc.a, tc.b} {
					if !reflect.DeepEqual(p.queries[k].query, q) {
						t.Errorf("a query merged with none was changed: %+v, want %+v", p.queries[k].query, q)
					}
				}
				return
			}
			q := p.queries[0].query
			if q.Name != tc.name2 || len(q.Metrics) != tc.metrics {
				t.Errorf("merged query %s with %d metrics (%v), want %s with %d", q.Name, len(q.Metrics), q.Metrics, tc.name2, tc.metrics)
			}
			// Rows of the merged query give each detector its own metrics.
			row := source.Row{Key: []string{"shop", "cart"}, Values: make([]float64, len(q.Metrics))}
			for i, m := range q.Metrics {
				row.Values[i] = float64(10*(int(m.Kind)+1)) + float64(len(m.Field))
			}
			got, err := p.split([][]source.Row{{row}}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			for i, own := range []source.Query{tc.a, tc.b} {
				values := got[i][0][0].Values
				if len(values) != len(own.Metrics) {
					t.Fatalf("detector %d got %d values, want %d", i, len(values), len(own.Metrics))
				}
				for j, m := range own.Metrics {
					if want := float64(10*(int(m.Kind)+1)) + float64(len(idOf(m).field)); values[j] != want {
						t.Errorf("detector %d metric %s: %v, want %v", i, m.Name, values[j], want)
					}
				}
			}
			// A source answering with the wrong number of values is an
			// error naming the query, not a panic.
			_, err = p.split([][]source.Row{{{Key: row.Key, Values: row.Values[:len(row.Values)-1]}}}, time.Time{})
			if err == nil || !strings.Contains(err.Error(), q.Name) {
				t.Errorf("short row: error %v, want one naming %s", err, q.Name)
			}
		})
	}
}

// stubDetector declares queries and judges nothing.
type stubDetector struct {
	name    string
	queries []source.Query
}

func (s stubDetector) Name() string                                         { return s.name }
func (s stubDetector) Queries() []source.Query                              { return s.queries }
func (s stubDetector) Judge(source.Window, [][]source.Row) []detect.Verdict { return nil }
func (s stubDetector) Threshold() float64                                   { return 0.5 }
func (s stubDetector) Ready() bool                                          { return true }

// verdictSink keeps every verdict delivered, by window.
type verdictSink struct {
	windows  []source.Window
	verdicts [][]detect.Verdict
}

func (s *verdictSink) Deliver(ctx context.Context, w source.Window, verdicts []detect.Verdict) {
	s.windows = append(s.windows, w)
	s.verdicts = append(s.verdicts, verdicts)
}

// models saves every persistent detector's model.
func models(t *testing.T, ds []detect.Detector) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, d := range ds {
		if p, ok := d.(detect.Persistent); ok {
			var b bytes.Buffer
			if err := p.SaveModel(&b); err != nil {
				t.Fatalf("%s: %v", d.Name(), err)
			}
			out[d.Name()] = b.Bytes()
		}
	}
	return out
}

// TestPlannedEngineJudgesAndLearnsAsEachQueryAlone runs every registered
// detector over windows of the simulated cluster under attack twice: with
// the plan and concurrent reads, and with each detector query sent alone
// one after another. Both give the same verdicts in every window and
// leave the same models.
func TestPlannedEngineJudgesAndLearnsAsEachQueryAlone(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		windows     int
		concurrency int
	}{
		{"concurrency 3", 14, 3},
		{"sequential", 6, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(merge bool, concurrency int) (*verdictSink, map[string][]byte, *countingSource) {
				ds := allDetectors(t)
				sink := &verdictSink{}
				src := newCountingSource(simulate.NewSource(attackedCluster(5, start)))
				e, err := New(Config{Interval: 5 * time.Minute, Start: start, Sinks: []Sink{sink}, Concurrency: concurrency}, src, ds, scoreboard.New(0), nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !merge {
					if e.plan, err = newPlan(ds, false, nil); err != nil {
						t.Fatal(err)
					}
				}
				for i := range tc.windows {
					if err := e.ProcessWindow(context.Background(), windowAt(start, i)); err != nil {
						t.Fatal(err)
					}
				}
				return sink, models(t, ds), src
			}
			planned, plannedModels, plannedSrc := run(true, tc.concurrency)
			alone, aloneModels, aloneSrc := run(false, 1)
			anomalies := 0
			for i := range alone.verdicts {
				for _, v := range alone.verdicts[i] {
					if v.Anomalous() {
						anomalies++
					}
				}
				if !reflect.DeepEqual(planned.verdicts[i], alone.verdicts[i]) {
					t.Errorf("window %s: the planned engine's %d verdicts differ from the unplanned one's %d", alone.windows[i], len(planned.verdicts[i]), len(alone.verdicts[i]))
				}
			}
			if anomalies == 0 {
				t.Error("no anomalous verdict in the windows: the comparison judged nothing")
			}
			if len(plannedModels) == 0 {
				t.Fatal("no persistent detector")
			}
			for name, m := range aloneModels {
				if !bytes.Equal(plannedModels[name], m) {
					t.Errorf("%s: the planned engine's model differs", name)
				}
			}
			ds := allDetectors(t)
			p, _ := newPlan(ds, true, nil)
			planA, _, maxA := plannedSrc.calls()
			aloneA, _, maxB := aloneSrc.calls()
			if want := tc.windows * len(p.queries); planA != want {
				t.Errorf("planned engine: %d aggregations over %d windows, want %d (%d planned queries a window)", planA, tc.windows, want, len(p.queries))
			}
			if want := tc.windows * queryCount(ds); aloneA != want {
				t.Errorf("unplanned engine: %d aggregations, want %d", aloneA, want)
			}
			if maxA > tc.concurrency || maxB != 1 {
				t.Errorf("aggregations in flight at once: %d (limit %d) and %d (limit 1)", maxA, tc.concurrency, maxB)
			}
		})
	}
}

// TestFailingQueryFailsTheWindowAndNoModelLearns: when one planned query
// fails, the window fails naming the query and the detectors it serves,
// the queries in flight are cancelled, nothing is delivered and no model
// changes; the next window read whole is learned.
func TestFailingQueryFailsTheWindowAndNoModelLearns(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		failing     string // a detector query served by the failing planned query
		concurrency int
	}{
		{"merged flow query, concurrent", "multivariable_flow", 2},
		{"merged l7 query, concurrent", "l7_latency", 4},
		{"lone query, concurrent", "process_bytes_dst", 3},
		{"merged dns query, sequential", "dns_tunnel", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := allDetectors(t)
			sink := &verdictSink{}
			src := newCountingSource(simulate.NewSource(attackedCluster(2, start)))
			board := scoreboard.New(0)
			e, err := New(Config{Interval: 5 * time.Minute, Start: start, Sinks: []Sink{sink}, Concurrency: tc.concurrency}, src, ds, board, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var failing, slow string
			for _, pq := range e.plan.queries {
				names := strings.Split(pq.query.Name, "+")
				switch {
				case slices.Contains(names, tc.failing):
					failing = pq.query.Name
				case slow == "" && tc.concurrency > 1:
					slow = pq.query.Name
				}
			}
			if failing == "" {
				t.Fatalf("no planned query serves %s", tc.failing)
			}
			slowStarted := make(chan struct{})
			var cancelled bool
			src.fail = func(ctx context.Context, q source.Query) error {
				switch q.Name {
				case slow:
					close(slowStarted)
					select {
					case <-ctx.Done():
						cancelled = true
						return ctx.Err()
					case <-time.After(time.Minute):
						return nil
					}
				case failing:
					if slow != "" {
						<-slowStarted
					}
					return errors.New("all shards failed")
				}
				return nil
			}
			before := models(t, ds)
			err = e.ProcessWindow(context.Background(), windowAt(start, 0))
			if err == nil {
				t.Fatal("the window was processed though a query failed")
			}
			if !strings.Contains(err.Error(), "query "+failing+":") || !strings.Contains(err.Error(), "all shards failed") {
				t.Errorf("error %q does not name the query %s and the cause", err, failing)
			}
			for _, d := range e.plan.detectorsOf(slices.IndexFunc(e.plan.queries, func(pq plannedQuery) bool { return pq.query.Name == failing })) {
				if !strings.Contains(err.Error(), d) {
					t.Errorf("error %q does not name detector %s", err, d)
				}
				if snap := board.Snapshot(); snap.Detectors[d].Runs[scoreboard.ResultError] != 1 {
					t.Errorf("detector %s: %d failed runs on the scoreboard, want 1", d, snap.Detectors[d].Runs[scoreboard.ResultError])
				}
			}
			if slow != "" && !cancelled {
				t.Errorf("the query in flight (%s) was not cancelled", slow)
			}
			if len(sink.windows) != 0 {
				t.Errorf("%d windows delivered", len(sink.windows))
			}
			if after := models(t, ds); !reflect.DeepEqual(after, before) {
				for name := range before {
					if !bytes.Equal(before[name], after[name]) {
						t.Errorf("%s learned from a window that failed", name)
					}
				}
			}
			src.fail = nil
			if err := e.ProcessWindow(context.Background(), windowAt(start, 0)); err != nil {
				t.Fatal(err)
			}
			if reflect.DeepEqual(models(t, ds), before) {
				t.Error("no model learned from the window read whole: the check above proves nothing")
			}
		})
	}
}

// TestConcurrencyDefaultsAndBounds: 0 means the default, and the window's
// counts and queries never run more than Concurrency at once.
func TestConcurrencyDefaultsAndBounds(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ set, want int }{{0, DefaultConcurrency}, {-1, DefaultConcurrency}, {1, 1}, {5, 5}} {
		t.Run(fmt.Sprint(tc.set), func(t *testing.T) {
			src := newCountingSource(simulate.NewSource(simulate.New(simulate.Options{Seed: 1})))
			e, err := New(Config{Interval: 5 * time.Minute, Start: start, Concurrency: tc.set}, src, defaultDetectors(t), scoreboard.New(0), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e.cfg.Concurrency != tc.want {
				t.Fatalf("concurrency %d, want %d", e.cfg.Concurrency, tc.want)
			}
			if err := e.ProcessWindow(context.Background(), windowAt(start, 0)); err != nil {
				t.Fatal(err)
			}
			if _, _, m := src.calls(); m > tc.want {
				t.Errorf("%d aggregations at once, limit %d", m, tc.want)
			}
			if src.counts != 3 {
				t.Errorf("%d counts, want one per log type (3)", src.counts)
			}
		})
	}
}

// TestRunAllStopsAtTheFirstError: tasks after a failure do not start
// (sequentially), and a cancelled caller's context is reported.
func TestRunAllStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	for _, limit := range []int{1, 2} {
		var mu sync.Mutex
		ran := 0
		tasks := make([]func(context.Context) error, 6)
		for i := range tasks {
			tasks[i] = func(ctx context.Context) error {
				mu.Lock()
				ran++
				mu.Unlock()
				if i == 1 {
					return boom
				}
				if limit > 1 {
					<-ctx.Done() // every other task waits for the failure
					return ctx.Err()
				}
				return nil
			}
		}
		if err := runAll(context.Background(), limit, tasks); !errors.Is(err, boom) {
			t.Errorf("limit %d: error %v, want boom", limit, err)
		}
		if ran > 1+limit {
			t.Errorf("limit %d: %d tasks ran after a failure among the first two", limit, ran)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := runAll(ctx, limit, tasks[2:]); limit > 1 && !errors.Is(err, context.Canceled) {
			t.Errorf("limit %d: with a cancelled context, error %v", limit, err)
		}
	}
}

// TestQueriesStartLongestFirst: the first window's queries start by
// decreasing number of group-by fields, later windows' by decreasing time
// in the last window read whole; a failed window leaves those times.
func TestQueriesStartLongestFirst(t *testing.T) {
	q := func(name string, groupBy ...string) source.Query {
		// A Max, so that no query is folded into another (see foldable).
		return source.Query{Name: name, Log: calicolog.Flows, GroupBy: groupBy, Metrics: []source.Metric{{Name: "most", Kind: source.Max, Field: "bytes_in"}}}
	}
	ds := []detect.Detector{
		stubDetector{"a", []source.Query{q("one", "source_namespace")}},
		stubDetector{"b", []source.Query{q("three", "source_namespace", "source_name_aggr", "dest_port"), q("two", "source_namespace", "dest_port")}},
	}
	p, err := newPlan(ds, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	src := newCountingSource(simulate.NewSource(simulate.New(simulate.Options{Seed: 1})))
	if _, _, err := p.read(context.Background(), src, windowAt(start, 0), 1, nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"three", "two", "one"}; !slices.Equal(src.asked, want) {
		t.Errorf("first window asked %v, want %v (more group-by fields first)", src.asked, want)
	}
	for _, tc := range []struct {
		took []time.Duration // of one, three, two
		want []string
	}{
		{[]time.Duration{3, 1, 2}, []string{"one", "two", "three"}},
		{[]time.Duration{1, 2, 2}, []string{"three", "two", "one"}},
		{[]time.Duration{5, 5, 5}, []string{"three", "two", "one"}},
	} {
		p.lastTook = tc.took
		var got []string
		for _, k := range p.order() {
			got = append(got, p.queries[k].query.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("after times %v: order %v, want %v", tc.took, got, tc.want)
		}
	}
	p.lastTook = []time.Duration{7, 8, 9}
	src.fail = func(ctx context.Context, q source.Query) error { return errors.New("down") }
	if _, _, err := p.read(context.Background(), src, windowAt(start, 1), 2, nil); err == nil {
		t.Fatal("no error from a source that is down")
	}
	if !slices.Equal(p.lastTook, []time.Duration{7, 8, 9}) {
		t.Errorf("a failed window changed the queries' times to %v", p.lastTook)
	}
	src.fail = nil
	if _, _, err := p.read(context.Background(), src, windowAt(start, 1), 2, nil); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(p.lastTook, []time.Duration{7, 8, 9}) || len(p.lastTook) != 3 {
		t.Errorf("a window read whole left the queries' times at %v", p.lastTook)
	}
}

// BenchmarkProcessWindow reads and judges one simulated window with every
// registered detector, planned (merged, concurrent) and each query alone.
func BenchmarkProcessWindow(b *testing.B) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name        string
		merge       bool
		concurrency int
	}{{"alone", false, 1}, {"planned", true, 1}, {"planned-concurrent", true, 2}} {
		b.Run(bc.name, func(b *testing.B) {
			ds := allDetectors(b)
			src := simulate.NewSource(simulate.New(simulate.Options{Seed: 1}))
			e, err := New(Config{Interval: 5 * time.Minute, Start: start, Concurrency: bc.concurrency}, src, ds, scoreboard.New(0), nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			if !bc.merge {
				if e.plan, err = newPlan(ds, false, nil); err != nil {
					b.Fatal(err)
				}
			}
			w := windowAt(start, 0)
			if err := e.ProcessWindow(context.Background(), w); err != nil { // generates the window
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := e.ProcessWindow(context.Background(), w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPlanFoldsCoarseSumsIntoFinerGroups checks which queries are added up
// from a finer query's groups instead of a pass of their own, and that the
// rows added up are those of the query asked alone.
func TestPlanFoldsCoarseSumsIntoFinerGroups(t *testing.T) {
	fine := source.Query{Name: "fine", Log: calicolog.Flows, GroupBy: []string{"source_namespace", "source_name_aggr", "source_type"},
		Filters: []source.Term{{Field: "reporter", Values: []string{"src"}}},
		Metrics: []source.Metric{{Name: "in", Kind: source.Sum, Field: "bytes_in"}, {Name: "out", Kind: source.Sum, Field: "bytes_out"}, {Name: "rtt", Kind: source.Max, Field: "tcp_max_smooth_rtt"}}}
	coarse := func(edit func(*source.Query)) source.Query {
		q := source.Query{Name: "coarse", Log: calicolog.Flows, GroupBy: []string{"source_namespace"},
			Filters: []source.Term{{Field: "reporter", Values: []string{"src"}}},
			Metrics: []source.Metric{{Name: "records", Kind: source.Count}, {Name: "out", Kind: source.Sum, Field: "bytes_out"}}}
		if edit != nil {
			edit(&q)
		}
		return q
	}
	for _, tc := range []struct {
		name   string
		coarse source.Query
		folded bool
	}{
		{"a prefix, counts and sums the finer computes", coarse(nil), true},
		{"two fields of three", coarse(func(q *source.Query) { q.GroupBy = fine.GroupBy[:2] }), true},
		{"a sum the finer does not compute", coarse(func(q *source.Query) { q.Metrics[1].Field = "packets_out" }), false},
		{"a max", coarse(func(q *source.Query) { q.Metrics[1] = fine.Metrics[2] }), false},
		{"an average", coarse(func(q *source.Query) { q.Metrics[1].Kind = source.Avg }), false},
		{"a distinct count", coarse(func(q *source.Query) {
			q.Metrics[1] = source.Metric{Name: "ips", Kind: source.Cardinality, Field: "dest_ip"}
		}), false},
		{"not a prefix", coarse(func(q *source.Query) { q.GroupBy = []string{"source_name_aggr"} }), false},
		{"another filter", coarse(func(q *source.Query) { q.Filters[0].Values = []string{"dst"} }), false},
		{"no filter", coarse(func(q *source.Query) { q.Filters = nil }), false},
		{"another log", coarse(func(q *source.Query) {
			q.Log, q.GroupBy, q.Filters, q.Metrics = calicolog.DNS, []string{"client_namespace"}, nil, q.Metrics[:1]
		}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := []detect.Detector{stubDetector{"fine", []source.Query{fine}}, stubDetector{"coarse", []source.Query{tc.coarse}}}
			p, err := newPlan(ds, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			if folded := len(p.queries) == 1; folded != tc.folded {
				t.Fatalf("folded = %v (planned %v), want %v", folded, p.Queries(), tc.folded)
			}
			if tc.folded && !slices.Equal(p.queries[0].query.GroupBy, fine.GroupBy) {
				t.Errorf("the folded query groups by %v, want the finer %v", p.queries[0].query.GroupBy, fine.GroupBy)
			}
			start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
			src := simulate.NewSource(attackedCluster(5, start))
			w := windowAt(start, 3)
			results, _, err := p.read(context.Background(), src, w, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.split(results, w.End)
			if err != nil {
				t.Fatal(err)
			}
			for i, q := range []source.Query{fine, tc.coarse} {
				want, err := src.Aggregate(context.Background(), w, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(want) < 2 {
					t.Fatalf("query %s: %d rows, too few to add up", q.Name, len(want))
				}
				if !reflect.DeepEqual(got[i][0], want) {
					t.Errorf("query %s: planned rows differ from its own query's (%d rows against %d)", q.Name, len(got[i][0]), len(want))
				}
			}
		})
	}
}

func TestRollUpAddsUpGroupsSharingAPrefix(t *testing.T) {
	rows := []source.Row{
		{Key: []string{"a", "x"}, Values: []float64{1, 10}},
		{Key: []string{"b", "x"}, Values: []float64{2, 20}},
		{Key: []string{"a", "y"}, Values: []float64{3, 30}},
		{Key: []string{"", "z"}, Values: []float64{4, 40}},
	}
	want := []source.Row{{Key: []string{""}, Values: []float64{4, 40}}, {Key: []string{"a"}, Values: []float64{4, 40}}, {Key: []string{"b"}, Values: []float64{2, 20}}}
	if got := rollUp(rows, 1); !reflect.DeepEqual(got, want) {
		t.Errorf("rollUp = %v, want %v", got, want)
	}
	if got := rollUp(nil, 1); got != nil {
		t.Errorf("rollUp(nil) = %v, want nil", got)
	}
	if got := rollUp([]source.Row{}, 1); got == nil || len(got) != 0 {
		t.Errorf("rollUp(empty) = %#v, want an empty slice", got)
	}
}
