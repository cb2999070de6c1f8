package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func window(i int) source.Window {
	return source.Window{Start: t0.Add(time.Duration(i) * 5 * time.Minute), End: t0.Add(time.Duration(i+1) * 5 * time.Minute)}
}

func verdict(detector, ns, workload string, score float64) detect.Verdict {
	return detect.Verdict{Detector: detector, Entity: detect.Entity{Cluster: "c1", Namespace: ns, Workload: workload, Type: "wep"},
		Score: score, Threshold: 0.5, Observed: score * 1000, Expected: 500, Summary: fmt.Sprintf("%s reached %.0f distinct ports", workload, score*1000)}
}

// feed delivers windows of verdicts to a history and a scoreboard the way
// the engine does.
func feed(h *History, board *scoreboard.Scoreboard, windows ...[]detect.Verdict) {
	for i, vs := range windows {
		w := window(i)
		byDetector := map[string][]detect.Verdict{}
		for j := range vs {
			vs[j].Window = w
			byDetector[vs[j].Detector] = append(byDetector[vs[j].Detector], vs[j])
		}
		for d, dv := range byDetector {
			board.Publish(d, w, dv, true, 20*time.Millisecond, w.End)
		}
		board.WindowDone(w)
		h.Deliver(context.Background(), w, vs)
	}
}

func get(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func TestHistoryKeepsRecentWindowsAndForgetsGoneSeries(t *testing.T) {
	h := NewHistory(3, 10)
	board := scoreboard.New(0)
	feed(h, board,
		[]detect.Verdict{verdict("port_scan", "shop", "a-*", 0.1), verdict("port_scan", "shop", "gone-*", 0.1)},
		[]detect.Verdict{verdict("port_scan", "shop", "a-*", 0.2)},
		[]detect.Verdict{verdict("port_scan", "shop", "a-*", 0.3)},
		[]detect.Verdict{verdict("port_scan", "shop", "a-*", 0.9)},
	)
	a := Key{Detector: "port_scan", Entity: detect.Entity{Cluster: "c1", Namespace: "shop", Workload: "a-*", Type: "wep"}}
	var scores []float64
	for _, p := range h.Points(a) {
		scores = append(scores, p.Score)
	}
	if fmt.Sprint(scores) != "[0.2 0.3 0.9]" {
		t.Errorf("points %v, want the last 3 windows", scores)
	}
	gone := a
	gone.Workload = "gone-*"
	if p := h.Points(gone); p != nil {
		t.Errorf("a series unseen for 3 windows is still kept: %v", p)
	}
	if got := h.Anomalies(); len(got) != 1 || got[0].Entity.Workload != "a-*" {
		t.Errorf("anomalies %v, want a-* only", got)
	}
}

func TestHistoryBoundsItsSeries(t *testing.T) {
	h := NewHistory(4, 2)
	h.Deliver(context.Background(), window(0), []detect.Verdict{verdict("d", "n", "a", 0.1), verdict("d", "n", "b", 0.1), verdict("d", "n", "c", 0.9)})
	if h.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", h.Dropped())
	}
}

func TestStatusPageListsAnomaliesByScoreWithCharts(t *testing.T) {
	h := NewHistory(48, 0)
	board := scoreboard.New(0)
	board.AddDetector("ip_sweep", 0.5, true)
	board.AddDetector("port_scan", 0.5, true)
	normal := []detect.Verdict{verdict("port_scan", "shop", "frontend-*", 0.02), verdict("ip_sweep", "shop", "cart-*", 0.1)}
	attack := []detect.Verdict{verdict("port_scan", "shop", "frontend-*", 0.6), verdict("ip_sweep", "shop", "cart-*", 0.8), verdict("port_scan", "shop", "quiet-*", 0.01)}
	feed(h, board, normal, normal, attack)
	pages := New(Config{Name: "calico-anomaly-exporter", GrafanaURL: "http://grafana:3000", ConfigPath: "/config", Now: func() time.Time { return window(2).End.Add(time.Minute) }}, board, h)

	code, body := get(t, pages, "/")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	rows := strings.Count(body, `<tr class="anomaly">`)
	if rows != 2 {
		t.Errorf("%d anomaly rows, want 2", rows)
	}
	cart, frontend := strings.Index(body, ">cart-*<"), strings.Index(body, ">frontend-*<")
	if cart < 0 || frontend < 0 || cart > frontend {
		t.Errorf("anomalies not sorted by score (cart-* 0.8 before frontend-* 0.6)")
	}
	if strings.Contains(body, "quiet-*") {
		t.Error("a normal workload is listed as an anomaly")
	}
	if n := strings.Count(body, `<svg class="spark"`); n != 2 {
		t.Errorf("%d charts, want one per anomaly", n)
	}
	// Each chart has the three windows' scores and the threshold.
	if !strings.Contains(body, `class="threshold"`) || strings.Count(body, `<circle`) != 2 {
		t.Errorf("charts lack the threshold or mark the wrong windows")
	}
	for _, want := range []string{`href="/metrics"`, `href="/config"`, `href="http://grafana:3000"`, "ip_sweep", "port_scan", "ready", `/anomaly?cluster=c1&amp;detector=ip_sweep`} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %s", want)
		}
	}
	for _, banned := range []string{"<script", "http://fonts", "https://", "src="} {
		if strings.Contains(body, banned) {
			t.Errorf("status page loads or runs something: %s", banned)
		}
	}
}

func TestAnomalyPageShowsEvidenceAndExtras(t *testing.T) {
	h := NewHistory(48, 0)
	board := scoreboard.New(0)
	v := verdict("port_scan", "shop", "frontend-*", 0.6)
	v.Evidence = map[string][]json.RawMessage{"flows": {json.RawMessage(`{"dest_port":22,"source_name_aggr":"frontend-*"}`)}}
	v.EvidenceQuery = []detect.EvidenceQuery{{Log: "flows", Filters: []source.Term{{Field: "source_name_aggr", Values: []string{"frontend-*"}}}}}
	feed(h, board, []detect.Verdict{verdict("port_scan", "shop", "frontend-*", 0.01)}, []detect.Verdict{v})
	pages := New(Config{Name: "cae", GrafanaURL: "http://grafana", Extras: Extras{
		Alert:      func(v detect.Verdict) ([]byte, error) { return []byte(`{"labels":{"alertname":"CalicoAnomaly"}}`), nil },
		Event:      func(v detect.Verdict) ([]byte, error) { return nil, fmt.Errorf("events index not configured") },
		Quarantine: func(v detect.Verdict) (string, error) { return "kind: NetworkPolicy\n", nil },
	}}, board, h)

	code, body := get(t, pages, anomalyLink(v))
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	for _, want := range []string{`&#34;dest_port&#34;: 22`, "flows log records (1)", "1 destination ports: 22", "threshold 0.", `id="alert"`, "CalicoAnomaly", `id="quarantine"`, "kind: NetworkPolicy",
		"event: events index not configured", `class="observed"`, `class="expected"`, "/d/calico-anomaly-workload?var-cluster=c1", "source_name_aggr in [frontend-*]"} {
		if !strings.Contains(body, want) {
			t.Errorf("anomaly page lacks %s", want)
		}
	}
	if code, _ := get(t, pages, "/anomaly?detector=port_scan&cluster=c1&namespace=shop&workload=nobody&type=wep"); code != http.StatusNotFound {
		t.Errorf("an unknown anomaly answers %d, want 404", code)
	}
	if code, _ := get(t, pages, "/nothing-here"); code != http.StatusNotFound {
		t.Errorf("an unknown path answers %d, want 404", code)
	}
}

// Pod and query names are written by the workloads being watched: a
// hostile one is shown as text on both pages.
func TestNamesFromLogsAreEscaped(t *testing.T) {
	const hostile = `evil-<script>alert(1)</script>-*`
	h := NewHistory(48, 0)
	board := scoreboard.New(0)
	v := verdict("port_scan", `ns"><img src=x onerror=alert(2)>`, hostile, 0.9)
	v.Summary = `<b>bold</b> summary`
	v.Evidence = map[string][]json.RawMessage{"dns": {json.RawMessage(`{"qname":"</pre><script>alert(3)</script>"}`)}}
	feed(h, board, []detect.Verdict{v})
	pages := New(Config{Name: "cae"}, board, h)
	for _, target := range []string{"/", anomalyLink(v)} {
		code, body := get(t, pages, target)
		if code != http.StatusOK {
			t.Fatalf("%s: status %d", target, code)
		}
		for _, raw := range []string{"<script>alert", "<img src=x", "<b>bold</b>", "</pre><script>"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s: %q reached the page unescaped", target, raw)
			}
		}
		if !strings.Contains(body, "evil-&lt;script&gt;alert(1)&lt;/script&gt;-*") {
			t.Errorf("%s: the hostile pod name is not shown as text", target)
		}
	}
}

func BenchmarkStatusPage1000Anomalies(b *testing.B) {
	h := NewHistory(48, 0)
	board := scoreboard.New(0)
	for w := 0; w < 48; w++ {
		vs := make([]detect.Verdict, 1000)
		for i := range vs {
			vs[i] = verdict("port_scan", fmt.Sprintf("ns-%d", i%20), fmt.Sprintf("workload-%d-*", i), 0.5+float64((i*7+w)%50)/100)
		}
		feed(h, board, vs)
	}
	pages := New(Config{Name: "cae"}, board, h)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		pages.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `<tr class="anomaly">`) != 1000 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

func TestAnomaliesStayListedForAnHourThenGo(t *testing.T) {
	h := NewHistory(48, 0)
	quiet := []detect.Verdict{verdict("port_scan", "shop", "frontend-*", 0.01)}
	h.Deliver(context.Background(), window(0), []detect.Verdict{verdict("port_scan", "shop", "frontend-*", 0.7)})
	h.Deliver(context.Background(), window(1), []detect.Verdict{verdict("ip_sweep", "shop", "cart-*", 0.6)})
	got := h.Anomalies()
	if len(got) != 2 || !got[0].Now || got[0].Entity.Workload != "cart-*" || got[1].Now {
		t.Fatalf("anomalies %+v, want cart-* (now) before frontend-* (earlier)", got)
	}
	for i := 2; i <= recentWindows; i++ {
		h.Deliver(context.Background(), window(i), quiet)
	}
	if got := h.Anomalies(); len(got) != 1 || got[0].Entity.Workload != "cart-*" {
		t.Errorf("after %d windows: %+v, want only cart-* left", recentWindows, got)
	}
	h.Deliver(context.Background(), window(recentWindows+1), quiet)
	if got := h.Anomalies(); len(got) != 0 {
		t.Errorf("anomalies older than an hour still listed: %+v", got)
	}
}
