package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// parseFlags adds the configuration's flags to a fresh application and
// parses args.
func parseFlags(t *testing.T, args ...string) (*Flags, error) {
	t.Helper()
	app := kingpin.New("test", "")
	app.Flag("log.level", "").Default("info").String()
	app.Flag("web.listen-address", "").Default(":9925").String()
	f := AddFlags(app)
	_, err := f.Parse(args)
	return f, err
}

func TestFlagsGiven(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want map[string]string
	}{
		{"nothing given", nil, nil, map[string]string{}},
		{"values, a negated boolean and a repeated flag",
			[]string{"--search.interval=10m", "--no-detector.port-scan", "--es.url", "http://a:9200", "--es.url=http://b:9200"}, nil,
			map[string]string{"search.interval": "10m0s", "detector.port-scan": "false", "es.url": "http://a:9200,http://b:9200"}},
		{"a boolean turned on", []string{"--detector.bytes-in"}, nil, map[string]string{"detector.bytes-in": "true"}},
		{"a value from the environment is not a flag", []string{"--source.bucket=5m"}, map[string]string{"CLUSTER_NAME": "east"},
			map[string]string{"source.bucket": "5m0s"}},
		{"another part's flag", []string{"--web.listen-address=:1", "--log.level=debug"}, nil,
			map[string]string{"web.listen-address": ":1", "log.level": "debug"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			f, err := parseFlags(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Given(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Given = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFlagsRefuseOutOfRange: a flag's value is checked as kingpin parses
// it, the error naming the flag.
func TestFlagsRefuseOutOfRange(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"--search.interval=30s", "want a duration from 1m0s to 24h0m0s"},
		{"--source.bucket=soon", "want a duration"},
		{"--train.interval=-1h", "want a duration from 0s to 720h0m0s"},
		{"--alert.severity=101", "want a whole number from 0 to 100"},
		{"--metrics.max-series-per-detector=-1", "want a whole number from 0 to 10000000"},
		{"--es.index-layout=flat", "flat"},
		{"--es.tenant=ACME", "want a name that can be part of an index name"},
		{"--es.cluster=a b", "want a name that can be part of an index name"},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			_, err := parseFlags(t, tc.arg)
			flag, _, _ := strings.Cut(tc.arg, "=")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), flag) {
				t.Errorf("%s: err %v, want one naming %s with %q", tc.arg, err, flag, tc.want)
			}
		})
	}
}

// TestFlagsLoad: the value in force of each setting, and its origin, from
// the flag's default, Calico's environment, our file, or the flag given.
func TestFlagsLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "exporter.yaml")
	if err := os.WriteFile(file, []byte("elasticsearch:\n  tenant: acme\nmetrics:\n  max_series_per_detector: 50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		setting string
		value   string
		origin  string
	}{
		{"the flag's default", nil, nil, SettingSearchInterval, "5m0s", "default"},
		{"Calico's variable over the default", nil, map[string]string{"AD_search_interval_minutes": "30"}, SettingSearchInterval, "30m0s", "env AD_search_interval_minutes"},
		{"the flag over Calico's variable", []string{"--search.interval=10m"}, map[string]string{"AD_search_interval_minutes": "30"}, SettingSearchInterval, "10m0s", "flag --search.interval"},
		{"a variable kingpin no longer reads", nil, map[string]string{"ELASTIC_USER": "reader"}, SettingElasticUser, "reader", "env ELASTIC_USER"},
		{"the file over Calico's variable", []string{"--config.file=" + file}, map[string]string{"TENANT_ID": "other"}, SettingTenant, "acme", "file " + file + ":2"},
		{"the flag over the file", []string{"--config.file=" + file, "--es.tenant=beta"}, nil, SettingTenant, "beta", "flag --es.tenant"},
		{"the file over the flag's default", []string{"--config.file=" + file}, nil, SettingMaxSeries, "50", "file " + file + ":4"},
		{"clusters repeated", []string{"--es.cluster=a", "--es.cluster=b"}, map[string]string{"CLUSTER_NAME": "east"}, SettingClusters, "a,b", "flag --es.cluster"},
		{"AD_debug", nil, map[string]string{"AD_debug": "true"}, SettingDebug, "true", "env AD_debug"},
		{"--log.level=debug", []string{"--log.level=debug"}, nil, SettingDebug, "true", "flag --log.level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(name string) string { return tt.env[name] }
			f, err := parseFlags(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			c, err := f.Load(env)
			if err != nil {
				t.Fatal(err)
			}
			s, _ := c.Setting(tt.setting)
			if s.Value != tt.value || s.Origin != tt.origin {
				t.Errorf("%s = %q from %q, want %q from %q", tt.setting, s.Value, s.Origin, tt.value, tt.origin)
			}
		})
	}
}

// TestLoadedFieldsMatchTheirSettings: the typed fields the exporter runs
// with are the values /config shows.
func TestLoadedFieldsMatchTheirSettings(t *testing.T) {
	f, err := parseFlags(t, "--search.interval=15m", "--es.cluster=a", "--es.cluster=b", "--alert.severity=40")
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Load(func(name string) string {
		return map[string]string{"AD_train_interval_minutes": "20", "TENANT_ID": "acme", "ELASTIC_PASSWORD": "hunter2"}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		got      any
		want     any
		flagName string
	}{
		{"search interval", c.SearchInterval, 15 * time.Minute, "search.interval"},
		{"train interval", c.TrainInterval, 20 * time.Minute, "train.interval"},
		{"clusters", c.Clusters, []string{"a", "b"}, "es.cluster"},
		{"first cluster", c.Cluster, "a", ""},
		{"severity", c.AlertSeverity, 40, "alert.severity"},
		{"tenant", c.Elasticsearch.Tenant, "acme", "es.tenant"},
		{"password", c.Elasticsearch.Password.Reveal(), "hunter2", ""},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
		if tc.flagName == "" {
			continue
		}
		s, ok := c.FlagSetting(tc.flagName)
		if !ok {
			t.Errorf("--%s has no setting", tc.flagName)
			continue
		}
		want := fmt.Sprint(tc.want)
		if l, ok := tc.want.([]string); ok {
			want = strings.Join(l, ",")
		}
		if s.Value != want {
			t.Errorf("--%s shows %q, the exporter runs with %s", tc.flagName, s.Value, want)
		}
	}
	if s, _ := c.Setting(SettingElasticPassword); s.Value != maskedValue {
		t.Errorf("password shown as %q", s.Value)
	}
}

// TestEveryGlobalComesFromItsFlagAndItsFileKey: an entry in globals is
// all a setting needs to be a flag, a key of our file and a line of
// /config with its origin, each value going through the setting's one
// parser.
func TestEveryGlobalComesFromItsFlagAndItsFileKey(t *testing.T) {
	for _, g := range globals {
		if g.flag != "" && !g.external {
			t.Run("flag --"+g.flag, func(t *testing.T) {
				f, err := parseFlags(t, "--"+g.flag+"="+g.def)
				if err != nil {
					t.Fatal(err)
				}
				c, err := f.Load(func(string) string { return "" })
				if err != nil {
					t.Fatal(err)
				}
				s, ok := c.FlagSetting(g.flag)
				if !ok || s.Origin != "flag --"+g.flag || s.Value != g.field(c).String() {
					t.Errorf("%+v (ok %v), want the flag's value %q from the flag", s, ok, g.field(c).String())
				}
			})
		}
		if g.file != "" {
			t.Run("file key "+g.file, func(t *testing.T) {
				section, key, nested := strings.Cut(g.file, ".")
				yaml := g.file + ": [" + g.def + "]\n"
				if _, list := g.field(&Config{}).(*listValue); !list {
					yaml = g.file + ": \"" + g.def + "\"\n"
				}
				if nested {
					yaml = section + ":\n  " + strings.Replace(yaml, g.file, key, 1)
				}
				file, err := ParseFile("exporter.yaml", []byte(yaml))
				if err != nil {
					t.Fatalf("%s: %v", yaml, err)
				}
				c, err := Resolve(Sources{File: file})
				if err != nil {
					t.Fatal(err)
				}
				if s, _ := c.Setting(g.name); !strings.HasPrefix(s.Origin, "file exporter.yaml:") || s.Value != g.field(c).String() {
					t.Errorf("%s gives %+v", strings.TrimSpace(yaml), s)
				}
				bad := strings.Replace(yaml, g.def, "Not Valid!", 1)
				if g.def == "" {
					bad = strings.Replace(yaml, `""`, `"Not Valid!"`, 1)
				}
				if _, err := ParseFile("exporter.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "exporter.yaml:") {
					t.Errorf("%s: err %v, want a refusal at its line", strings.TrimSpace(bad), err)
				}
			})
		}
	}
}
