package perf

import (
	"runtime"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// benchStart is the first synthetic window; a Monday.
var benchStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

const bucket = 5 * time.Minute

// trained returns every registered detector trained on synthetic windows
// of entities workloads (one window an hour, at least two days of
// them), and the window after the last one fed.
func trained(tb testing.TB, entities int) ([]detect.Detector, source.Window) {
	tb.Helper()
	ds, err := AllDetectors("c", bucket)
	if err != nil {
		tb.Fatal(err)
	}
	at, _ := Train(ds, benchStart, time.Hour, bucket, entities, 48, 500)
	if nr := NotReady(ds); len(nr) > 0 {
		tb.Fatalf("detectors not ready after training: %v", nr)
	}
	return ds, source.Window{Start: at, End: at.Add(bucket)}
}

// BenchmarkScoreWindow10kEntities is one window of 10,000 workloads judged
// by every registered detector (enabled by default or not), after their
// models learned two days of windows. Run it with GOMAXPROCS=1 (make
// bench does) for the one-core figure; the target is under 1 s an op.
func BenchmarkScoreWindow10kEntities(b *testing.B) {
	const entities = 10000
	ds, w := trained(b, entities)
	rows := make([][][]source.Row, len(ds))
	for i, d := range ds {
		rows[i] = WindowRows(d, w, entities)
	}
	judged := 0
	for i, d := range ds {
		judged += len(d.Judge(w, rows[i]))
	}
	if judged == 0 {
		b.Fatal("no detector judged anything")
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := CPUTime()
	for b.Loop() {
		for i, d := range ds {
			d.Judge(w, rows[i])
		}
	}
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N)/entities, "allocs/entity")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(b.N)/entities, "B/entity")
	b.ReportMetric(float64(judged), "verdicts/op")
	b.ReportMetric(float64(len(ds)), "detectors")
}

// TestTrainedDetectorsJudgeEveryEntity checks the synthetic rows make every
// detector ready and give verdicts for the entities.
func TestTrainedDetectorsJudgeEveryEntity(t *testing.T) {
	const entities = 200
	ds, w := trained(t, entities)
	for _, d := range ds {
		vs := d.Judge(w, WindowRows(d, w, entities))
		if len(vs) == 0 {
			t.Errorf("%s judged no entity", d.Name())
		}
	}
}
