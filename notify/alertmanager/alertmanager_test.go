package alertmanager

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

var (
	win1 = source.Window{Start: time.Date(2026, 3, 2, 9, 10, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC)}
	win2 = source.Window{Start: win1.End, End: win1.End.Add(5 * time.Minute)}
)

func scan(workload string, w source.Window, score float64) detect.Verdict {
	return detect.Verdict{
		Detector: "port_scan", Window: w, Score: score, Threshold: 0.5, Observed: 600, Expected: 500,
		Entity:   detect.Entity{Cluster: "c1", Namespace: "shop", Workload: workload, Type: "wep"},
		Summary:  workload + " reached 600 distinct destination ports",
		Evidence: map[string][]json.RawMessage{"flows": {json.RawMessage(`{"dest_port":22}`)}},
	}
}

// fakeAM is an Alertmanager stand-in that records the alerts it is sent
// and answers with the statuses it is told, in turn (200 once they run out).
type fakeAM struct {
	mu       sync.Mutex
	answers  []fakeAnswer
	posts    [][]postedAlert
	authSeen []string
	srv      *httptest.Server
}

type fakeAnswer struct {
	status int
	body   string
}

type postedAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	GeneratorURL string            `json:"generatorURL"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
}

func newFakeAM(t *testing.T, answers ...fakeAnswer) *fakeAM {
	f := &fakeAM{answers: answers}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var alerts []postedAlert
		if err := json.Unmarshal(body, &alerts); err != nil {
			http.Error(w, `"bad body"`, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.authSeen = append(f.authSeen, r.Header.Get("Authorization"))
		var a fakeAnswer
		if len(f.answers) > 0 {
			a, f.answers = f.answers[0], f.answers[1:]
		}
		if a.status == 0 || a.status/100 == 2 {
			if len(alerts) > 0 {
				f.posts = append(f.posts, alerts)
			}
			a.status = http.StatusOK
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// received is every alert accepted so far, in order.
func (f *fakeAM) received() []postedAlert {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []postedAlert
	for _, p := range f.posts {
		out = append(out, p...)
	}
	return out
}

// clock is a settable wall clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

func run(t *testing.T, cfg Config) (*Notifier, *testkit.SyncBuffer) {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	n, err := New(cfg, log.NewLogfmtLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n, logs
}

func TestAlertLifecycle(t *testing.T) {
	am := newFakeAM(t)
	t0 := time.Date(2026, 3, 2, 9, 17, 0, 0, time.UTC)
	clk := &clock{now: t0}
	n, _ := run(t, Config{URLs: []string{am.srv.URL}, ResendInterval: time.Hour, Now: clk.Now,
		Policy: notify.Policy{Severity: 40}, GrafanaURL: "http://grafana", GeneratorURL: "http://exporter:9925/"})
	ctx := context.Background()

	steps := []struct {
		name     string
		at       time.Time
		window   source.Window
		verdicts []detect.Verdict
		// want is the state of each alert sent in this step, by workload.
		want map[string]string
	}{
		{"an anomaly fires", t0, win1, []detect.Verdict{scan("a-1-*", win1, 0.9), scan("b-1-*", win1, 0.2)}, map[string]string{"a-1-*": "firing"}},
		{"still anomalous: sent again with endsAt pushed", t0.Add(5 * time.Minute), win2, []detect.Verdict{scan("a-1-*", win2, 0.8)}, map[string]string{"a-1-*": "firing"}},
		{"no longer anomalous: resolved now", t0.Add(10 * time.Minute), win2, []detect.Verdict{scan("a-1-*", win2, 0.1)}, map[string]string{"a-1-*": "resolved"}},
		{"nothing anomalous, nothing held: nothing sent", t0.Add(15 * time.Minute), win2, nil, map[string]string{}},
	}
	sent := 0
	for _, s := range steps {
		clk.set(s.at)
		n.Deliver(ctx, s.window, s.verdicts)
		wantTotal := sent + len(s.want)
		testkit.WaitFor(t, 5*time.Second, s.name, func() bool { return len(am.received()) >= wantTotal })
		time.Sleep(20 * time.Millisecond)
		got := am.received()
		if len(got) != wantTotal {
			t.Fatalf("%s: %d alerts sent, want %d", s.name, len(got)-sent, len(s.want))
		}
		for _, a := range got[sent:] {
			state, ok := s.want[a.Labels["workload"]]
			if !ok {
				t.Errorf("%s: unexpected alert %v", s.name, a.Labels)
				continue
			}
			if !a.StartsAt.Equal(t0) {
				t.Errorf("%s: startsAt %s, want the first window's notice %s", s.name, a.StartsAt, t0)
			}
			switch state {
			case "firing":
				if want := s.at.Add(4 * time.Hour); !a.EndsAt.Equal(want) {
					t.Errorf("%s: endsAt %s, want now + 4 resend intervals = %s", s.name, a.EndsAt, want)
				}
			case "resolved":
				if !a.EndsAt.Equal(s.at) {
					t.Errorf("%s: endsAt %s, want now %s", s.name, a.EndsAt, s.at)
				}
			}
			wantLabels := map[string]string{"alertname": "CalicoAnomaly", "detector": "port_scan", "cluster": "c1", "namespace": "shop", "workload": "a-1-*", "severity": "warning"}
			for k, v := range wantLabels {
				if a.Labels[k] != v {
					t.Errorf("%s: label %s = %q, want %q", s.name, k, a.Labels[k], v)
				}
			}
			if want := "http://exporter:9925/anomaly?cluster=c1&detector=port_scan&namespace=shop&type=wep&workload=a-1-%2A"; a.GeneratorURL != want {
				t.Errorf("%s: generatorURL %q, want %q", s.name, a.GeneratorURL, want)
			}
			for _, k := range []string{"summary", "description", "evidence", "dashboard_url", "mitre_ids", "runbook_url"} {
				if a.Annotations[k] == "" {
					t.Errorf("%s: annotation %s empty", s.name, k)
				}
			}
		}
		sent = wantTotal
	}
	if v := testutil.ToFloat64(n.metrics.firing); v != 0 {
		t.Errorf("calico_anomaly_alerts_firing = %v after the resolve", v)
	}
}

func TestFiringAlertsAreResentEachInterval(t *testing.T) {
	am := newFakeAM(t)
	n, _ := run(t, Config{URLs: []string{am.srv.URL}, ResendInterval: 50 * time.Millisecond, Policy: notify.Policy{Severity: 100}})
	n.Deliver(context.Background(), win1, []detect.Verdict{scan("a-1-*", win1, 0.9)})
	testkit.WaitFor(t, 5*time.Second, "three resends", func() bool { return len(am.received()) >= 4 })
	got := am.received()
	for i := 1; i < len(got); i++ {
		if !got[i].EndsAt.After(got[i-1].EndsAt) {
			t.Errorf("resend %d: endsAt %s not after the previous %s", i, got[i].EndsAt, got[i-1].EndsAt)
		}
		if !got[i].StartsAt.Equal(got[0].StartsAt) {
			t.Errorf("resend %d: startsAt moved from %s to %s", i, got[0].StartsAt, got[i].StartsAt)
		}
	}
}

func TestFailuresAreRetriedOrReportedByKind(t *testing.T) {
	tests := []struct {
		name        string
		answers     []fakeAnswer
		wantSent    int
		wantRetries float64
		wantDropped float64
		wantLog     []string
	}{
		{
			name:        "503 twice, then accepted",
			answers:     []fakeAnswer{{503, `"overloaded"`}, {503, `"overloaded"`}},
			wantSent:    1,
			wantRetries: 2,
			wantLog:     []string{"retrying", "503 Service Unavailable: overloaded"},
		},
		{
			name:        "429, then accepted",
			answers:     []fakeAnswer{{429, "slow down"}},
			wantSent:    1,
			wantRetries: 1,
		},
		{
			name:        "400 with Alertmanager's reason: dropped, not retried",
			answers:     []fakeAnswer{{400, `"start time must be before end time"`}},
			wantDropped: 1,
			wantLog:     []string{"not retried", "400 Bad Request: start time must be before end time"},
		},
		{
			name:        "422 from request validation: dropped with its message and code",
			answers:     []fakeAnswer{{422, `{"code":602,"message":"labels in body is required"}`}},
			wantDropped: 1,
			wantLog:     []string{"labels in body is required (code 602)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The first answer goes to the heartbeat of an empty queue.
			am := newFakeAM(t, append([]fakeAnswer{{200, ""}}, tt.answers...)...)
			n, logs := run(t, Config{URLs: []string{am.srv.URL}, ResendInterval: time.Hour, BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond,
				Policy: notify.Policy{Severity: 100}})
			label := n.targets[0].label
			testkit.WaitFor(t, 5*time.Second, "the heartbeat", func() bool { return testutil.ToFloat64(n.metrics.requests.WithLabelValues(label)) == 1 })
			n.Deliver(context.Background(), win1, []detect.Verdict{scan("a-1-*", win1, 0.9)})
			wantRequests := 2 + tt.wantRetries // the heartbeat, the first try, the retries
			testkit.WaitFor(t, 5*time.Second, "every request", func() bool { return testutil.ToFloat64(n.metrics.requests.WithLabelValues(label)) >= wantRequests })
			time.Sleep(50 * time.Millisecond)
			if got := testutil.ToFloat64(n.metrics.requests.WithLabelValues(label)); got != wantRequests {
				t.Errorf("%v requests, want %v", got, wantRequests)
			}
			if got := len(am.received()); got != tt.wantSent {
				t.Errorf("%d alerts accepted, want %d", got, tt.wantSent)
			}
			if got := testutil.ToFloat64(n.metrics.retries.WithLabelValues(label)); got != tt.wantRetries {
				t.Errorf("retries %v, want %v", got, tt.wantRetries)
			}
			if got := testutil.ToFloat64(n.metrics.dropped.WithLabelValues(label, reasonRejected)); got != tt.wantDropped {
				t.Errorf("dropped %v, want %v", got, tt.wantDropped)
			}
			if q := n.targets[0].queue.len(); q != 0 {
				t.Errorf("%d alerts still queued", q)
			}
			wantUp := 1.0
			if tt.wantDropped > 0 {
				wantUp = 0 // a refusal is not a success
			}
			if up := testutil.ToFloat64(n.metrics.up.WithLabelValues(label)); up != wantUp {
				t.Errorf("up = %v, want %v", up, wantUp)
			}
			for _, want := range tt.wantLog {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logs.String())
				}
			}
		})
	}
}

func TestCredentialsAreSent(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	pass := filepath.Join(dir, "pass")
	os.WriteFile(token, []byte("s3cret-token\n"), 0o600)
	os.WriteFile(pass, []byte("hunter2\n"), 0o600)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"a bearer token from a file", Config{BearerTokenFile: token}, "Bearer s3cret-token"},
		{"basic auth with a password file", Config{Username: "exporter", PasswordFile: pass}, "Basic ZXhwb3J0ZXI6aHVudGVyMg=="},
		{"nothing", Config{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			am := newFakeAM(t)
			cfg := tt.cfg
			cfg.URLs = []string{am.srv.URL}
			cfg.Policy = notify.Policy{Severity: 100}
			run(t, cfg)
			testkit.WaitFor(t, 5*time.Second, "the heartbeat", func() bool { am.mu.Lock(); defer am.mu.Unlock(); return len(am.authSeen) > 0 })
			am.mu.Lock()
			got := am.authSeen[0]
			am.mu.Unlock()
			if got != tt.want {
				t.Errorf("Authorization %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewRefusesBadConfigNamingWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("x\n"), 0o600)
	ok := notify.Policy{Severity: 100}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no URL", Config{Policy: ok}, "no URL"},
		{"not http", Config{URLs: []string{"ftp://am:21"}, Policy: ok}, `"ftp://am:21": want http:// or https://`},
		{"no host", Config{URLs: []string{"http://"}, Policy: ok}, "and a host"},
		{"a query", Config{URLs: []string{"http://am:9093/?x=1"}, Policy: ok}, "no query"},
		{"the same URL twice", Config{URLs: []string{"http://am:9093", "http://am:9093/"}, Policy: ok}, "given twice"},
		{"a password file without a user", Config{URLs: []string{"http://am"}, PasswordFile: good, Policy: ok}, "needs a username"},
		{"basic auth and a token", Config{URLs: []string{"http://am"}, Username: "u", BearerTokenFile: good, Policy: ok}, "not both"},
		{"an empty token file", Config{URLs: []string{"http://am"}, BearerTokenFile: empty, Policy: ok}, "bearer token file " + empty + ": empty"},
		{"a missing token file", Config{URLs: []string{"http://am"}, BearerTokenFile: filepath.Join(dir, "nope"), Policy: ok}, "no such file"},
		{"credentials in the URL and in flags", Config{URLs: []string{"http://u:p@am"}, BearerTokenFile: good, Policy: ok}, "credentials in the URL and in flags"},
		{"a bad minimum score", Config{URLs: []string{"http://am"}, Policy: notify.Policy{MinScore: 2}}, "minimum score 2"},
		{"an external URL without a scheme", Config{URLs: []string{"http://am"}, GeneratorURL: "exporter:9925", Policy: ok}, `external URL "exporter:9925"`},
		{"a missing CA file", Config{URLs: []string{"https://am"}, CAFile: filepath.Join(dir, "ca.pem"), Policy: ok}, "ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestCredentialsInTheURLAreUsedAndNotShown(t *testing.T) {
	am := newFakeAM(t)
	u := strings.Replace(am.srv.URL, "http://", "http://exporter:hunter2@", 1)
	n, _ := run(t, Config{URLs: []string{u}, Policy: notify.Policy{Severity: 100}})
	if n.targets[0].label != am.srv.URL {
		t.Errorf("label %q shows credentials; want %q", n.targets[0].label, am.srv.URL)
	}
	testkit.WaitFor(t, 5*time.Second, "the heartbeat", func() bool { am.mu.Lock(); defer am.mu.Unlock(); return len(am.authSeen) > 0 })
	am.mu.Lock()
	defer am.mu.Unlock()
	if am.authSeen[0] != "Basic ZXhwb3J0ZXI6aHVudGVyMg==" {
		t.Errorf("Authorization %q", am.authSeen[0])
	}
}

func TestDryRunLogsAndSendsNothing(t *testing.T) {
	am := newFakeAM(t)
	logs := &testkit.SyncBuffer{}
	n, err := New(Config{DryRun: true, Policy: notify.Policy{Severity: 100}}, log.NewLogfmtLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	n.Deliver(context.Background(), win1, []detect.Verdict{scan("a-1-*", win1, 0.9)})
	n.Deliver(context.Background(), win2, nil)
	out := logs.String()
	for _, want := range []string{"dry run: alert not sent", "state=firing", "state=resolved", `\"workload\":\"a-1-*\"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if len(am.received()) != 0 {
		t.Errorf("dry run sent alerts")
	}
}

func TestQueueKeepsTheNewestStateOfEachAlert(t *testing.T) {
	q := newQueue(3)
	steps := []struct {
		key         string
		wantDropped int
		wantOrder   string
	}{
		{"a", 0, "a1"},
		{"b", 0, "a1 b2"},
		{"a", 0, "b2 a3"}, // a newer state of a replaces it, at the back
		{"c", 0, "b2 a3 c4"},
		{"d", 1, "a3 c4 d5"}, // full: the oldest goes
	}
	for i, s := range steps {
		if d := q.push(s.key, nil); d != s.wantDropped {
			t.Errorf("step %d: dropped %d, want %d", i, d, s.wantDropped)
		}
		var got []string
		for _, e := range q.peek(10) {
			got = append(got, e.key+itoa(e.seq))
		}
		if strings.Join(got, " ") != s.wantOrder {
			t.Errorf("step %d: queue %v, want %s", i, got, s.wantOrder)
		}
	}
	sent := q.peek(2) // a3 c4
	q.push("a", nil)  // a6 replaces a3 while it is being sent
	q.ack(sent)
	var left []string
	for _, e := range q.peek(10) {
		left = append(left, e.key+itoa(e.seq))
	}
	if strings.Join(left, " ") != "d5 a6" {
		t.Errorf("after ack: %v, want the unsent d5 and the newer a6", left)
	}
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestMetricsLint(t *testing.T) {
	n, err := New(Config{URLs: []string{"http://am-0:9093", "http://am-1:9093"}, Policy: notify.Policy{Severity: 100}}, nil)
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
	want := `
# HELP calico_anomaly_alertmanager_queue_capacity Most alerts that can wait for the Alertmanager; beyond it the oldest are dropped.
# TYPE calico_anomaly_alertmanager_queue_capacity gauge
calico_anomaly_alertmanager_queue_capacity{alertmanager="http://am-0:9093"} 10000
calico_anomaly_alertmanager_queue_capacity{alertmanager="http://am-1:9093"} 10000
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "calico_anomaly_alertmanager_queue_capacity"); err != nil {
		t.Error(err)
	}
}

// TestClustersResolveOnlyTheirOwnAlerts: with one exporter reading two
// clusters, a window of cluster c2 does not resolve c1's alert.
func TestClustersResolveOnlyTheirOwnAlerts(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	n, err := New(Config{DryRun: true, Policy: notify.Policy{Severity: 100}}, log.NewLogfmtLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	inC2 := scan("b-1-*", win1, 0.1)
	inC2.Entity.Cluster = "c2"
	n.Deliver(context.Background(), win1, []detect.Verdict{scan("a-1-*", win1, 0.9)})
	n.Deliver(context.Background(), win1, []detect.Verdict{inC2})
	if strings.Contains(logs.String(), "state=resolved") {
		t.Fatalf("cluster c2's window resolved cluster c1's alert:\n%s", logs.String())
	}
	n.Deliver(context.Background(), win2, []detect.Verdict{scan("a-1-*", win2, 0.1)})
	if !strings.Contains(logs.String(), "state=resolved") {
		t.Errorf("cluster c1's next quiet window did not resolve its alert:\n%s", logs.String())
	}
}
