//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/dashboards"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/rules"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
)

// promSeries is one series of a Prometheus instant query answer.
type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
}

// promQuery runs an instant query against the real Prometheus; a query it
// refuses is returned as an error with Prometheus's reason.
func promQuery(t *testing.T, base, q string) ([]promSeries, error) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	if ans.Status != "success" {
		return nil, fmt.Errorf("%s: %s", ans.ErrorType, ans.Error)
	}
	if ans.Data.ResultType == "scalar" {
		return []promSeries{{}}, nil
	}
	var out []promSeries
	if err := json.Unmarshal(ans.Data.Result, &out); err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	return out, nil
}

// prometheusLoads puts the repository's rule file and a scrape target for
// addr into the test bed's Prometheus and reloads it; both are removed when
// the test ends.
func prometheusLoads(t *testing.T, promURL, addr, run string) {
	t.Helper()
	rulesFile := filepath.Join(testbed.PrometheusRulesDir(t), run+".yml")
	if err := os.WriteFile(rulesFile, []byte(rules.File), 0o644); err != nil {
		t.Fatal(err)
	}
	target, _ := json.Marshal([]map[string]any{{"targets": []string{addr}, "labels": map[string]string{"run": run}}})
	targetFile := filepath.Join(testbed.PrometheusTargetsDir(t), run+".json")
	if err := os.WriteFile(targetFile, target, 0o644); err != nil {
		t.Fatal(err)
	}
	reload := func() {
		resp, err := http.Post(promURL+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("Prometheus reload: %s %s", resp.Status, body)
		}
	}
	reload()
	t.Cleanup(func() {
		os.Remove(rulesFile)
		os.Remove(targetFile)
		reload()
	})
}

// alertmanagerAlerts lists the alerts the real Alertmanager holds that
// match the given label filter (Alertmanager's matcher syntax).
func alertmanagerAlerts(t *testing.T, amURL string, filters ...string) []map[string]string {
	t.Helper()
	q := url.Values{}
	for _, f := range filters {
		q.Add("filter", f)
	}
	resp, err := http.Get(amURL + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var alerts []struct {
		Labels map[string]string `json:"labels"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, a := range alerts {
		out = append(out, a.Labels)
	}
	return out
}

// TestFullStack runs the product as users run it, on the real servers:
// the simulator writes normal traffic and a port scan into Elasticsearch,
// the exporter reads it, the real Prometheus scrapes the exporter and
// evaluates rules/, the rule's alert reaches the real Alertmanager, and
// every dashboard query runs against that Prometheus.
func TestFullStack(t *testing.T) {
	esURL, promURL, amURL := testbed.ElasticsearchURL(t), testbed.PrometheusURL(t), testbed.AlertmanagerURL(t)
	run := fmt.Sprintf("fullstack%d", time.Now().UnixNano()%1e9)
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: run}
	es := newElasticsearch(t, esURL, naming)
	ctx := context.Background()
	if err := es.EnsureTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	end := newestWindowEnd(t)
	attackAt := end.Add(-bucket / 2)
	sim := simulate.New(simulate.Options{Seed: 11, Cluster: run},
		simulate.PortScan{At: attackAt, Namespace: "shop", Workload: "frontend", TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 600})
	stats, err := simulate.WriteElasticsearch(ctx, es, naming, sim, end.Add(-2*time.Hour), end, bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range calicolog.LogTypes {
		if err := es.Refresh(ctx, naming.SearchIndex(lt)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("loaded %d windows, %d flow, %d DNS, %d L7 records", stats.Windows, stats.Flows, stats.DNS, stats.L7)

	e := startExporter(t, "--source=elasticsearch", "--es.url="+esURL, "--es.cluster="+run,
		fmt.Sprintf("--source.lag=%s", lag), "--source.catch-up=2h", "--alertmanager.url="+amURL)
	mfs := e.waitForMetrics(t, 2*time.Minute, "the two hours scored", func(mfs map[string]*dto.MetricFamily) bool {
		return series(mfs, "calico_anomaly_detector_runs_total", "detector", "result")["port_scan/success"] >= 24
	})
	scanner := workloadOf(mfs, "port_scan", "shop", "frontend")
	addr := strings.TrimPrefix(e.URL, "http://")
	prometheusLoads(t, promURL, addr, run)

	// Prometheus scrapes the exporter and its rule fires for the scanner only.
	inRun := fmt.Sprintf(`{run=%q}`, run)
	var firing []promSeries
	testkit.WaitFor(t, time.Minute, "the rule alert firing in Prometheus", func() bool {
		firing, err = promQuery(t, promURL, `ALERTS{alertname="CalicoAnomalyScoreHigh",alertstate="firing",run="`+run+`"}`)
		return err == nil && len(firing) > 0
	})
	if len(firing) != 1 || firing[0].Metric["workload"] != scanner || firing[0].Metric["detector"] != "port_scan" {
		t.Errorf("Prometheus fires %v, want one CalicoAnomalyScoreHigh for port_scan %s", firing, scanner)
	}

	// The rule's alert reaches the real Alertmanager, marked as a rule alert.
	var got []map[string]string
	testkit.WaitFor(t, time.Minute, "the rule alert in Alertmanager", func() bool {
		got = alertmanagerAlerts(t, amURL, `alertname="CalicoAnomalyScoreHigh"`, fmt.Sprintf(`run=%q`, run))
		return len(got) > 0
	})
	if len(got) != 1 || got[0]["workload"] != scanner || got[0]["source"] != "rule" || got[0]["severity"] != "warning" {
		t.Errorf("Alertmanager holds %v, want the scanner's rule alert", got)
	}
	// The exporter's own alert is there too, told apart by its alertname
	// and the absence of source="rule".
	direct := alertmanagerAlerts(t, amURL, `alertname="CalicoAnomaly"`, fmt.Sprintf(`cluster=%q`, run))
	if len(direct) != 1 || direct[0]["workload"] != scanner || direct[0]["detector"] != "port_scan" || direct[0]["source"] != "" {
		t.Errorf("Alertmanager holds direct alerts %v, want the scanner's", direct)
	}

	// Every dashboard query parses, names only series the exporter or the
	// rules produce, and returns series from this Prometheus, except where
	// the dashboard's detector family has no detector running yet.
	raw, _ := e.scrape(t)
	produced := map[string]bool{"ALERTS": true}
	for _, line := range strings.Split(raw, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "TYPE" {
			produced[f[2]] = true
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*- record: (\S+)`).FindAllStringSubmatch(rules.File, -1) {
		produced[m[1]] = true
	}
	// A family's panels must show data once one of its detectors has
	// detected something; the learned performance detectors judge nothing
	// in this run's two hours, so their panels stay empty here.
	running := map[string]float64{}
	for d, n := range series(mfs, "calico_anomaly_detections_total", "detector") {
		if n > 0 {
			running[d] = n
		}
	}
	queries, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the rate and increase queries have two scrapes to work on.
	time.Sleep(3 * time.Second)
	for _, q := range queries {
		expr := dashboards.Expand(q.Expr, "1h", "1m")
		parsed, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
		if err != nil {
			t.Errorf("%s %s: %v", q.Dashboard, q.Where, err)
			continue
		}
		parser.Inspect(parsed, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && !produced[vs.Name] {
				t.Errorf("%s %s names %s, which neither the exporter nor the rules produce", q.Dashboard, q.Where, vs.Name)
			}
			return nil
		})
		result, err := promQuery(t, promURL, expr)
		if err != nil {
			t.Errorf("%s %s: Prometheus refuses %q: %v", q.Dashboard, q.Where, expr, err)
			continue
		}
		familyRuns := q.Family == ""
		for d := range running {
			if q.Family != "" && regexp.MustCompile("^(?:"+q.Family+")$").MatchString(d) {
				familyRuns = true
			}
		}
		if familyRuns && len(result) == 0 {
			t.Errorf("%s %s: %q returns no series", q.Dashboard, q.Where, expr)
		}
	}
	if got, err := promQuery(t, promURL, `calico_anomaly_score`+inRun); err != nil || len(got) < 10 {
		t.Errorf("Prometheus holds %d score series of this run (%v), want the normal workloads too", len(got), err)
	}

	// The PromQL cookbook: a kube-state-metrics fixture series for the
	// scanner's pod, then every query of docs/promql.md.
	pod := strings.TrimSuffix(scanner, "*") + "x7k2p"
	ksm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# TYPE kube_pod_labels gauge\nkube_pod_labels{namespace=\"shop\",pod=%q,label_team=\"payments\"} 1\n", pod)
	}))
	defer ksm.Close()
	ksmTargets, _ := json.Marshal([]map[string]any{{"targets": []string{strings.TrimPrefix(ksm.URL, "http://")}, "labels": map[string]string{"run": run}}})
	ksmFile := filepath.Join(testbed.PrometheusTargetsDir(t), run+"-ksm.json")
	if err := os.WriteFile(ksmFile, ksmTargets, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(ksmFile)
	cookbook := cookbookQueries(t)
	if len(cookbook) < 12 {
		t.Fatalf("%d queries in docs/promql.md, want the whole cookbook", len(cookbook))
	}
	for _, q := range cookbook {
		if _, err := parser.NewParser(parser.Options{}).ParseExpr(q); err != nil {
			t.Errorf("docs/promql.md: %q does not parse: %v", q, err)
			continue
		}
		var result []promSeries
		deadline := time.Now().Add(90 * time.Second) // the 1-minute subquery needs a minute of data
		for {
			result, err = promQuery(t, promURL, q)
			if err != nil || len(result) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(2 * time.Second)
		}
		switch {
		case err != nil:
			t.Errorf("docs/promql.md: Prometheus refuses %q: %v", q, err)
		case len(result) == 0:
			t.Errorf("docs/promql.md: %q returns no series", q)
		case strings.Contains(q, "label_team") && !strings.Contains(fmt.Sprint(result), "payments"):
			t.Errorf("docs/promql.md: %q does not carry the team of the scanner's pod: %v", q, result)
		}
	}
}

// cookbookQueries extracts the promql code blocks of docs/promql.md.
func cookbookQueries(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "promql.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```promql\n(.*?)```").FindAllStringSubmatch(string(raw), -1) {
		out = append(out, strings.TrimSpace(m[1]))
	}
	return out
}
