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
// scrape does, holding 20,000 series in all: 6,640 verdicts on the
// scoreboard (each exports a score, an observed and an expected series)
// and the detectors' health series. The target is under 100 ms an op.
func BenchmarkMetrics20kSeries(b *testing.B) { benchmarkMetrics(b, 6640) }

// BenchmarkMetrics20kVerdicts is the same with 20,000 verdicts, about
// 60,000 series.
func BenchmarkMetrics20kVerdicts(b *testing.B) { benchmarkMetrics(b, 20000) }

func benchmarkMetrics(b *testing.B, verdicts int) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(boardWithVerdicts(verdicts, 10), func() time.Time { return now }))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d", rec.Code)
	}
	body := rec.Body.String()
	if scores := strings.Count(body, "\ncalico_anomaly_score{"); scores != verdicts {
		b.Fatalf("%d score series rendered, want %d", scores, verdicts)
	}
	series := 0
	for line := range strings.Lines(body) {
		if line != "\n" && !strings.HasPrefix(line, "#") {
			series++
		}
	}
	size := len(body)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := perf.CPUTime()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		io.Copy(io.Discard, rec.Body)
	}
	b.ReportMetric(float64(perf.CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(series), "series")
	b.ReportMetric(float64(verdicts), "verdicts")
	b.ReportMetric(float64(size), "bytes/scrape")
}
