//go:build integration

package source_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestDiscoverClustersOnTheTestBed writes two clusters' simulated logs (and
// a decoy whose name the pattern does not match) in each layout and
// discovers exactly the two. Names are unique per run, so indices left by
// earlier runs and other tests only show up if the pattern is wrong.
func TestDiscoverClustersOnTheTestBed(t *testing.T) {
	from, to := day0, day0.Add(10*time.Minute)
	for _, tc := range []struct {
		name   string
		layout calicolog.Layout
		tenant string
	}{
		{"legacy layout", calicolog.LayoutLegacy, ""},
		{"legacy layout with a tenant", calicolog.LayoutLegacy, "acme"},
		{"single layout", calicolog.LayoutSingle, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := unique("disc")
			// The second name holds a dot, as a cluster name may.
			want := []string{base + "-east", base + "-west.eu"}
			decoy := base + "x"
			var es *source.Elasticsearch
			for i, cluster := range append(append([]string(nil), want...), decoy) {
				naming := calicolog.IndexNaming{Layout: tc.layout, Cluster: cluster, Tenant: tc.tenant}
				w := newES(t, naming, 0, nil)
				c := simulate.New(simulate.Options{Seed: uint64(20 + i), Cluster: cluster})
				if _, err := simulate.WriteElasticsearch(context.Background(), w, naming, c, from, to, bucket); err != nil {
					t.Fatal(err)
				}
				refresh(t, w, naming)
				if i == 0 {
					es = w
				}
			}

			ctx := context.Background()
			got, err := es.DiscoverClusters(ctx, tc.layout, base+"-*")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("discovered %q, want %q", got, want)
			}
			got, err = es.DiscoverClusters(ctx, tc.layout, base+"*")
			if err != nil {
				t.Fatal(err)
			}
			if wantAll := append(append([]string(nil), want...), decoy); !reflect.DeepEqual(got, wantAll) {
				t.Errorf("discovered %q with %s*, want %q", got, base, wantAll)
			}
			got, err = es.DiscoverClusters(ctx, tc.layout, base+"-none-*")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 0 {
				t.Errorf("discovered %q where no cluster matches", got)
			}
			// Every cluster: at least the ones written here.
			all, err := es.DiscoverClusters(ctx, tc.layout, "*")
			if err != nil {
				t.Fatal(err)
			}
			found := map[string]bool{}
			for _, c := range all {
				found[c] = true
			}
			for _, c := range want {
				if !found[c] {
					t.Errorf("%s not among the %d clusters discovered with *", c, len(all))
				}
			}
		})
	}
}
