//go:build integration

package source_test

import (
	"context"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestScenarioLibraryRoundTripsThroughElasticsearch writes the windows of
// every library scenario into the real Elasticsearch and reads them back
// with the aggregations of the detectors the scenario names: counts and
// rows equal the simulated source's for the same records, and the
// labelled windows hold the attack's rows.
func TestScenarioLibraryRoundTripsThroughElasticsearch(t *testing.T) {
	start := day0.Add(10 * time.Hour)
	for _, spec := range simulate.ScenarioLibrary() {
		t.Run(spec.Name, func(t *testing.T) {
			naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: unique("scn")}
			opts := simulate.Options{Seed: 7, Cluster: naming.Cluster}
			c := simulate.New(opts, spec.New(simulate.New(opts), start, 2*time.Hour)...)
			var windows []source.Window
			for w := start; w.Before(start.Add(2 * time.Hour)); w = w.Add(bucket) {
				win := source.Window{Start: w, End: w.Add(bucket)}
				if len(c.Truth(win)) > 0 {
					windows = append(windows, win)
				}
			}
			if len(windows) == 0 {
				t.Fatal("the scenario labels no window")
			}
			from, to := windows[0].Start, windows[len(windows)-1].End
			es := newES(t, naming, 500, nil)
			st, err := simulate.WriteElasticsearch(context.Background(), es, naming, c, from, to, bucket)
			if err != nil {
				t.Fatal(err)
			}
			refresh(t, es, naming)
			var queries []source.Query
			for _, name := range spec.Detectors {
				info, ok := detect.Lookup(name)
				if !ok {
					t.Fatalf("the scenario names detector %s, which is not registered", name)
				}
				d, err := info.New(detect.Options{Cluster: naming.Cluster, Bucket: bucket, Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				queries = append(queries, d.Queries()...)
			}
			rows := compare(t, es, simulate.NewSource(c), windows, queries)
			total := 0
			for _, n := range rows {
				total += n
			}
			if total == 0 {
				t.Error("the detectors' queries found no rows in the labelled windows")
			}
			t.Logf("%d records in %d labelled windows; %d rows across %d queries equal in both sources", st.Records(), len(windows), total, len(queries))
		})
	}
}
