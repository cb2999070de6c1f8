//go:build integration

package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify/alertmanager"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// chatServer records what Alertmanager's receivers post.
type chatServer struct {
	mu    sync.Mutex
	posts []chatPost
}

type chatPost struct {
	Path string
	Body []byte
	Auth string
}

func (c *chatServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.posts = append(c.posts, chatPost{Path: r.URL.Path, Body: body, Auth: r.Header.Get("Authorization")})
	c.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
}

func (c *chatServer) received() []chatPost {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]chatPost(nil), c.posts...)
}

// startAlertmanager runs Debian's Alertmanager with deploy/alertmanager's
// configuration, its secret files and the in-cluster webhook URL pointed
// at chatURL, and returns its base URL.
func startAlertmanager(t *testing.T, chatURL string) string {
	t.Helper()
	dir := t.TempDir()
	raw, err := os.ReadFile("alertmanager/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"security", "critical", "performance", "platform"} {
		if err := os.WriteFile(filepath.Join(secrets, "slack-"+name+"-url"), []byte(chatURL+"/slack/"+name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(secrets, "webhook-token"), []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.ReplaceAll(string(raw), "/etc/alertmanager/secrets", secrets)
	cfg = strings.ReplaceAll(cfg, "http://chat-bridge.monitoring.svc:8080", chatURL+"/webhook")
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile("alertmanager/templates/calico-anomaly.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "templates", "calico-anomaly.tmpl"), tmpl, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("amtool", "check-config", filepath.Join(dir, "alertmanager.yml")).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	addr := testkit.FreeAddr(t)
	logs := &bytes.Buffer{}
	cmd := exec.Command("/usr/bin/prometheus-alertmanager", "--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--cluster.listen-address=")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Alertmanager (scripts/testbed.sh installs it): %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("Alertmanager log:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alertmanager not ready:\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pushRuleAlert posts an alert shaped as Prometheus sends a rule alert.
func pushRuleAlert(t *testing.T, amURL string, labels, annotations map[string]string) {
	t.Helper()
	body, _ := json.Marshal([]map[string]any{{"labels": labels, "annotations": annotations, "startsAt": time.Now().UTC().Format(time.RFC3339)}})
	resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("pushing a rule alert: %s %s", resp.Status, b)
	}
}

// TestAlertmanagerRoutesAnAttackToChat runs the real Alertmanager with the
// example configuration: a simulated port scan and IP sweep go through the
// exporter's detectors and its Alertmanager notifier, a rule alert of
// lower severity for the scanner comes as Prometheus would send it, and
// the chat server must receive one message per workload with the rendered
// text, the rule alert inhibited.
func TestAlertmanagerRoutesAnAttackToChat(t *testing.T) {
	chat := &chatServer{}
	srv := httptest.NewServer(chat)
	defer srv.Close()
	amURL := startAlertmanager(t, srv.URL)

	// The attack, scored by the real detectors.
	start := time.Now().UTC().Add(-time.Hour).Truncate(5 * time.Minute)
	attack := start.Add(30 * time.Minute)
	cluster := simulate.New(simulate.Options{Seed: 3, Cluster: "prod"},
		simulate.PortScan{At: attack.Add(2 * time.Minute), Namespace: "shop", Workload: "frontend", TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 600},
		simulate.IPSweep{At: attack.Add(2 * time.Minute), Namespace: "shop", Workload: "cart", CIDR: "10.244.1.0/24", Port: 6379})
	notifier, err := alertmanager.New(alertmanager.Config{URLs: []string{amURL}, GrafanaURL: "http://grafana.example", GeneratorURL: "http://exporter.example/",
		Policy: notify.Policy{Severity: 100}, BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = notifier.Run(ctx) }()
	detectors, err := engine.Build([]string{"port_scan", "ip_sweep"}, "prod", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Start: attack, Sinks: []engine.Sink{notifier}}, simulate.NewSource(cluster), detectors, scoreboard.New(0), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.ProcessWindow(ctx, source.Window{Start: attack, End: attack.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}

	// The rule alert on the scanner's score, as Prometheus sends it.
	var scanner, sweeper string
	deadline := time.Now().Add(30 * time.Second)
	for scanner == "" || sweeper == "" {
		for _, a := range alertsIn(t, amURL) {
			switch a["detector"] {
			case "port_scan":
				scanner = a["workload"]
			case "ip_sweep":
				sweeper = a["workload"]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the notifier's alerts did not reach Alertmanager: %v", alertsIn(t, amURL))
		}
		time.Sleep(200 * time.Millisecond)
	}
	pushRuleAlert(t, amURL, map[string]string{"alertname": "CalicoAnomalyScoreHigh", "severity": "warning", "source": "rule",
		"cluster": "prod", "namespace": "shop", "workload": scanner, "detector": "port_scan", "type": "wep"},
		map[string]string{"summary": "port_scan: shop/" + scanner + " is anomalous (rule)", "description": "rule alert"})

	// group_wait is 30s: wait for both workloads' messages.
	var slack []chatPost
	deadline = time.Now().Add(75 * time.Second)
	for {
		slack = nil
		for _, p := range chat.received() {
			if strings.HasPrefix(p.Path, "/slack/") {
				slack = append(slack, p)
			}
		}
		if len(slack) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	time.Sleep(2 * time.Second) // nothing else may follow
	slack = nil
	for _, p := range chat.received() {
		if strings.HasPrefix(p.Path, "/slack/") {
			slack = append(slack, p)
		}
	}
	if len(slack) != 2 {
		t.Fatalf("%d chat messages, want one per workload (2): %v", len(slack), chat.received())
	}
	byWorkload := map[string]string{}
	for _, p := range slack {
		var msg struct {
			Channel     string `json:"channel"`
			Attachments []struct {
				Title, Text, Color string
			} `json:"attachments"`
		}
		if err := json.Unmarshal(p.Body, &msg); err != nil || len(msg.Attachments) != 1 {
			t.Fatalf("chat payload %s: %v", p.Body, err)
		}
		a := msg.Attachments[0]
		if p.Path != "/slack/critical" || msg.Channel != "#security-critical" || a.Color != "danger" {
			t.Errorf("message %q went to %s %s (%s); the exporter's alerts are critical at AD_ALERT_SEVERITY 100, its default", a.Title, p.Path, msg.Channel, a.Color)
		}
		for _, w := range []string{scanner, sweeper} {
			if strings.Contains(a.Title, w) {
				byWorkload[w] = a.Text
			}
		}
	}
	for w, detector := range map[string]string{scanner: "port_scan", sweeper: "ip_sweep"} {
		text := byWorkload[w]
		if text == "" {
			t.Errorf("no message titled with %s", w)
			continue
		}
		for _, want := range []string{"`shop/" + w + "`", "detector `" + detector + "`", "Score *", "against threshold 0.5", "Evidence", "dest_", "<http://grafana.example/", "Grafana drill-down", "Quarantine policy", "kind: NetworkPolicy", "Status page"} {
			if !strings.Contains(text, want) {
				t.Errorf("message for %s lacks %q:\n%s", w, want, text)
			}
		}
		if strings.Contains(text, "(rule)") {
			t.Errorf("the warning rule alert for %s was not inhibited by the critical direct alert:\n%s", w, text)
		}
	}
	if strings.Contains(byWorkload[sweeper], "port_scan") {
		t.Errorf("the scanner's alert is grouped with the sweeper's:\n%s", byWorkload[sweeper])
	}
	for _, p := range chat.received() {
		if strings.HasPrefix(p.Path, "/webhook") && p.Auth != "Bearer s3cret-token" {
			t.Errorf("the generic webhook was called with Authorization %q, want the token from its file", p.Auth)
		}
	}
}

func alertsIn(t *testing.T, amURL string) []map[string]string {
	t.Helper()
	resp, err := http.Get(amURL + "/api/v2/alerts")
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
	out := make([]map[string]string, len(alerts))
	for i, a := range alerts {
		out[i] = a.Labels
	}
	return out
}
