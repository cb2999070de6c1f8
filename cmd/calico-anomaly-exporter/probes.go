package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// readiness is /-/ready: ready once every engine has learned its history
// (--train.lookback) and scored its first window, so a Service or a
// rollout does not count on an exporter that is still learning. /-/healthy
// answers as soon as the exporter serves.
type readiness struct {
	total   int
	waiting atomic.Int64
}

func newReadiness(engines int) *readiness {
	r := &readiness{total: engines}
	r.waiting.Store(int64(engines))
	return r
}

// sink returns the engine sink that marks one engine ready at its first
// scored window: the engine delivers no window before its history is
// learned.
func (r *readiness) sink() *firstWindow { return &firstWindow{r: r} }

// firstWindow is an engine sink that counts its engine ready once.
type firstWindow struct {
	r    *readiness
	once sync.Once
}

// Deliver marks the engine ready at its first window.
func (f *firstWindow) Deliver(context.Context, source.Window, []detect.Verdict) {
	f.once.Do(func() { f.r.waiting.Add(-1) })
}

func (r *readiness) ready(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if n := r.waiting.Load(); n > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %d of %d engines still learning their history or waiting for their first window\n", n, r.total)
		return
	}
	fmt.Fprintln(w, "ready")
}

func healthy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "healthy")
}

// searchIntervalGauge exports the search interval the engines run with,
// so rules can judge a detector's last run against it instead of a fixed
// time.
func searchIntervalGauge(interval time.Duration) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "calico_anomaly_search_interval_seconds",
		Help: "How often detection runs and how long a window is (--search.interval or AD_search_interval_minutes), as the engines use it.",
	})
	g.Set(interval.Seconds())
	return g
}
