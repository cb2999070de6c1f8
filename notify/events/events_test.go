package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/elastic"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

var (
	w1     = source.Window{Start: time.Date(2026, 3, 2, 9, 10, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC)}
	legacy = calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "c1"}
)

func verdict(detector string, w source.Window, flows ...string) detect.Verdict {
	v := detect.Verdict{
		Detector: detector, Window: w, Score: 0.9, Threshold: 0.5, Observed: 600, Expected: 500,
		Entity:  detect.Entity{Cluster: "c1", Namespace: "shop", Workload: "frontend-7d4f8b9c5d-*", Type: "wep"},
		Summary: "frontend-7d4f8b9c5d-* in namespace shop reached 600 distinct destination ports in 5m0s (threshold 500)",
	}
	for _, f := range flows {
		if v.Evidence == nil {
			v.Evidence = map[string][]json.RawMessage{}
		}
		v.Evidence["flows"] = append(v.Evidence["flows"], json.RawMessage(f))
	}
	return v
}

func anomaly(t *testing.T, vs ...detect.Verdict) notify.Anomaly {
	t.Helper()
	as := notify.Group(notify.Policy{}, vs)
	if len(as) == 0 {
		t.Fatal("no anomaly")
	}
	return as[len(as)-1]
}

func TestDocumentHasCalicosEventFields(t *testing.T) {
	scanA := `{"source_ip":"10.0.0.1","source_name":"frontend-7d4f8b9c5d-x2k9p","dest_ip":"10.0.1.5","dest_port":22,"dest_namespace":"payments","dest_name":"-","dest_name_aggr":"postgres-1-*","host":"worker-1","proto":"tcp"}`
	scanB := `{"source_ip":"10.0.0.1","source_name":"frontend-7d4f8b9c5d-x2k9p","dest_ip":"10.0.1.5","dest_port":23,"dest_namespace":"payments","dest_name":"-","dest_name_aggr":"postgres-1-*","host":"worker-2","proto":"tcp"}`
	tests := []struct {
		name   string
		a      func(t *testing.T) notify.Anomaly
		naming calicolog.IndexNaming
		check  func(t *testing.T, e calicolog.Event)
	}{
		{
			name: "a port scan: MITRE T1046, what every record agrees on promoted",
			a:    func(t *testing.T) notify.Anomaly { return anomaly(t, verdict("port_scan", w1, scanA, scanB)) },
			check: func(t *testing.T, e calicolog.Event) {
				want := map[string][2]any{
					"type":                     {e.Type, "anomaly_detection_job"},
					"origin":                   {e.Origin, "port_scan"},
					"name":                     {e.Name, "tigera.io.detector.port-scan"},
					"severity":                 {e.Severity, 90},
					"time":                     {e.Time.Unix(), w1.End.Unix()},
					"source_namespace":         {e.SourceNamespace, "shop"},
					"source_name_aggr":         {e.SourceNameAggr, "frontend-7d4f8b9c5d-*"},
					"source_name":              {e.SourceName, "frontend-7d4f8b9c5d-x2k9p"},
					"source_ip":                {deref(e.SourceIP), "10.0.0.1"},
					"dest_ip":                  {deref(e.DestIP), "10.0.1.5"},
					"dest_port (ports differ)": {e.DestPort == nil, true},
					"dest_name (aggregated)":   {e.DestName, ""},
					"dest_namespace":           {e.DestNamespace, "payments"},
					"host (hosts differ)":      {e.Host, ""},
					"protocol":                 {e.Protocol, "tcp"},
					"mitre_tactic":             {e.MitreTactic, "discovery"},
					"attack_vector":            {e.AttackVector, "network"},
					"cluster":                  {e.Cluster, "c1"},
				}
				for field, gw := range want {
					if gw[0] != gw[1] {
						t.Errorf("%s = %v, want %v", field, gw[0], gw[1])
					}
				}
				if len(e.MitreIDs) != 1 || e.MitreIDs[0] != "T1046" || len(e.Mitigations) == 0 {
					t.Errorf("mitre_ids %v, mitigations %v", e.MitreIDs, e.Mitigations)
				}
				if !strings.HasPrefix(e.Description, "port_scan detector found anomalies. In cluster c1: frontend-7d4f8b9c5d-* in namespace shop reached 600") {
					t.Errorf("description %q", e.Description)
				}
			},
		},
		{
			name: "a detector no technique fits: no MITRE fields",
			a:    func(t *testing.T) notify.Anomaly { return anomaly(t, verdict("generic_flows", w1)) },
			check: func(t *testing.T, e calicolog.Event) {
				if e.MitreTactic != "" || e.MitreIDs != nil || e.AttackVector != "" {
					t.Errorf("MITRE fields on generic_flows: %q %v %q", e.MitreTactic, e.MitreIDs, e.AttackVector)
				}
			},
		},
		{
			name: "two detectors on one workload: the record holds each log's records and both detectors",
			a: func(t *testing.T) notify.Anomaly {
				dga := verdict("dga", w1)
				dga.Evidence = map[string][]json.RawMessage{"dns": {json.RawMessage(`{"qname":"xj3k.example"}`)}}
				return anomaly(t, dga, verdict("port_scan", w1, scanA))
			},
			check: func(t *testing.T, e calicolog.Event) {
				r := e.Record
				if r["detector"] != "port_scan" || len(asSlice(r["detectors"])) != 2 {
					t.Errorf("record detector %v detectors %v", r["detector"], r["detectors"])
				}
				if len(asSlice(r["flows"])) != 1 || len(asSlice(r["dns"])) != 1 {
					t.Errorf("record flows %v dns %v, want one of each", r["flows"], r["dns"])
				}
				for k, want := range map[string]any{"source_namespace": "shop", "source_name_aggr": "frontend-7d4f8b9c5d-*", "start_time": "2026-03-02 09:10:00", "end_time": "2026-03-02 09:15:00", "observed": 600.0} {
					if r[k] != want {
						t.Errorf("record %s = %v, want %v", k, r[k], want)
					}
				}
			},
		},
		{
			name:   "the single-index layout names the cluster",
			a:      func(t *testing.T) notify.Anomaly { return anomaly(t, verdict("ip_sweep", w1)) },
			naming: calicolog.IndexNaming{Layout: calicolog.LayoutSingle, Cluster: "c1"},
			check: func(t *testing.T, e calicolog.Event) {
				if e.Cluster != "c1" {
					t.Errorf("cluster %q", e.Cluster)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			naming := tt.naming
			if naming.Layout == "" {
				naming = legacy
			}
			doc := Document(tt.a(t), naming, 90)
			// What Elasticsearch stores is the JSON: decode it as a reader would.
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			e, err := calicolog.DecodeEvent(b)
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			tt.check(t, e)
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func TestIDDependsOnDetectorEntityAndWindowOnly(t *testing.T) {
	base := verdict("port_scan", w1)
	same := base
	same.Score, same.Summary = 0.7, "another summary"
	other := func(f func(v *detect.Verdict)) detect.Verdict { v := base; f(&v); return v }
	if ID(base) != ID(same) {
		t.Errorf("the same detector, entity and window gave %s and %s", ID(base), ID(same))
	}
	for name, v := range map[string]detect.Verdict{
		"detector":  other(func(v *detect.Verdict) { v.Detector = "ip_sweep" }),
		"cluster":   other(func(v *detect.Verdict) { v.Entity.Cluster = "c2" }),
		"namespace": other(func(v *detect.Verdict) { v.Entity.Namespace = "x" }),
		"workload":  other(func(v *detect.Verdict) { v.Entity.Workload = "x" }),
		"type":      other(func(v *detect.Verdict) { v.Entity.Type = "hep" }),
		"window":    other(func(v *detect.Verdict) { v.Window.Start = v.Window.Start.Add(time.Minute) }),
	} {
		if ID(v) == ID(base) {
			t.Errorf("another %s gave the same id %s", name, ID(v))
		}
	}
}

// fakeWriter answers Bulk calls with the results it is told, in turn, and
// records the ids it was asked to write.
type fakeWriter struct {
	mu      sync.Mutex
	answers []func(ops []elastic.BulkOp) (elastic.BulkResult, error)
	calls   [][]string
}

func (f *fakeWriter) Bulk(ctx context.Context, ops []elastic.BulkOp) (elastic.BulkResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, op := range ops {
		ids = append(ids, op.ID)
	}
	f.calls = append(f.calls, ids)
	if len(f.answers) == 0 {
		return elastic.BulkResult{Written: len(ops)}, nil
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	return a(ops)
}

func (f *fakeWriter) callCount() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.calls) }

func TestRunRetriesWhatMayPassAndDropsWhatIsRefused(t *testing.T) {
	unreachable := func(ops []elastic.BulkOp) (elastic.BulkResult, error) {
		return elastic.BulkResult{}, errors.New("connection refused")
	}
	itemErr := func(status int) func(ops []elastic.BulkOp) (elastic.BulkResult, error) {
		return func(ops []elastic.BulkOp) (elastic.BulkResult, error) {
			return elastic.BulkResult{Written: len(ops) - 1}, &elastic.BulkError{Items: []elastic.BulkItemError{{Index: ops[0].Index, ID: ops[0].ID, Status: status, Type: "x", Reason: "y"}}}
		}
	}
	refused := func(status int) func(ops []elastic.BulkOp) (elastic.BulkResult, error) {
		return func(ops []elastic.BulkOp) (elastic.BulkResult, error) {
			return elastic.BulkResult{}, fmt.Errorf("bulk of %d documents: %w", len(ops), &elastic.Error{Status: status, Type: "security_exception", Reason: "action unauthorized"})
		}
	}
	tests := []struct {
		name        string
		answers     []func([]elastic.BulkOp) (elastic.BulkResult, error)
		wantCalls   int
		wantDropped float64
		wantRetries float64
		wantCreated float64
	}{
		{"written at once", nil, 1, 0, 0, 2},
		{"unreachable twice, then written", []func([]elastic.BulkOp) (elastic.BulkResult, error){unreachable, unreachable}, 3, 0, 2, 2},
		{"one document refused with 400: dropped", []func([]elastic.BulkOp) (elastic.BulkResult, error){itemErr(400)}, 1, 1, 0, 1},
		{"one document answered 429: retried alone", []func([]elastic.BulkOp) (elastic.BulkResult, error){itemErr(429)}, 2, 0, 1, 2},
		{"the request refused with 403: dropped, not retried", []func([]elastic.BulkOp) (elastic.BulkResult, error){refused(403)}, 1, 2, 0, 0},
		{"the request answered 503: retried", []func([]elastic.BulkOp) (elastic.BulkResult, error){refused(503)}, 2, 0, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWriter{answers: tt.answers}
			n, err := New(Config{Naming: legacy, Policy: notify.Policy{Severity: 100}, BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond}, w, log.NewNopLogger())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = n.Run(ctx) }()
			defer func() { cancel(); <-done }()
			ip := verdict("ip_sweep", w1)
			n.Deliver(ctx, w1, []detect.Verdict{verdict("port_scan", w1), ip})
			deadline := time.Now().Add(5 * time.Second)
			for n.Len() > 0 || w.callCount() < tt.wantCalls {
				if time.Now().After(deadline) {
					t.Fatalf("queue %d, %d calls", n.Len(), w.callCount())
				}
				time.Sleep(time.Millisecond)
			}
			if c := w.callCount(); c != tt.wantCalls {
				t.Errorf("%d bulk calls, want %d", c, tt.wantCalls)
			}
			for name, gw := range map[string][2]float64{
				"dropped": {testutil.ToFloat64(n.dropped.WithLabelValues("rejected")), tt.wantDropped},
				"retries": {testutil.ToFloat64(n.retries), tt.wantRetries},
				"created": {testutil.ToFloat64(n.written.WithLabelValues("created")), tt.wantCreated},
			} {
				if gw[0] != gw[1] {
					t.Errorf("%s = %v, want %v", name, gw[0], gw[1])
				}
			}
		})
	}
}

func TestDeliverQueuesEachEventOnceAndDropsTheOldestWhenFull(t *testing.T) {
	n, err := New(Config{Naming: legacy, Policy: notify.Policy{Severity: 100}, QueueCapacity: 2}, &fakeWriter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n.Deliver(ctx, w1, []detect.Verdict{verdict("port_scan", w1)})
	n.Deliver(ctx, w1, []detect.Verdict{verdict("port_scan", w1)}) // the same event again
	if n.Len() != 1 {
		t.Errorf("%d queued after the same event twice, want 1", n.Len())
	}
	w2 := source.Window{Start: w1.End, End: w1.End.Add(5 * time.Minute)}
	w3 := source.Window{Start: w2.End, End: w2.End.Add(5 * time.Minute)}
	n.Deliver(ctx, w2, []detect.Verdict{verdict("port_scan", w2)})
	n.Deliver(ctx, w3, []detect.Verdict{verdict("port_scan", w3)})
	if n.Len() != 2 || testutil.ToFloat64(n.dropped.WithLabelValues("queue_full")) != 1 {
		t.Errorf("queue %d, dropped %v; want 2 and 1", n.Len(), testutil.ToFloat64(n.dropped.WithLabelValues("queue_full")))
	}
	if got := n.peek()[0].ID; got != ID(verdict("port_scan", w2)) {
		t.Errorf("the oldest left is %s, want w2's", got)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		w    elastic.BulkWriter
		want string
	}{
		{"no writer", Config{Naming: legacy}, nil, "no Elasticsearch"},
		{"a bad cluster name", Config{Naming: calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "Bad"}}, &fakeWriter{}, `cluster name "Bad"`},
		{"a bad severity", Config{Naming: legacy, Policy: notify.Policy{Severity: 200}}, &fakeWriter{}, "severity 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, tt.w, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	var logs strings.Builder
	n, err := New(Config{Naming: legacy, DryRun: true}, nil, log.NewLogfmtLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	n.Deliver(context.Background(), w1, []detect.Verdict{verdict("port_scan", w1)})
	if n.Len() != 0 {
		t.Errorf("dry run queued %d events", n.Len())
	}
	for _, want := range []string{"dry run: event not written", "tigera_secure_ee_events.c1.lma", ID(verdict("port_scan", w1))} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q: %s", want, logs.String())
		}
	}
}

func TestMetricsLint(t *testing.T) {
	n, err := New(Config{Naming: legacy}, &fakeWriter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(n)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if c, err := testutil.GatherAndCount(reg); err != nil || c != 9 {
		t.Errorf("%d series (%v), want 9", c, err)
	}
}
