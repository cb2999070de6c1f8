//go:build integration

package engine

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestPlanOnElasticsearchGivesEveryDetectorItsOwnRows writes an hour of the
// simulated cluster under every library attack into the test bed's
// Elasticsearch and reads it, a few groups a page, through the plan of
// every registered detector with concurrent queries: each detector's rows
// equal what Elasticsearch answers to each of its own queries (the source
// contract tests hold Elasticsearch to the in-memory source's answers),
// and Elasticsearch is asked one aggregation per planned query.
func TestPlanOnElasticsearchGivesEveryDetectorItsOwnRows(t *testing.T) {
	start := time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)
	bucket := 5 * time.Minute
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: fmt.Sprintf("plan%d", time.Now().UnixNano()%1e9)}
	opts := simulate.Options{Seed: 9, Cluster: naming.Cluster}
	attacks := simulate.DemoAttacks(start, 30*time.Minute, 2)
	for _, spec := range simulate.ScenarioLibrary() {
		attacks = append(attacks, spec.New(simulate.New(opts), start, 2*time.Hour)...)
	}
	c := simulate.New(opts, attacks...)
	es, err := source.NewElasticsearch(source.ElasticsearchConfig{URLs: []string{testbed.ElasticsearchURL(t)}, Naming: naming, PageSize: 7}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ds := writeAndBuild(t, es, naming, c, start, start.Add(time.Hour), bucket)
	p, err := newPlan(ds, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	counting := newCountingSource(es)
	rows := 0
	for i := 0; i < 12; i += 3 {
		w := source.Window{Start: start.Add(time.Duration(i) * bucket), End: start.Add(time.Duration(i+1) * bucket)}
		before, _, _ := counting.calls()
		results, _, err := p.read(ctx, counting, w, 3, nil)
		if err != nil {
			t.Fatal(err)
		}
		if after, _, _ := counting.calls(); after-before != len(p.queries) {
			t.Errorf("%s: %d aggregations, want %d", w, after-before, len(p.queries))
		}
		got, err := p.split(results, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for di, d := range ds {
			for qi, q := range d.Queries() {
				own, err := es.Aggregate(ctx, w, q)
				if err != nil {
					t.Fatal(err)
				}
				rows += len(own)
				if !reflect.DeepEqual(got[di][qi], own) {
					t.Errorf("%s: detector %s query %s: planned rows differ from its own query's on Elasticsearch", w, d.Name(), q.Name)
				}
			}
		}
	}
	if rows == 0 {
		t.Fatal("no rows: the comparison proved nothing")
	}
}

// TestShardedPlanOnElasticsearchReadsEachReplicaItsNamespaces writes an
// hour of a simulated cluster of ten namespaces, with outside attackers,
// into the test bed's Elasticsearch and reads two windows through the
// plans of four sharded replicas: in the second window each replica's
// namespace-scoped queries leave out the namespaces the first showed to be
// other replicas', and every detector still gets exactly its rows (those
// of its own query on Elasticsearch, namespace-scoped detectors only the
// rows of the replica's namespaces), while Elasticsearch answers the four
// replicas about as many rows as one alone.
func TestShardedPlanOnElasticsearchReadsEachReplicaItsNamespaces(t *testing.T) {
	const total = 4
	start := time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)
	bucket := 5 * time.Minute
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: fmt.Sprintf("shard%d", time.Now().UnixNano()%1e9)}
	c := simulate.New(simulate.Options{Seed: 9, Cluster: naming.Cluster, Namespaces: 10, DeploymentsPerNamespace: 2}, simulate.DemoAttacks(start, 10*time.Minute, 2)...)
	es, err := source.NewElasticsearch(source.ElasticsearchConfig{URLs: []string{testbed.ElasticsearchURL(t)}, Naming: naming, PageSize: 50}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ds := writeAndBuild(t, es, naming, c, start, start.Add(30*time.Minute), bucket)
	first := source.Window{Start: start, End: start.Add(bucket)}
	second := source.Window{Start: first.End.Add(bucket), End: first.End.Add(2 * bucket)}
	whole, err := newPlan(ds, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	wholeRows := 0
	results, _, err := whole.read(ctx, es, second, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range results {
		wholeRows += len(rs)
	}
	shardedRows, compared := 0, 0
	// Each replica reads the second window twice: knowing every namespace
	// of the first, then having forgotten half of them, which it must
	// read again as new.
	for index := range 2 * total {
		book := newNamespaceBook(Shard{Total: total, Index: index % total}, naming.Cluster)
		p, err := newPlan(ds, true, book)
		if err != nil {
			t.Fatal(err)
		}
		forget := index >= total
		for _, w := range []source.Window{first, second} {
			if w == second && forget {
				n := 0
				for ns := range book.known {
					if n%2 == 0 {
						delete(book.known, ns)
					}
					n++
				}
			}
			results, _, err := p.read(ctx, es, w, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.split(results, w.End)
			if err != nil {
				t.Fatal(err)
			}
			if w != second {
				continue
			}
			if !forget {
				for _, rs := range results {
					shardedRows += len(rs)
				}
			}
			for di, d := range ds {
				for qi, q := range d.Queries() {
					want, err := es.Aggregate(ctx, w, q)
					if err != nil {
						t.Fatal(err)
					}
					if scopeOf(d).Sharded() {
						want = book.own(want)
					}
					compared += len(want)
					if len(got[di][qi]) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got[di][qi], want)) {
						t.Errorf("replica %d (forgot half the namespaces: %t), detector %s query %s: %d rows, want %d", index%total, forget, d.Name(), q.Name, len(got[di][qi]), len(want))
					}
				}
			}
		}
		if _, ok := book.filter(); !ok {
			t.Errorf("replica %d learned no other replica's namespace from the first window", index%total)
		}
	}
	if compared == 0 {
		t.Fatal("no rows: the comparison proved nothing")
	}
	t.Logf("second window: one replica was answered %d rows, four sharded ones %d together", wholeRows, shardedRows)
	if shardedRows >= 2*wholeRows {
		t.Errorf("four replicas were answered %d rows, one alone %d: the namespace filters did not reach Elasticsearch", shardedRows, wholeRows)
	}
}

// writeAndBuild writes the simulated cluster c from start to end into the
// test bed's Elasticsearch, makes it searchable, and returns one of every
// registered detector for its cluster.
func writeAndBuild(t *testing.T, es *source.Elasticsearch, naming calicolog.IndexNaming, c *simulate.Cluster, start, end time.Time, bucket time.Duration) []detect.Detector {
	t.Helper()
	ctx := context.Background()
	if err := es.EnsureTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := simulate.WriteElasticsearch(ctx, es, naming, c, start, end, bucket); err != nil {
		t.Fatal(err)
	}
	for _, lt := range calicolog.LogTypes {
		if err := es.Refresh(ctx, naming.SearchIndex(lt)); err != nil {
			t.Fatal(err)
		}
	}
	var ds []detect.Detector
	for _, info := range detect.Registered() {
		d, err := info.New(detect.Options{Cluster: naming.Cluster, Bucket: bucket, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return ds
}
