//go:build integration

package main

import (
	"context"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
)

// Proxy modes.
const (
	pass  int32 = iota // relay to Elasticsearch
	down               // drop every connection, as a stopped node does
	flaky              // answer 429 and 503 now and then, and stall some requests past the client's timeout
)

// faultProxy stands between the exporter and the real Elasticsearch and
// injects the faults of its mode.
type faultProxy struct {
	URL      string
	mode     atomic.Int32
	delay    time.Duration // added to every relayed request
	stall    time.Duration // how long a stalled request waits
	requests atomic.Int64
	mu       sync.Mutex
	injected map[string]int
}

func newFaultProxy(t *testing.T, esURL string, delay, stall time.Duration) *faultProxy {
	t.Helper()
	target, err := url.Parse(esURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{delay: delay, stall: stall, injected: map[string]int{}}
	relay := httputil.NewSingleHostReverseProxy(target)
	relay.ErrorLog = stdlog.New(io.Discard, "", 0) // requests cancelled by the exporter's timeout are expected
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.requests.Add(1)
		switch p.mode.Load() {
		case down:
			p.count("connection dropped")
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			w.WriteHeader(http.StatusBadGateway)
			return
		case flaky:
			switch {
			case n%3 == 0:
				p.count("429")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				fmt.Fprint(w, `{"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"},"status":429}`)
				return
			case n%5 == 0:
				p.count("503")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `{"error":{"type":"search_phase_execution_exception","reason":"all shards failed"},"status":503}`)
				return
			case n%7 == 0:
				p.count("stalled past the timeout")
				select {
				case <-time.After(p.stall):
				case <-r.Context().Done():
					return
				}
			}
		}
		time.Sleep(p.delay)
		relay.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *faultProxy) count(what string) {
	p.mu.Lock()
	p.injected[what]++
	p.mu.Unlock()
}

func (p *faultProxy) faults() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.injected {
		out[k] = v
	}
	return out
}

// loadHours writes hours of simulated traffic, a port scan in its newest
// window, under a cluster name of its own, and returns that name and the
// scanner's deployment.
func loadHours(t *testing.T, prefix string, hours int) (cluster string, end time.Time) {
	t.Helper()
	esURL := testbed.ElasticsearchURL(t)
	cluster = fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1e9)
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: cluster}
	es := newElasticsearch(t, esURL, naming)
	ctx := context.Background()
	if err := es.EnsureTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	end = newestWindowEnd(t)
	sim := simulate.New(simulate.Options{Seed: 5, Cluster: cluster},
		simulate.PortScan{At: end.Add(-bucket / 2), Namespace: "shop", Workload: "frontend", TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 600})
	if _, err := simulate.WriteElasticsearch(ctx, es, naming, sim, end.Add(-time.Duration(hours)*time.Hour), end, bucket); err != nil {
		t.Fatal(err)
	}
	for _, lt := range calicolog.LogTypes {
		if err := es.Refresh(ctx, naming.SearchIndex(lt)); err != nil {
			t.Fatal(err)
		}
	}
	return cluster, end
}

var processedWindow = regexp.MustCompile(`msg="window processed" (?:\S+=\S* )*?window=(\S+)/`)

// windowsInOrder checks the exporter's log lists the want windows ending
// at end, each once and in order, with nothing skipped; windows after end
// (the clock moved on during the test) may follow, also in order.
// The engine counts a window's runs before it logs the window, so the log
// is read once it names the last window.
func windowsInOrder(t *testing.T, e *runningExporter, end time.Time, want int) {
	t.Helper()
	e.waitForLog(t, 30*time.Second, `msg="window processed" window=`+end.Add(-bucket).UTC().Format(time.RFC3339)+"/")
	log := e.log.String()
	var starts []time.Time
	for _, m := range processedWindow.FindAllStringSubmatch(log, -1) {
		s, err := time.Parse(time.RFC3339, m[1])
		if err != nil {
			t.Fatalf("window %q in the log: %v", m[1], err)
		}
		starts = append(starts, s)
	}
	if len(starts) < want {
		t.Fatalf("%d windows processed, want %d", len(starts), want)
	}
	for i, s := range starts {
		if exp := end.Add(-time.Duration(want-i) * bucket); !s.Equal(exp) {
			t.Fatalf("window %d started at %s, want %s: a window was skipped, repeated or out of order", i, s, exp)
		}
	}
}

// TestElasticsearchOutageMidRunLosesNoWindow cuts Elasticsearch off in the
// middle of a catch-up: the exporter reports it down, scores nothing while
// it is gone, never exits, and once it is back scores every remaining
// window in order, the attack included.
func TestElasticsearchOutageMidRunLosesNoWindow(t *testing.T) {
	// The faults are the source's: the scans suffice, and fewer requests
	// per window keep the test short (Calico's variable, as users set it).
	t.Setenv("AD_ENABLED_DETECTORS", "port_scan,ip_sweep")
	cluster, end := loadHours(t, "outage", 2)
	proxy := newFaultProxy(t, testbed.ElasticsearchURL(t), 100*time.Millisecond, 0)
	e := startExporter(t, "--source=elasticsearch", "--es.url="+proxy.URL, "--es.cluster="+cluster,
		fmt.Sprintf("--source.lag=%s", lag), "--source.catch-up=2h", "--es.timeout=2s")
	success := func(mfs map[string]*dto.MetricFamily) float64 {
		return series(mfs, "calico_anomaly_detector_runs_total", "detector", "result")["port_scan/success"]
	}
	e.waitForMetrics(t, time.Minute, "a few windows scored", func(mfs map[string]*dto.MetricFamily) bool { return success(mfs) >= 4 })
	proxy.mode.Store(down)
	mfs := e.waitForMetrics(t, time.Minute, "elasticsearch_up 0", func(mfs map[string]*dto.MetricFamily) bool {
		return series(mfs, "calico_anomaly_elasticsearch_up")[""] == 0
	})
	before, lagBefore := success(mfs), series(mfs, "calico_anomaly_window_lag_seconds")[""]
	time.Sleep(8 * time.Second)
	_, mfs = e.scrape(t)
	if got := success(mfs); got != before {
		t.Errorf("%v windows scored while Elasticsearch was down", got-before)
	}
	if got := series(mfs, "calico_anomaly_window_lag_seconds")[""]; got < lagBefore {
		t.Errorf("window lag fell from %v to %v during the outage", lagBefore, got)
	}
	retries := series(mfs, "calico_anomaly_elasticsearch_retries_total")[""]
	proxy.mode.Store(pass)
	mfs = e.waitForMetrics(t, 2*time.Minute, "every window scored after the outage", func(mfs map[string]*dto.MetricFamily) bool { return success(mfs) >= 24 })
	if e.cmd.ProcessState != nil {
		t.Fatal("the exporter exited")
	}
	if v := series(mfs, "calico_anomaly_elasticsearch_up")[""]; v != 1 {
		t.Errorf("elasticsearch_up = %v after the outage", v)
	}
	if d := series(mfs, "calico_anomaly_detections_total", "detector", "namespace")["port_scan/shop"]; d != 1 {
		t.Errorf("port scan detections = %v, want the attack window's 1", d)
	}
	windowsInOrder(t, e, end, 24)
	t.Logf("outage: scored %v windows before, none during (%v retries, %v), all 24 in order after", before, retries, proxy.faults())
}

// TestElasticsearchSlowAndThrottledRecovers puts a proxy answering 429 and
// 503 and stalling requests past the exporter's timeout in front of
// Elasticsearch: every window is still scored once, in order, and neither
// goroutines nor memory grow.
func TestElasticsearchSlowAndThrottledRecovers(t *testing.T) {
	t.Setenv("AD_ENABLED_DETECTORS", "port_scan,ip_sweep")
	cluster, end := loadHours(t, "flaky", 2)
	proxy := newFaultProxy(t, testbed.ElasticsearchURL(t), 0, 3*time.Second)
	proxy.mode.Store(flaky)
	e := startExporter(t, "--source=elasticsearch", "--es.url="+proxy.URL, "--es.cluster="+cluster,
		fmt.Sprintf("--source.lag=%s", lag), "--source.catch-up=2h", "--es.timeout=1s")
	success := func(mfs map[string]*dto.MetricFamily) float64 {
		return series(mfs, "calico_anomaly_detector_runs_total", "detector", "result")["port_scan/success"]
	}
	first := e.waitForMetrics(t, 2*time.Minute, "the first windows scored", func(mfs map[string]*dto.MetricFamily) bool { return success(mfs) >= 2 })
	goroutinesEarly := series(first, "go_goroutines")[""]
	mfs := e.waitForMetrics(t, 4*time.Minute, "every window scored through the faults", func(mfs map[string]*dto.MetricFamily) bool { return success(mfs) >= 24 })
	faults := proxy.faults()
	if faults["429"] == 0 || faults["503"] == 0 || faults["stalled past the timeout"] == 0 {
		t.Fatalf("faults injected %v, want each kind", faults)
	}
	if r := series(mfs, "calico_anomaly_elasticsearch_retries_total")[""]; r == 0 {
		t.Error("no retries counted through 429s, 503s and timeouts")
	}
	if d := series(mfs, "calico_anomaly_detections_total", "detector", "namespace")["port_scan/shop"]; d != 1 {
		t.Errorf("port scan detections = %v, want 1", d)
	}
	windowsInOrder(t, e, end, 24)
	// Nothing keeps running for the failed requests.
	proxy.mode.Store(pass)
	time.Sleep(2 * time.Second)
	_, mfs = e.scrape(t)
	if g := series(mfs, "go_goroutines")[""]; g > goroutinesEarly+5 {
		t.Errorf("goroutines grew from %v to %v over the faults", goroutinesEarly, g)
	}
	if rss := series(mfs, "process_resident_memory_bytes")[""]; rss > 200<<20 {
		t.Errorf("resident memory %v MiB", rss/(1<<20))
	}
	t.Logf("faults injected over %d requests: %v; retries %v; goroutines %v -> %v; RSS %.0f MiB", proxy.requests.Load(), faults,
		series(mfs, "calico_anomaly_elasticsearch_retries_total")[""], goroutinesEarly, series(mfs, "go_goroutines")[""], series(mfs, "process_resident_memory_bytes")[""]/(1<<20))
}

// processedWindows lists the window starts an exporter's log says it
// processed, in order.
func processedWindows(t *testing.T, log string) []time.Time {
	t.Helper()
	var out []time.Time
	for _, m := range processedWindow.FindAllStringSubmatch(log, -1) {
		s, err := time.Parse(time.RFC3339, m[1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestKilledMidCatchUpResumesWithoutSkipOrRescore kills the exporter with
// SIGKILL in the middle of a catch-up and starts it again on the same
// storage folder: together the two runs score every window in order, and
// at most the one window in flight at the kill twice, and the learned
// models saved with the last completed window are loaded intact, not
// learned again from the start.
func TestKilledMidCatchUpResumesWithoutSkipOrRescore(t *testing.T) {
	// The scans and two learned detectors whose models must survive.
	t.Setenv("AD_ENABLED_DETECTORS", "port_scan,ip_sweep,generic_flows,time_series_flows")
	cluster, end := loadHours(t, "kill", 2)
	proxy := newFaultProxy(t, testbed.ElasticsearchURL(t), 150*time.Millisecond, 0)
	storage := t.TempDir()
	args := []string{"--source=elasticsearch", "--es.url=" + proxy.URL, "--es.cluster=" + cluster,
		fmt.Sprintf("--source.lag=%s", lag), "--source.catch-up=2h", "--model.dir=" + storage}
	first := startExporter(t, args...)
	first.waitForMetrics(t, time.Minute, "some windows scored", func(mfs map[string]*dto.MetricFamily) bool {
		return series(mfs, "calico_anomaly_detector_runs_total", "detector", "result")["port_scan/success"] >= 8
	})
	if err := first.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	before := processedWindows(t, first.log.String())

	second := startExporter(t, args...)
	second.waitForMetrics(t, 2*time.Minute, "the rest scored after the restart", func(mfs map[string]*dto.MetricFamily) bool {
		w := processedWindows(t, second.log.String())
		return len(w) > 0 && !w[len(w)-1].Before(end.Add(-bucket))
	})
	after := processedWindows(t, second.log.String())
	if !strings.Contains(second.log.String(), "resuming after the last completed window") {
		t.Error("the restarted exporter did not resume from its storage")
	}
	_, mfs := second.scrape(t)
	learners := []string{"generic_flows", "time_series_flows"}
	loadErrors := series(mfs, "calico_anomaly_model_load_errors_total", "detector")
	trained := series(mfs, "calico_anomaly_model_trained_windows_total", "detector")
	for _, d := range learners {
		if !strings.Contains(second.log.String(), `msg="model loaded" detector=`+d) {
			t.Errorf("the restarted exporter did not load the %s model", d)
		}
		if loadErrors[d] != 0 {
			t.Errorf("%s: %v model load errors after the kill", d, loadErrors[d])
		}
		// A model not yet ready learns every window it sees: after the
		// restart, only the windows of the second run, not the first again.
		if trained[d] > float64(len(after)) {
			t.Errorf("%s learned %v windows after the restart, more than the %d it scored: its model was not loaded", d, trained[d], len(after))
		}
	}
	if len(after) == 0 || after[0].After(before[len(before)-1].Add(bucket)) {
		t.Fatalf("a window was skipped across the kill: first run ended at %s, second began at %s", before[len(before)-1], after[0])
	}
	rescored := 0
	seen := map[time.Time]int{}
	for _, w := range append(append([]time.Time(nil), before...), after...) {
		seen[w]++
		if seen[w] == 2 {
			rescored++
		}
	}
	if rescored > 1 {
		t.Errorf("%d windows scored twice across the kill, want at most the one in flight", rescored)
	}
	for w := end.Add(-2 * time.Hour); w.Before(end); w = w.Add(bucket) {
		if seen[w] == 0 {
			t.Errorf("window %s never scored", w)
		}
	}
	t.Logf("killed after %d windows; the restart resumed at %s and scored %d more; %d scored twice", len(before), after[0].Format(time.RFC3339), len(after), rescored)
}
