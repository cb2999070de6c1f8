package collector

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/perf"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
)

// boardWithVerdicts is a scoreboard holding n verdicts spread over
// detectors detectors (n/detectors workloads each, 50 to a namespace).
func boardWithVerdicts(n, detectors int) *scoreboard.Scoreboard {
	b := scoreboard.New(0)
	per := n / detectors
	for d := range detectors {
		name := fmt.Sprintf("detector_%02d", d)
		b.AddDetector(name, 0.5, true)
		vs := make([]detect.Verdict, per)
		for i := range vs {
			vs[i] = detect.Verdict{
				Detector: name,
				Entity:   detect.Entity{Cluster: "cluster", Namespace: fmt.Sprintf("team-%03d", i/50), Workload: fmt.Sprintf("svc-%05d-7d4f8b-*", i), Type: "wep"},
				Window:   window, Score: float64(i%1000) / 1000, Threshold: 0.5, Observed: float64(i), Expected: 500,
			}
		}
		b.Publish(name, window, vs, true, time.Second, now)
	}
	return b
}

// BenchmarkMetrics20kSeries renders /metrics through promhttp, as a
// scrape does, with 20,000 verdicts on the scoreboard (each exports a
// score, an observed and an expected series). The target is under 100 ms
// an op.
func BenchmarkMetrics20kSeries(b *testing.B) {
	const verdicts = 20000
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(boardWithVerdicts(verdicts, 10), func() time.Time { return now }))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d", rec.Code)
	}
	series := strings.Count(rec.Body.String(), "\ncalico_anomaly_score{")
	if series != verdicts {
		b.Fatalf("%d score series rendered, want %d", series, verdicts)
	}
	size := rec.Body.Len()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := perf.CPUTime()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		io.Copy(io.Discard, rec.Body)
	}
	b.ReportMetric(float64(perf.CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(series), "score-series")
	b.ReportMetric(float64(size), "bytes/scrape")
}
