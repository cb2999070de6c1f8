package source_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestStreamCountsWhatMemoryCounts feeds one simulated window (with an
// attack in it) to a Stream record by record and to a Memory source, and
// checks every registered detector's queries get the same rows from both.
func TestStreamCountsWhatMemoryCounts(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	c := simulate.New(simulate.Options{Seed: 3}, simulate.DemoAttacks(day, time.Hour, 2)...)
	var queries []source.Query
	for _, info := range detect.Registered() {
		d, err := info.New(detect.Options{Cluster: c.Name(), Bucket: c.Bucket()})
		if err != nil {
			t.Fatal(err)
		}
		queries = append(queries, d.Queries()...)
	}
	for _, at := range []time.Time{day.Add(10 * time.Minute), day.Add(14 * time.Hour)} {
		w := source.Window{Start: at, End: at.Add(c.Bucket())}
		// A wider range than the window, so the stream must drop records
		// outside it.
		b := c.Window(source.Window{Start: at.Add(-c.Bucket()), End: at.Add(2 * c.Bucket())})
		mem := source.NewMemory("")
		mem.AddFlows(b.Flows...)
		mem.AddDNS(b.DNS...)
		mem.AddL7(b.L7...)
		s, err := source.NewStream(w, queries)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b.Flows {
			s.AddFlow(&b.Flows[i])
		}
		for i := range b.DNS {
			s.AddDNS(&b.DNS[i])
		}
		for i := range b.L7 {
			s.AddL7(&b.L7[i])
		}
		nonEmpty := 0
		for i, q := range queries {
			want, err := mem.Aggregate(context.Background(), w, q)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Rows(i)
			if len(got) > 0 {
				nonEmpty++
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("window %s query %s: stream gave %d rows, memory %d, or they differ", w, q.Name, len(got), len(want))
			}
		}
		if nonEmpty < len(queries)/2 {
			t.Errorf("window %s: only %d of %d queries had rows; the test proves little", w, nonEmpty, len(queries))
		}
	}
}

func TestNewStreamRefusesBadQueries(t *testing.T) {
	w := source.Window{Start: time.Unix(0, 0), End: time.Unix(300, 0)}
	for _, q := range []source.Query{
		{Name: "", Log: "flows", GroupBy: []string{"source_namespace"}},
		{Name: "unknown field", Log: "flows", GroupBy: []string{"no_such_field"}},
		{Name: "unknown log", Log: "audit", GroupBy: []string{"x"}},
	} {
		if _, err := source.NewStream(w, []source.Query{q}); err == nil {
			t.Errorf("query %+v: no error", q)
		}
	}
}
