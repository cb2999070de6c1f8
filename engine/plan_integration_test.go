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
	if err := es.EnsureTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := simulate.WriteElasticsearch(ctx, es, naming, c, start, start.Add(time.Hour), bucket); err != nil {
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
	p, err := newPlan(ds, true)
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
		got, err := p.split(results)
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
