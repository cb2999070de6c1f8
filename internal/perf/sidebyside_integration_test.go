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
		Reload: true, Logf: t.Logf,
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
	if res.AggWall <= 0 || res.AggTook < 0 || res.RawWall <= 0 || !res.Loaded || res.LoadRate() <= 0 {
		t.Errorf("a figure is missing: %+v", res)
	}
}
