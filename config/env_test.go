package config

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// envOf is a getenv over a fixed set of variables.
func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestReadEnvDefaults(t *testing.T) {
	e, err := ReadEnv(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name      string
		got, want any
	}{
		{"cluster", e.ClusterName, "cluster"},
		{"search interval", e.SearchInterval, 30 * time.Minute},
		{"train interval", e.TrainInterval, 1440 * time.Minute},
		{"max docs", e.MaxDocs, 500000},
		{"bucket", e.Bucket, 5 * time.Minute},
		{"query size", e.QuerySize, 10000},
		{"scroll time", e.ScrollTime, 20 * time.Second},
		{"severity", e.AlertSeverity, 100},
		{"debug", e.Debug, false},
		{"port", e.ElasticPort, 9200},
		{"enabled", e.EnabledDetectors == nil, true},
		{"set", len(e.Set), 0},
		{"params", len(e.Params), 0},
		{"url", e.ElasticURL(), ""},
	}
	for _, w := range want {
		if !reflect.DeepEqual(w.got, w.want) {
			t.Errorf("%s = %v, want %v", w.name, w.got, w.want)
		}
	}
}

func TestReadEnvValues(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		check func(e *Env) any
		want  any
	}{
		{"cluster name", map[string]string{"CLUSTER_NAME": "prod-eu"}, func(e *Env) any { return e.ClusterName }, "prod-eu"},
		{"search interval in minutes", map[string]string{"AD_search_interval_minutes": "5"}, func(e *Env) any { return e.SearchInterval }, 5 * time.Minute},
		{"train interval in minutes", map[string]string{"AD_train_interval_minutes": " 20 "}, func(e *Env) any { return e.TrainInterval }, 20 * time.Minute},
		{"max docs", map[string]string{"AD_max_docs": "100000"}, func(e *Env) any { return e.MaxDocs }, 100000},
		{"bucket", map[string]string{"ES_bucket_size_minutes": "10"}, func(e *Env) any { return e.Bucket }, 10 * time.Minute},
		{"query size", map[string]string{"ES_query_size": "500"}, func(e *Env) any { return e.QuerySize }, 500},
		{"scroll time in minutes", map[string]string{"ES_scroll_time": "1m"}, func(e *Env) any { return e.ScrollTime }, time.Minute},
		{"scroll time in days", map[string]string{"ES_scroll_time": "1d"}, func(e *Env) any { return e.ScrollTime }, 24 * time.Hour},
		{"disabled jobs as Calico shipped them", map[string]string{"AD_DISABLED_JOBS": "bytes_in,bytes_out,process_bytes"}, func(e *Env) any { return e.DisabledDetectors }, registeredOf("bytes_in", "bytes_out", "process_bytes")},
		{"disabled jobs with dashes and spaces", map[string]string{"AD_DISABLED_JOBS": "port-scan, ip_sweep"}, func(e *Env) any { return e.DisabledDetectors }, []string{"port_scan", "ip_sweep"}},
		{"enabled detectors", map[string]string{"AD_ENABLED_DETECTORS": "port_scan,ip_sweep,port_scan"}, func(e *Env) any { return e.EnabledDetectors }, []string{"port_scan", "ip_sweep"}},
		{"enabled detectors by the older name", map[string]string{"AD_ENABLED_JOBS": "ip_sweep"}, func(e *Env) any { return e.EnabledFrom + "=" + strings.Join(e.EnabledDetectors, ",") }, "AD_ENABLED_JOBS=ip_sweep"},
		{"both names agreeing", map[string]string{"AD_ENABLED_JOBS": "ip_sweep,port_scan", "AD_ENABLED_DETECTORS": "port_scan,ip_sweep"}, func(e *Env) any { return e.EnabledFrom }, "AD_ENABLED_DETECTORS"},
		{"severity", map[string]string{"AD_ALERT_SEVERITY": "40"}, func(e *Env) any { return e.AlertSeverity }, 40},
		{"debug as Python writes it", map[string]string{"AD_debug": "True"}, func(e *Env) any { return e.Debug }, true},
		{"debug as 1", map[string]string{"AD_debug": "1"}, func(e *Env) any { return e.Debug }, true},
		{"debug off", map[string]string{"AD_debug": "False"}, func(e *Env) any { return e.Debug }, false},
		{"elastic URL from host and port", map[string]string{"ELASTIC_HOST": "tigera-secure-es-http.tigera-elasticsearch.svc", "ELASTIC_PORT": "9201"}, func(e *Env) any { return e.ElasticURL() }, "https://tigera-secure-es-http.tigera-elasticsearch.svc:9201"},
		{"elastic URL with a scheme", map[string]string{"ELASTIC_HOST": "http://localhost"}, func(e *Env) any { return e.ElasticURL() }, "http://localhost:9200"},
		{"elastic credentials", map[string]string{"ELASTIC_USER": "elastic", "ELASTIC_PASSWORD": "s3cret", "ES_CA_CERT": "/etc/ssl/ca.pem"}, func(e *Env) any { return e.ElasticUser + " " + e.ElasticPassword + " " + e.ESCACert }, "elastic s3cret /etc/ssl/ca.pem"},
		{"detector variable", map[string]string{"AD_port_scan_threshold": "200"}, func(e *Env) any { return e.Params["port_scan"]["threshold"] }, "200"},
		{"one variable for two detectors", map[string]string{"AD_SeasonalAD_c": "300"}, func(e *Env) any { return e.Params["bytes_in"]["c"] + "," + e.Params["bytes_out"]["c"] }, "300,300"},
		{"set records raw values", map[string]string{"AD_max_docs": "7", "AD_debug": ""}, func(e *Env) any { return e.Set }, map[string]string{"AD_max_docs": "7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ReadEnv(envOf(tt.vars))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.check(e); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want []string // substrings of the error
	}{
		{"minutes not a number", map[string]string{"AD_search_interval_minutes": "5m"}, []string{`AD_search_interval_minutes="5m"`, "whole number of minutes"}},
		{"zero train interval", map[string]string{"AD_train_interval_minutes": "0"}, []string{`AD_train_interval_minutes="0"`}},
		{"negative max docs", map[string]string{"AD_max_docs": "-1"}, []string{`AD_max_docs="-1"`, "whole number of documents"}},
		{"severity above 100", map[string]string{"AD_ALERT_SEVERITY": "101"}, []string{`AD_ALERT_SEVERITY="101"`, "1 to 100"}},
		{"severity zero", map[string]string{"AD_ALERT_SEVERITY": "0"}, []string{`AD_ALERT_SEVERITY="0"`}},
		{"debug not a truth value", map[string]string{"AD_debug": "maybe"}, []string{`AD_debug="maybe"`, "True"}},
		{"port out of range", map[string]string{"ELASTIC_PORT": "70000"}, []string{`ELASTIC_PORT="70000"`, "port number"}},
		{"uppercase cluster", map[string]string{"CLUSTER_NAME": "Prod"}, []string{`CLUSTER_NAME="Prod"`, "lowercase"}},
		{"bad scroll time", map[string]string{"ES_scroll_time": "soon"}, []string{`ES_scroll_time="soon"`}},
		{"unknown enabled detector", map[string]string{"AD_ENABLED_DETECTORS": "dgaa"}, []string{`AD_ENABLED_DETECTORS="dgaa"`, `unknown detector "dgaa"`}},
		{"disagreeing enabled lists", map[string]string{"AD_ENABLED_DETECTORS": "port_scan", "AD_ENABLED_JOBS": "ip_sweep"}, []string{"disagree"}},
		{"detector threshold not a number", map[string]string{"AD_port_scan_threshold": "lots"}, []string{`AD_port_scan_threshold="lots"`, "want a number (default 500)"}},
		{"detector threshold refused by the detector", map[string]string{"AD_ip_sweep_threshold": "0"}, []string{`AD_ip_sweep_threshold="0"`, "at least 1"}},
		{"negative seasonal c", map[string]string{"AD_SeasonalAD_c": "-5"}, []string{`AD_SeasonalAD_c="-5"`, "must not be negative"}},
		{"two errors reported together", map[string]string{"AD_max_docs": "x", "AD_ALERT_SEVERITY": "y"}, []string{`AD_max_docs="x"`, `AD_ALERT_SEVERITY="y"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadEnv(envOf(tt.vars))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// registeredOf keeps the names that are registered detectors.
func registeredOf(names ...string) []string {
	var out []string
	for _, n := range names {
		if isRegistered(n) {
			out = append(out, n)
		}
	}
	return out
}

// missingCalicoDetector is one of Calico's detectors this build does not
// register yet, or "" once all are.
func missingCalicoDetector() string {
	for _, name := range sortedKeys(calicoDetectors) {
		if !isRegistered(name) {
			return name
		}
	}
	return ""
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestEveryCalicoDetectorIsRegistered: this build has all of Calico's
// detectors.
func TestEveryCalicoDetectorIsRegistered(t *testing.T) {
	if name := missingCalicoDetector(); name != "" {
		t.Errorf("Calico's detector %s is not registered", name)
	}
}

// TestCalicoDetectorsThisBuildLacks: a Calico detector a build lacks (here
// a made-up one added to Calico's list) may be disabled, as Calico's
// manifests disabled some, but not enabled.
func TestCalicoDetectorsThisBuildLacks(t *testing.T) {
	const name = "retired_detector"
	calicoDetectors[name] = true
	t.Cleanup(func() { delete(calicoDetectors, name) })
	e, err := ReadEnv(envOf(map[string]string{"AD_DISABLED_JOBS": name + ",port_scan"}))
	if err != nil {
		t.Fatalf("disabling %s: %v", name, err)
	}
	if !reflect.DeepEqual(e.DisabledDetectors, []string{"port_scan"}) {
		t.Errorf("disabled = %v", e.DisabledDetectors)
	}
	_, err = ReadEnv(envOf(map[string]string{"AD_ENABLED_DETECTORS": name}))
	if err == nil || !strings.Contains(err.Error(), strconv.Quote(name)+" is not available in this build") {
		t.Errorf("enabling %s: error = %v", name, err)
	}
	_, err = ParseFile("x.yaml", []byte("detectors:\n  "+name+": {enabled: true}\n"))
	if err == nil || !strings.Contains(err.Error(), "x.yaml:2:3: detectors: detector "+strconv.Quote(name)+" is not available in this build") {
		t.Errorf("file enabling %s: error = %v", name, err)
	}
	g, err := ParseGlobalAlerts("a.yaml", []byte(alertYAML("tigera.io.detector."+strings.ReplaceAll(name, "_", "-"), name, "severity: 10")))
	if err != nil || len(g.Alerts) != 0 || len(g.Ignored) != 1 || !strings.Contains(g.Ignored[0].Reason, "not available") {
		t.Errorf("GlobalAlert for %s: %+v, %v", name, g, err)
	}
}

func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{"AD_port_scan_threshold=1", "AD_port_scan_treshold=1", "ES_bucket_size_minutes=5", "ES_bucket_minutes=5", "HOME=/root", "AD_debug=1"})
	want := []string{"AD_port_scan_treshold", "ES_bucket_minutes"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UnknownEnv = %v, want %v", got, want)
	}
}

func FuzzReadEnv(f *testing.F) {
	f.Add("AD_max_docs", "100000", "AD_port_scan_threshold", "200")
	f.Add("AD_DISABLED_JOBS", "bytes_in,bytes_out,process_bytes", "AD_debug", "True")
	f.Add("AD_GENERIC_FLOWS_FIELDS", "bytes_in,nope", "ES_scroll_time", "1d")
	f.Add("AD_SeasonalAD_c", "1e308", "AD_ALERT_SEVERITY", "100")
	f.Add("AD_DISABLED_JOBS", "bytes_in,process_restart", "AD_search_interval_minutes", "7")
	f.Add("AD_detect_default_query_time_duration", "2m30s", "TENANT_ID", "acme")
	f.Add("AD_DGA_ALERTS_PER_DAY", "10", "AD_BytesInModel_SeasonalAD_c", "-1")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		vars := map[string]string{k1: v1, k2: v2}
		e, err := ReadEnv(envOf(vars))
		if e == nil {
			t.Fatal("nil Env")
		}
		if err != nil {
			return
		}
		if e.AlertSeverity < 1 || e.AlertSeverity > 100 || e.SearchInterval <= 0 || e.TrainInterval <= 0 || e.Bucket <= 0 || e.MaxDocs < 1 {
			t.Errorf("accepted out-of-range values: %+v", e)
		}
		for det, ps := range e.Params {
			if !isRegistered(det) {
				t.Errorf("params for unregistered detector %q", det)
			}
			_ = ps
		}
	})
}

func lookupForTest(name string) (struct{}, bool) { return struct{}{}, isRegistered(name) }

func lookupInfo(name string) (detect.Info, bool) { return detect.Lookup(name) }
