package detect_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/perf"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestDetectorsForgetTheLeastRecentEntities: each detector keeping state
// per entity, fed an old set of workloads and then a newer one, forgets
// down to the bound exactly the old set, and judges the newer set as a
// twin that forgot nothing does.
func TestDetectorsForgetTheLeastRecentEntities(t *testing.T) {
	const (
		step    = 5 * time.Minute
		n       = 12 // workloads per set
		windows = 6  // windows per set
		warm    = 4*288 + 12
	)
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	window := func(i int) source.Window {
		return source.Window{Start: start.Add(time.Duration(i) * step), End: start.Add(time.Duration(i+1) * step)}
	}
	build := func(t *testing.T, name string) detect.Detector {
		info, ok := detect.Lookup(name)
		if !ok {
			t.Fatalf("no detector %s", name)
		}
		d, err := info.New(detect.Options{Cluster: "c", Bucket: step, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// feed runs window i of the workloads numbered from first through d
	// the way the engine does, and returns the verdicts.
	feed := func(d detect.Detector, i, first, n int) []detect.Verdict {
		w := window(i)
		var rows [][]source.Row
		for _, q := range d.Queries() {
			rows = append(rows, perf.RowsFrom(q, w, first, n))
		}
		if d.Ready() {
			return d.Judge(w, rows)
		}
		if l, ok := d.(interface {
			Learn(source.Window, [][]source.Row)
		}); ok {
			l.Learn(w, rows)
		}
		return nil
	}
	for _, name := range []string{
		"dns_latency", "l7_latency", "multivariable_flow",
		"http_connection_spike", "http_response_codes", "http_verbs",
		"process_bytes", "process_restarts", "dga", "bytes_in", "bytes_out",
	} {
		t.Run(name, func(t *testing.T) {
			bounded, twin := build(t, name), build(t, name)
			b, ok := bounded.(detect.EntityBounded)
			if !ok {
				t.Fatalf("%s does not implement detect.EntityBounded", name)
			}
			// Four days of both sets (workloads 0..2n-1), so that the
			// detectors have baselines and judge; then the newer set
			// (n..2n-1) alone.
			i := 0
			for ; i < warm; i++ {
				feed(bounded, i, 0, 2*n)
				feed(twin, i, 0, 2*n)
			}
			live := b.LiveEntities()
			old := live / 2
			if old == 0 {
				t.Fatalf("no entity live after %d windows of %d workloads", warm, 2*n)
			}
			for range windows {
				feed(bounded, i, n, n)
				feed(twin, i, n, n)
				i++
			}
			if b.LiveEntities() != live {
				t.Fatalf("%d entities live, then %d after windows of a set already seen", live, b.LiveEntities())
			}
			if dropped := b.ForgetLeastRecent(old); dropped != old || b.LiveEntities() != old {
				t.Fatalf("ForgetLeastRecent(%d) dropped %d and kept %d, want %d and %d", old, dropped, b.LiveEntities(), old, old)
			}
			if dropped := b.ForgetLeastRecent(old); dropped != 0 {
				t.Fatalf("a second ForgetLeastRecent(%d) dropped %d", old, dropped)
			}
			// The newer set is kept whole: seeing it again adds no entity,
			// and it is judged as by the twin.
			judged := 0
			for end := i + windows; i < end; i++ {
				got, want := feed(bounded, i, n, n), feed(twin, i, n, n)
				judged += len(want)
				if b.LiveEntities() != old {
					t.Fatalf("window %d of the kept set: %d entities live, want %d", i, b.LiveEntities(), old)
				}
				if fmt.Sprint(scores(got)) != fmt.Sprint(scores(want)) {
					t.Fatalf("window %d: the kept set is judged %v, without forgetting %v", i, scores(got), scores(want))
				}
			}
			if judged == 0 {
				t.Fatalf("precondition: no verdict on the kept set after %d windows", warm)
			}
			// The old set was forgotten: it comes back as new entities.
			feed(bounded, i, 0, n)
			if b.LiveEntities() != 2*old {
				t.Errorf("the forgotten set seen again: %d entities live, want %d", b.LiveEntities(), 2*old)
			}
		})
	}
}

func scores(vs []detect.Verdict) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%s=%.6g", v.Entity.Key(), v.Score)
	}
	return out
}
