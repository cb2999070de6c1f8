package detect

import (
	"math"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// http_response_codes: the smoothed share of errors scores how far it
// moved from the service's usual share towards 100%.
func TestCodeScore(t *testing.T) {
	tests := []struct {
		name             string
		errors, requests float64
		usual            float64
		atLeast, atMost  float64
	}{
		{"a usual window scores nothing", 10, 1000, 0.01, 0, 0.001},
		{"fewer errors than usual score nothing", 0, 1000, 0.05, 0, 0},
		{"three requests that all fail stay below 0.5", 3, 3, 0.01, 0.04, 0.07},
		{"nine in ten requests failing score above 0.5", 900, 1000, 0.01, 0.85, 0.87},
		{"half the requests failing sits near 0.5", 500, 1000, 0.001, 0.47, 0.49},
		{"a service that always fails cannot move", 10, 10, 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := codeScore(tt.errors, tt.requests, tt.usual)
			if got < tt.atLeast || got > tt.atMost {
				t.Errorf("codeScore(%v, %v, %v) = %.4f, want within [%v, %v]", tt.errors, tt.requests, tt.usual, got, tt.atLeast, tt.atMost)
			}
		})
	}
}

// http_verbs: a method is rare when it is both a small share of the
// requests and seldom answered at all; additive smoothing keeps new
// services from alerting.
func TestMethodRarity(t *testing.T) {
	get, patch, options := methodCategory("GET"), methodCategory("PATCH"), methodCategory("OPTIONS")
	tests := []struct {
		name    string
		history func(h *methodHistory)
		method  int
		rare    bool
	}{
		{"a method never seen by a service with long history", func(h *methodHistory) {
			h.Counts[get], h.Present[get], h.Windows = 50000, 1000, 1000
		}, options, true},
		{"a method never seen by a service with 50 windows", func(h *methodHistory) {
			h.Counts[get], h.Present[get], h.Windows = 5000, 50, 50
		}, options, false},
		{"a low-share method answered in most windows", func(h *methodHistory) {
			h.Counts[get], h.Present[get], h.Windows = 50000, 1000, 1000
			h.Counts[patch], h.Present[patch] = 300, 700
		}, patch, false},
		{"a low-share method answered in few windows", func(h *methodHistory) {
			h.Counts[get], h.Present[get], h.Windows = 50000, 1000, 1000
			h.Counts[patch], h.Present[patch] = 6, 3
		}, patch, true},
		{"the common method", func(h *methodHistory) {
			h.Counts[get], h.Present[get], h.Windows = 50000, 1000, 1000
		}, get, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h methodHistory
			tt.history(&h)
			score := 1 - h.probability(tt.method)
			if (score >= 0.99) != tt.rare {
				t.Errorf("score %.5f, rare (>= 0.99) want %v", score, tt.rare)
			}
		})
	}
	for m, want := range map[string]string{"get": "GET", " TRACE ": "TRACE", "PROPFIND": "other", "": "other"} {
		if got := httpMethods[methodCategory(m)]; got != want {
			t.Errorf("method %q falls in %s, want %s", m, got, want)
		}
	}
}

// process_restarts: the alert bound is min restarts above what a workload
// steadily shows, and more where its restarts vary.
func TestProcessRestartsBound(t *testing.T) {
	d, err := newProcessRestarts(Options{Bucket: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	pr := d.(*processRestarts)
	e := Entity{Namespace: "n", Workload: "w-*", Type: "wep"}
	tests := []struct {
		name      string
		restarts  []float64 // learned windows
		wantBound float64
	}{
		{"never restarts", []float64{0, 0, 0, 0}, 4},
		{"pods sharing a record show a steady offset", []float64{2, 2, 2, 2}, 6},
		{"recycles workers unevenly", []float64{3, 9, 3, 9}, 6 + pr.zThreshold*3},
	}
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			delete(pr.usual, e)
			for _, r := range tt.restarts {
				pr.learn(source.Window{Start: at, End: at}, e, r)
			}
			if _, got := pr.bound(e); math.Abs(got-tt.wantBound) > 1e-9 {
				t.Errorf("bound %v, want %v", got, tt.wantBound)
			}
		})
	}
}

// process_restarts counts distinct ids per pod and process over the
// window and the span, ignores aggregated pods and unlogged processes, and
// judges a workload only in windows where a process started a new id.
func TestProcessRestartsCounting(t *testing.T) {
	d, _ := newProcessRestarts(Options{Cluster: "c", Bucket: 5 * time.Minute})
	pr := d.(*processRestarts)
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	row := func(pod, proc, id string, n float64) source.Row {
		return source.Row{Key: []string{"shop", "api-*", calicolog.TypeWorkload, pod, proc, id, "worker-1"}, Values: []float64{n}}
	}
	windows := [][]source.Row{
		{row("api-a", "/app", "1", 1), row("api-a", "-", "-", 0), row("api-a", "/app", "-", 0)},
		{row("api-a", "/app", "1", 1), row("api-a", "/app", "2", 1), row("api-a", "/app", "3", 1)},
		{row("api-a", "/app", "3", 1)},
		{row("api-a", "/app", "4", 1), row("api-a", "/app", "5", 1)},
		{row("api-b", "/app", "*", 6)},
		{row("-", "/app", "*", 3)},
	}
	want := []struct {
		restarts, spanned float64
		started           bool
	}{{0, 0, true}, {2, 2, true}, {0, 2, false}, {1, 4, true}, {5, 5, true}, {2, 2, true}}
	for i, rows := range windows {
		w := source.Window{Start: start.Add(time.Duration(i) * 5 * time.Minute), End: start.Add(time.Duration(i+1) * 5 * time.Minute)}
		_, ps, rest := nextWorkload(pr.collect(w, [][]source.Row{rows}))
		if len(rest) != 0 {
			t.Fatalf("window %d: more than one workload: %d processes of others", i, len(rest))
		}
		p := ps[len(ps)-1]
		if i == 5 && p.key.Pod != "-@worker-1" {
			t.Errorf("aggregated pods counted as %q, want -@worker-1", p.key.Pod)
		}
		if p.restarts != want[i].restarts || p.spanned != want[i].spanned || p.started != want[i].started {
			t.Errorf("window %d: restarts %v over the span %v started %v, want %v %v %v",
				i, p.restarts, p.spanned, p.started, want[i].restarts, want[i].spanned, want[i].started)
		}
	}
}
