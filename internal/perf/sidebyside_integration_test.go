//go:build integration

package perf

import (
	"context"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
)

// TestSideBySideOnElasticsearch runs the side-by-side on a small window in
// the test bed's Elasticsearch: both paths must read every record and
// count the same rows for every enabled detector's query.
func TestSideBySideOnElasticsearch(t *testing.T) {
	url := testbed.ElasticsearchURL(t)
	res, err := SideBySide(context.Background(), SideBySideConfig{
		URL: url, Cluster: "bench-it", FlowRecords: 3000, Namespaces: 6, DeploymentsPerNamespace: 4,
		Reload: true, Shards: 2, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Flows != 3000 || res.DNS == 0 {
		t.Errorf("window holds %d flow and %d DNS records, want 3000 and some", res.Flows, res.DNS)
	}
	if res.RawDocs != res.Flows+res.DNS+res.L7 {
		t.Errorf("raw path read %d documents, the window holds %d", res.RawDocs, res.Flows+res.DNS+res.L7)
	}
	if res.Queries == 0 || res.QueriesEqual != res.Queries {
		t.Errorf("%d of %d queries agree: %v", res.QueriesEqual, res.Queries, res.Mismatches)
	}
	if res.Shards != 2 || res.ShardsTook < 0 || res.ReadWall <= 0 || res.ReadTook < 0 {
		t.Errorf("the reading alone or the replicas were not measured: %+v", res)
	}
	if res.AggWall <= 0 || res.AggTook < 0 || res.RawWall <= 0 || !res.Loaded || res.LoadRate() <= 0 {
		t.Errorf("a figure is missing: %+v", res)
	}
}

// TestColdStartOnElasticsearch loads two windows of a small cluster's
// history and has the engine learn them: every record is loaded, then
// read back by the learning.
func TestColdStartOnElasticsearch(t *testing.T) {
	url := testbed.ElasticsearchURL(t)
	cfg := ColdStartConfig{URL: url, Cluster: "coldstart-it", Namespaces: 3, DeploymentsPerNamespace: 4, Windows: 2, Logf: t.Logf}
	res, err := ColdStart(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Workloads != 12 || res.Windows != 2 || res.Records == 0 {
		t.Errorf("want 2 windows of 12 workloads with records: %+v", res)
	}
	if res.Learn <= 0 || res.LookbackWindow != 2016 || res.Scaled < res.Learn*1000 {
		t.Errorf("learning not measured or not scaled to 7 days of 5-minute windows: %+v", res)
	}
	again, err := ColdStart(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.Loaded {
		t.Error("a second run loaded the windows again although the indices held them")
	}
}
