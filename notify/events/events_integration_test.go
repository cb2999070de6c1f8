//go:build integration

package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify/alertmanager"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

var (
	scanAt     = time.Date(2026, 3, 2, 9, 12, 0, 0, time.UTC)
	scanWindow = source.Window{Start: time.Date(2026, 3, 2, 9, 10, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC)}
)

// attackEngine is an engine over a simulated cluster where shop/frontend
// scans ports 1-600 of payments/postgres and shop/cart sweeps a /24 in the
// same window, delivering to sinks.
func attackEngine(t *testing.T, cluster string, sinks ...engine.Sink) (*engine.Engine, *simulate.Cluster) {
	t.Helper()
	c := simulate.New(simulate.Options{Seed: 3, Cluster: cluster},
		simulate.PortScan{At: scanAt, Namespace: "shop", Workload: "frontend", TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 600},
		simulate.IPSweep{At: scanAt, Namespace: "shop", Workload: "cart", CIDR: "10.244.1.0/24", Port: 6379},
	)
	dets, err := engine.Build([]string{"port_scan", "ip_sweep"}, cluster, func(string) string { return "" }, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Interval: 5 * time.Minute, Bucket: 5 * time.Minute, Sinks: sinks},
		simulate.NewSource(c), dets, scoreboard.New(100), nil, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return eng, c
}

func elasticsearch(t *testing.T, naming calicolog.IndexNaming, urls ...string) *source.Elasticsearch {
	t.Helper()
	if len(urls) == 0 {
		urls = []string{testbed.ElasticsearchURL(t)}
	}
	es, err := source.NewElasticsearch(source.ElasticsearchConfig{URLs: urls, Naming: naming, MaxRetries: 1, RetryBackoff: 10 * time.Millisecond, RequestTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func runNotifier(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// eventHit is one document of the events index.
type eventHit struct {
	ID     string          `json:"_id"`
	Source json.RawMessage `json:"_source"`
}

// eventsOf returns the anomaly events of cluster in the events index.
func eventsOf(t *testing.T, naming calicolog.IndexNaming) []eventHit {
	t.Helper()
	base := testbed.ElasticsearchURL(t)
	index := naming.EventsIndex()
	if res, err := http.Post(base+"/"+url.PathEscape(index)+"/_refresh", "application/json", nil); err == nil {
		res.Body.Close()
	}
	query := map[string]any{"size": 100, "query": map[string]any{"bool": map[string]any{"filter": []any{
		map[string]any{"term": map[string]any{"cluster": naming.Cluster}},
		map[string]any{"term": map[string]any{"type": calicolog.EventTypeAnomaly}},
	}}}}
	b, _ := json.Marshal(query)
	res, err := http.Post(base+"/"+url.PathEscape(index)+"/_search", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	// No index yet, or one just created whose shard is not started yet
	// (503, no_shard_available_action_exception): nothing to read yet.
	if res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusServiceUnavailable {
		return nil
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("search %s: %d %s", index, res.StatusCode, body)
	}
	var out struct {
		Hits struct {
			Hits []eventHit `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	sort.Slice(out.Hits.Hits, func(i, j int) bool { return out.Hits.Hits[i].ID < out.Hits.Hits[j].ID })
	return out.Hits.Hits
}

func TestAnomalyEventsAppearInTheEventsIndex(t *testing.T) {
	for _, layout := range []calicolog.Layout{calicolog.LayoutLegacy, calicolog.LayoutSingle} {
		t.Run(string(layout), func(t *testing.T) {
			naming := calicolog.IndexNaming{Layout: layout, Cluster: fmt.Sprintf("notify-ev-%d", time.Now().UnixNano())}
			es := elasticsearch(t, naming)
			if err := es.EnsureTemplates(context.Background()); err != nil {
				t.Fatal(err)
			}
			n, err := New(Config{Naming: naming, Policy: notify.Policy{Severity: 80}}, es, nil)
			if err != nil {
				t.Fatal(err)
			}
			runNotifier(t, n)
			eng, c := attackEngine(t, naming.Cluster, n)
			if err := eng.ProcessWindow(context.Background(), scanWindow); err != nil {
				t.Fatal(err)
			}
			var hits []eventHit
			testkit.WaitForState(t, 20*time.Second, "two events in "+naming.EventsIndex(), func() (bool, string) {
				hits = eventsOf(t, naming)
				return len(hits) == 2, fmt.Sprintf("%d events", len(hits))
			})
			byOrigin := map[string]calicolog.Event{}
			for _, h := range hits {
				e, err := calicolog.DecodeEvent(h.Source)
				if err != nil {
					t.Fatalf("event %s: %v", h.ID, err)
				}
				byOrigin[e.Origin] = e
			}
			tests := []struct {
				detector, workload string
			}{
				{"port_scan", c.Workload("shop", "frontend").NameAggr()},
				{"ip_sweep", c.Workload("shop", "cart").NameAggr()},
			}
			for _, tt := range tests {
				e, ok := byOrigin[tt.detector]
				if !ok {
					t.Errorf("no event of %s among %v", tt.detector, byOrigin)
					continue
				}
				checks := map[string]bool{
					"type anomaly_detection_job":     e.Type == calicolog.EventTypeAnomaly,
					"severity 80":                    e.Severity == 80,
					"time the window's end":          e.Time.Equal(scanWindow.End),
					"description names the detector": strings.HasPrefix(e.Description, tt.detector+" detector found anomalies"),
					"source_namespace shop":          e.SourceNamespace == "shop",
					"source_name_aggr the workload":  e.SourceNameAggr == tt.workload,
					"mitre_ids T1046":                len(e.MitreIDs) == 1 && e.MitreIDs[0] == "T1046",
					"mitre_tactic discovery":         e.MitreTactic == "discovery",
					"cluster":                        e.Cluster == naming.Cluster,
					"not dismissed":                  !e.Dismissed,
					"record holds flow evidence":     len(asSlice(e.Record["flows"])) > 0,
					"record holds the time range":    e.Record["start_time"] == scanWindow.Start.UTC().Format("2006-01-02 15:04:05") && e.Record["end_time"] == scanWindow.End.UTC().Format("2006-01-02 15:04:05"),
					"record names the source":        e.Record["source_name_aggr"] == tt.workload && e.Record["source_namespace"] == "shop",
				}
				for what, ok := range checks {
					if !ok {
						t.Errorf("%s event: want %s; got %+v", tt.detector, what, e)
					}
				}
			}
		})
	}
}

func TestTheSameAnomalyIsWrittenOnceWhateverWritesIt(t *testing.T) {
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: fmt.Sprintf("notify-ev-%d", time.Now().UnixNano())}
	es := elasticsearch(t, naming)
	if err := es.EnsureTemplates(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Two exporter replicas, each with its own notifier, and each window
	// delivered twice (a retried window).
	var replicas []*Notifier
	for range 2 {
		n, err := New(Config{Naming: naming, Policy: notify.Policy{Severity: 100}}, elasticsearch(t, naming), nil)
		if err != nil {
			t.Fatal(err)
		}
		runNotifier(t, n)
		replicas = append(replicas, n)
	}
	for _, n := range replicas {
		eng, _ := attackEngine(t, naming.Cluster, n)
		for range 2 {
			if err := eng.ProcessWindow(context.Background(), scanWindow); err != nil {
				t.Fatal(err)
			}
			testkit.WaitForState(t, 20*time.Second, "queue drained", func() (bool, string) { return n.Len() == 0, fmt.Sprint(n.Len()) })
		}
	}
	hits := eventsOf(t, naming)
	if len(hits) != 2 {
		t.Fatalf("%d documents for 2 anomalies delivered 4 times each: %v", len(hits), hits)
	}
	var created, existed float64
	for _, n := range replicas {
		created += testutil.ToFloat64(n.written.WithLabelValues("created"))
		existed += testutil.ToFloat64(n.written.WithLabelValues("existed"))
	}
	if created != 2 || existed != 6 {
		t.Errorf("written created=%v existed=%v, want 2 and 6", created, existed)
	}
}

func TestUnreachableEventsIndexDoesNotHoldUpAlertmanager(t *testing.T) {
	amURL := testbed.AlertmanagerURL(t)
	nowhere := "http://" + testkit.FreeAddr(t) // nothing listens there
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: fmt.Sprintf("notify-ev-%d", time.Now().UnixNano())}
	ev, err := New(Config{Naming: naming, Policy: notify.Policy{Severity: 100}, BackoffMin: 100 * time.Millisecond, BackoffMax: 200 * time.Millisecond},
		elasticsearch(t, naming, nowhere), nil)
	if err != nil {
		t.Fatal(err)
	}
	runNotifier(t, ev)
	am, err := alertmanager.New(alertmanager.Config{URLs: []string{amURL}, Policy: notify.Policy{Severity: 100}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = am.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// The events sink comes first: it must not hold up the next one.
	eng, _ := attackEngine(t, naming.Cluster, ev, am)
	start := time.Now()
	if err := eng.ProcessWindow(context.Background(), scanWindow); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("processing the window took %s with the events index unreachable", took)
	}
	testkit.WaitForState(t, 20*time.Second, "both alerts in Alertmanager", func() (bool, string) {
		q := url.Values{"filter": {`alertname="CalicoAnomaly"`, fmt.Sprintf("cluster=%q", naming.Cluster)}}
		res, err := http.Get(amURL + "/api/v2/alerts?" + q.Encode())
		if err != nil {
			return false, err.Error()
		}
		defer res.Body.Close()
		var got []json.RawMessage
		if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
			return false, err.Error()
		}
		return len(got) == 2, fmt.Sprintf("%d alerts", len(got))
	})
	testkit.WaitForState(t, 20*time.Second, "events retried", func() (bool, string) {
		r := testutil.ToFloat64(ev.retries)
		return r >= 1, fmt.Sprintf("%v retries", r)
	})
	if ev.Len() != 2 {
		t.Errorf("%d events wait, want both kept for when the index is back", ev.Len())
	}
	if f := testutil.ToFloat64(ev.failures.WithLabelValues("unreachable")); f < 1 {
		t.Errorf(`calico_anomaly_events_write_failures_total{reason="unreachable"} = %v`, f)
	}
}
