package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSafeConfigKeepsTheConfigurationInForceOnARefusedReload: a reload
// that loads swaps the configuration whole; one that does not is refused
// with its error, the one in force kept, and the reload metric says so.
func TestSafeConfigKeepsTheConfigurationInForceOnARefusedReload(t *testing.T) {
	load := func(file string) func() (*Config, error) {
		return func() (*Config, error) {
			f, err := ParseFile("exporter.yaml", []byte(file))
			if err != nil {
				return nil, err
			}
			return Resolve(Sources{File: f})
		}
	}
	first, err := load("elasticsearch: {tenant: acme}\n")()
	if err != nil {
		t.Fatal(err)
	}
	next := load("elasticsearch: {tenant: beta}\n")
	s := NewSafeConfig(first, func() (*Config, error) { return next() }, log.NewNopLogger())
	reloadOK := func(want string) {
		t.Helper()
		exp := "# HELP calico_anomaly_config_last_reload_successful 1 when the last configuration reload succeeded; a failed reload keeps the configuration in force.\n" +
			"# TYPE calico_anomaly_config_last_reload_successful gauge\ncalico_anomaly_config_last_reload_successful " + want + "\n"
		if err := testutil.CollectAndCompare(s, strings.NewReader(exp), "calico_anomaly_config_last_reload_successful"); err != nil {
			t.Error(err)
		}
	}
	tenant := func() string { return s.Get().Elasticsearch.Tenant }

	reloadOK("1")
	if got, err := s.Reload(); err != nil || got.Elasticsearch.Tenant != "beta" || tenant() != "beta" {
		t.Fatalf("good reload: %v, tenant in force %q", err, tenant())
	}
	reloadOK("1")

	next = load("elasticsearch:\n  tenant: [\n")
	before := s.Get()
	_, err = s.Reload()
	var perr *Error
	if err == nil || !errors.As(err, &perr) || perr.Pos.Line != 2 {
		t.Errorf("broken file: %v, want an error at exporter.yaml:2", err)
	}
	if s.Get() != before || tenant() != "beta" {
		t.Errorf("a refused reload changed the configuration in force: tenant %q", tenant())
	}
	reloadOK("0")

	next = load("elasticsearch: {tenant: gamma}\n")
	if _, err := s.Reload(); err != nil || tenant() != "gamma" {
		t.Errorf("reload after a fix: %v, tenant %q", err, tenant())
	}
	reloadOK("1")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
