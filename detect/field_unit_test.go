package detect

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestBaselineVerdictCarriesTheFieldsUnit spikes one field of an entity
// whose fields were steady for three days: the verdict is that field's,
// and its observed and expected values come with the field's unit.
func TestBaselineVerdictCarriesTheFieldsUnit(t *testing.T) {
	tests := []struct {
		detector string
		key      []string
		field    string
		unit     string
	}{
		{"generic_l7", []string{"shop", "cart-*", "wep"}, "bytes_out", UnitBytes},
		{"generic_l7", []string{"shop", "cart-*", "wep"}, "duration_max", UnitNanoseconds},
		{"generic_l7", []string{"shop", "cart-*", "wep"}, "count", UnitRequests},
		{"l7_bytes", []string{"shop", "cart-*", "wep"}, "bytes_in", UnitBytes},
		{"time_series_dns", []string{"shop"}, "count", UnitQueries},
		{"time_series_dns", []string{"shop"}, "latency_mean", UnitNanoseconds},
	}
	bucket := 5 * time.Minute
	for _, tc := range tests {
		t.Run(tc.detector+"/"+tc.field, func(t *testing.T) {
			info, ok := Lookup(tc.detector)
			if !ok {
				t.Fatalf("%s is not registered", tc.detector)
			}
			d, err := info.New(Options{Cluster: "c", Bucket: bucket, Params: map[string]string{"min_size_for_train": "0"}})
			if err != nil {
				t.Fatal(err)
			}
			metrics := d.Queries()[0].Metrics
			row := func(rng *rand.Rand, spike float64) source.Row {
				r := source.Row{Key: tc.key}
				for _, m := range metrics {
					v := 1000 * math.Exp(0.05*rng.NormFloat64())
					if m.Name == recordsMetric {
						v = 6
					}
					if m.Name == tc.field {
						v *= spike
					}
					r.Values = append(r.Values, v)
				}
				return r
			}
			rng := rand.New(rand.NewPCG(1, 2))
			judged := weekStart.Add(3*24*time.Hour + 14*time.Hour)
			for tt := weekStart; tt.Before(judged); tt = tt.Add(bucket) {
				w := source.Window{Start: tt, End: tt.Add(bucket)}
				d.(Learner).Learn(w, [][]source.Row{{row(rng, 1)}})
			}
			vs := d.Judge(source.Window{Start: judged, End: judged.Add(bucket)}, [][]source.Row{{row(rng, 40)}})
			if len(vs) != 1 {
				t.Fatalf("%d verdicts, want 1", len(vs))
			}
			v := vs[0]
			if !v.Anomalous() || v.Observed < 10000 {
				t.Fatalf("verdict %+v: want the spiked %s (about 40000) anomalous", v, tc.field)
			}
			if v.Unit != tc.unit {
				t.Errorf("unit %q, want %q: %s", v.Unit, tc.unit, v.Summary)
			}
		})
	}
}
