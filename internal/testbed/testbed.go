// Package testbed owns integration tests' access to the real servers that
// scripts/testbed.sh starts once per `make test` run: Elasticsearch,
// Prometheus and Alertmanager on loopback. A test that needs one and cannot
// reach it fails with the reason; it never skips.
package testbed

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	loadOnce sync.Once
	fromFile map[string]string
)

// repoRoot walks up from the working directory to the folder with go.mod.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// loadEnvFile reads the export lines of .testbed/env.
func loadEnvFile() map[string]string {
	out := map[string]string{}
	root := repoRoot()
	if root == "" {
		return out
	}
	f, err := os.Open(filepath.Join(root, ".testbed", "env"))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

func lookup(t testing.TB, name, what string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	loadOnce.Do(func() { fromFile = loadEnvFile() })
	if v := fromFile[name]; v != "" {
		return v
	}
	t.Fatalf("%s test bed not running (%s unset and no .testbed/env): run `make test` or `scripts/testbed.sh start`", what, name)
	return ""
}

// ElasticsearchURL is the base URL of the test bed's Elasticsearch node.
func ElasticsearchURL(t testing.TB) string { return lookup(t, "TESTBED_ES_URL", "Elasticsearch") }

// PrometheusURL is the base URL of the test bed's Prometheus.
func PrometheusURL(t testing.TB) string { return lookup(t, "TESTBED_PROMETHEUS_URL", "Prometheus") }

// AlertmanagerURL is the base URL of the test bed's Alertmanager.
func AlertmanagerURL(t testing.TB) string {
	return lookup(t, "TESTBED_ALERTMANAGER_URL", "Alertmanager")
}

// PrometheusTargetsDir is where file_sd target files for Prometheus go.
func PrometheusTargetsDir(t testing.TB) string {
	return lookup(t, "TESTBED_PROMETHEUS_TARGETS_DIR", "Prometheus")
}

// PrometheusRulesDir is where rule files Prometheus loads on reload go.
func PrometheusRulesDir(t testing.TB) string {
	return lookup(t, "TESTBED_PROMETHEUS_RULES_DIR", "Prometheus")
}

// SecureElasticsearch is the test bed's second Elasticsearch node, with
// security on: TLS on HTTP signed by the test bed's own CA, and a file
// realm with an admin (superuser) and calico-reader (read-only on Calico's
// indices). Passwords are in files.
type SecureElasticsearch struct {
	URL                string
	CAFile             string
	AdminUser          string
	AdminPasswordFile  string
	ReaderUser         string
	ReaderPasswordFile string
}

// SecureElasticsearchNode returns the secure node's address and secrets.
func SecureElasticsearchNode(t testing.TB) SecureElasticsearch {
	return SecureElasticsearch{
		URL:                lookup(t, "TESTBED_ES_SECURE_URL", "secure Elasticsearch"),
		CAFile:             lookup(t, "TESTBED_ES_SECURE_CA_FILE", "secure Elasticsearch"),
		AdminUser:          "testbed-admin",
		AdminPasswordFile:  lookup(t, "TESTBED_ES_SECURE_ADMIN_PASSWORD_FILE", "secure Elasticsearch"),
		ReaderUser:         "calico-reader",
		ReaderPasswordFile: lookup(t, "TESTBED_ES_SECURE_READER_PASSWORD_FILE", "secure Elasticsearch"),
	}
}
