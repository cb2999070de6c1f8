//go:build integration

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	dto "github.com/prometheus/client_model/go"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestSecureElasticsearch reads a port scan from an Elasticsearch with
// security on, over TLS checked against a CA file, with basic auth as a
// read-only user whose password comes from a file: the scan is found, the
// secret is neither on the command line nor in the log, and without the CA
// file, or with a wrong password, the node is refused and reported down.
// The same scan is read with an API key, created by the admin with read
// rights on the cluster's indices only, from a file.
func TestSecureElasticsearch(t *testing.T) {
	node := testbed.SecureElasticsearchNode(t)
	cluster := fmt.Sprintf("secure%d", time.Now().UnixNano()%1e9)
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: cluster}
	ca, err := os.ReadFile(node.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := source.NewElasticsearch(source.ElasticsearchConfig{URLs: []string{node.URL}, Username: node.AdminUser,
		Password: readFile(t, node.AdminPasswordFile), CACert: ca, Naming: naming}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := admin.EnsureTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	end := newestWindowEnd(t)
	sim := simulate.New(simulate.Options{Seed: 9, Cluster: cluster},
		simulate.PortScan{At: end.Add(-bucket / 2), Namespace: "shop", Workload: "frontend", TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 600})
	if _, err := simulate.WriteElasticsearch(ctx, admin, naming, sim, end.Add(-time.Hour), end, bucket); err != nil {
		t.Fatal(err)
	}
	if err := admin.Refresh(ctx, naming.SearchIndex(calicolog.Flows)); err != nil {
		t.Fatal(err)
	}

	secrets := t.TempDir()
	readerPassword := readFile(t, node.ReaderPasswordFile)
	apiKey := createAPIKey(t, node, ca, cluster)
	apiKeyFile := filepath.Join(secrets, "api-key")
	if err := os.WriteFile(apiKeyFile, []byte(apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--source=elasticsearch", "--es.url=" + node.URL, "--es.cluster=" + cluster, fmt.Sprintf("--source.lag=%s", lag), "--source.catch-up=1h"}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"basic auth as the read-only user, password from a file", []string{"--es.username=" + node.ReaderUser, "--es.password-file=" + node.ReaderPasswordFile, "--es.ca-file=" + node.CAFile}},
		{"an API key from a file", []string{"--es.api-key-file=" + apiKeyFile, "--es.ca-file=" + node.CAFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startExporter(t, append(append([]string(nil), common...), tc.args...)...)
			mfs := e.waitForMetrics(t, time.Minute, "the hour scored", func(mfs map[string]*dto.MetricFamily) bool {
				return series(mfs, "calico_anomaly_detector_runs_total", "detector", "result")["port_scan/success"] >= 12
			})
			scanner := "port_scan/shop/" + workloadOf(mfs, "port_scan", "shop", "frontend")
			if got := anomalous(mfs); len(got) != 1 || !got[scanner] {
				t.Errorf("anomalous %v, want the scanner only", keys(got))
			}
			if v := series(mfs, "calico_anomaly_elasticsearch_up")[""]; v != 1 {
				t.Errorf("elasticsearch_up = %v", v)
			}
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", e.cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{readerPassword, apiKey} {
				if strings.Contains(string(cmdline), secret) {
					t.Error("a secret is on the command line, visible in ps")
				}
				if strings.Contains(e.log.String(), secret) {
					t.Error("a secret reached the log")
				}
			}
		})
	}
	t.Run("without the CA file the node is refused and reported down", func(t *testing.T) {
		e := startExporter(t, append(append([]string(nil), common...), "--es.username="+node.ReaderUser, "--es.password-file="+node.ReaderPasswordFile)...)
		e.waitForMetrics(t, time.Minute, "elasticsearch_up 0", func(mfs map[string]*dto.MetricFamily) bool {
			return series(mfs, "calico_anomaly_elasticsearch_up")[""] == 0
		})
		if !strings.Contains(e.log.String(), "certificate") {
			t.Errorf("the log does not say the certificate is not trusted:\n%s", lastLines(e.log.String(), 10))
		}
	})
	t.Run("a wrong password is refused and named", func(t *testing.T) {
		wrong := filepath.Join(secrets, "wrong")
		if err := os.WriteFile(wrong, []byte("not-the-password"), 0o600); err != nil {
			t.Fatal(err)
		}
		e := startExporter(t, append(append([]string(nil), common...), "--es.username="+node.ReaderUser, "--es.password-file="+wrong, "--es.ca-file="+node.CAFile)...)
		e.waitForMetrics(t, time.Minute, "elasticsearch_up 0", func(mfs map[string]*dto.MetricFamily) bool {
			return series(mfs, "calico_anomaly_elasticsearch_up")[""] == 0
		})
		if !strings.Contains(e.log.String(), "401") || strings.Contains(e.log.String(), "not-the-password") {
			t.Errorf("the log should name the 401 and never the password:\n%s", lastLines(e.log.String(), 10))
		}
	})
}

// createAPIKey asks the secure node, as its admin, for an API key that may
// only read the cluster's log indices, and returns it encoded as
// Elasticsearch's ApiKey header wants it.
func createAPIKey(t *testing.T, node testbed.SecureElasticsearch, ca []byte, cluster string) string {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("the test bed's CA file holds no certificate")
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	body := fmt.Sprintf(`{"name":"exporter-%s","role_descriptors":{"reader":{"cluster":["monitor"],"indices":[{"names":["tigera_secure_ee_*.%s.*"],"privileges":["read","view_index_metadata"]}]}}}`, cluster, cluster)
	req, err := http.NewRequest(http.MethodPost, node.URL+"/_security/api_key", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(node.AdminUser, readFile(t, node.AdminPasswordFile))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var key struct {
		Encoded string `json:"encoded"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &key) != nil || key.Encoded == "" {
		t.Fatalf("creating an API key: %s %s", resp.Status, raw)
	}
	return key.Encoded
}
