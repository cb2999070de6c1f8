package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// sources builds Resolve's input from an environment, a configuration
// file, a GlobalAlert file and flags, any of them empty.
func sources(t *testing.T, env map[string]string, file, alerts string, flags map[string]string) Sources {
	t.Helper()
	var s Sources
	var err error
	if s.Env, err = ReadEnv(envOf(env)); err != nil {
		t.Fatal(err)
	}
	if file != "" {
		if s.File, err = ParseFile("exporter.yaml", []byte(file)); err != nil {
			t.Fatal(err)
		}
	}
	if alerts != "" {
		if s.Alerts, err = ParseGlobalAlerts("alerts.yaml", []byte(alerts)); err != nil {
			t.Fatal(err)
		}
	}
	s.Flags = flags
	return s
}

func TestResolvePrecedence(t *testing.T) {
	type want struct{ setting, value, origin string }
	tests := []struct {
		name   string
		env    map[string]string
		file   string
		alerts string
		flags  map[string]string
		want   []want
	}{
		// The default is --search.interval's, which runs: Calico's 30
		// minutes apply when its variable says so.
		{"defaults", nil, "", "", nil, []want{
			{SettingSearchInterval, "5m0s", "default"},
			{SettingClusters, "cluster", "default"},
			{DetectorSetting("port_scan", "threshold"), "500", "default"},
			{DetectorSetting("port_scan", "enabled"), "true", "default"},
			{DetectorSetting("bytes_in", "enabled"), "false", "default"},
			{DetectorSetting("port_scan", "period"), "5m0s", "default"},
			{DetectorSetting("port_scan", "severity"), "100", "default"},
		}},
		{"environment over defaults", map[string]string{"AD_search_interval_minutes": "5", "AD_port_scan_threshold": "200", "AD_ALERT_SEVERITY": "40", "CLUSTER_NAME": "east"}, "", "", nil, []want{
			{SettingSearchInterval, "5m0s", "env AD_search_interval_minutes"},
			{DetectorSetting("port_scan", "threshold"), "200", "env AD_port_scan_threshold"},
			{DetectorSetting("ip_sweep", "period"), "5m0s", "env AD_search_interval_minutes"},
			{DetectorSetting("ip_sweep", "severity"), "40", "env AD_ALERT_SEVERITY"},
			{SettingClusters, "east", "env CLUSTER_NAME"},
		}},
		{"file over environment", map[string]string{"AD_port_scan_threshold": "200", "AD_DISABLED_JOBS": "ip_sweep"},
			"clusters: [a, b]\ndetectors:\n  port_scan:\n    settings: {threshold: 300}\n  ip_sweep: {enabled: true, severity: 7}\n", "", nil, []want{
				{DetectorSetting("port_scan", "threshold"), "300", "file exporter.yaml:4"},
				{DetectorSetting("ip_sweep", "enabled"), "true", "file exporter.yaml:5"},
				{DetectorSetting("ip_sweep", "severity"), "7", "file exporter.yaml:5"},
				{SettingClusters, "a,b", "file exporter.yaml:1"},
			}},
		{"GlobalAlerts over the file, and absent ones turned off", map[string]string{"AD_ALERT_SEVERITY": "40"},
			"detectors:\n  port_scan: {severity: 70, period: 10m}\n  generic_flows: {enabled: true}\n",
			alertYAML("tigera.io.detector.port-scan", "port_scan", "severity: 100\n  period: 5m0s\n  description: Port Scan detection"), nil, []want{
				{DetectorSetting("port_scan", "severity"), "100", "globalalert alerts.yaml:1 (tigera.io.detector.port-scan)"},
				{DetectorSetting("port_scan", "period"), "5m0s", "globalalert alerts.yaml:1 (tigera.io.detector.port-scan)"},
				{DetectorSetting("port_scan", "description"), "Port Scan detection", "globalalert alerts.yaml:1 (tigera.io.detector.port-scan)"},
				{DetectorSetting("ip_sweep", "enabled"), "false", "globalalerts: no AnomalyDetection alert for it"},
				{DetectorSetting("generic_flows", "enabled"), "true", "file exporter.yaml:3"},
				{DetectorSetting("ip_sweep", "severity"), "40", "env AD_ALERT_SEVERITY"},
			}},
		{"only rule-based alerts leave detectors alone", nil, "",
			"apiVersion: projectcalico.org/v3\nkind: GlobalAlert\nmetadata: {name: r}\nspec: {type: RuleBased, dataSet: flows}\n", nil, []want{
				{DetectorSetting("ip_sweep", "enabled"), "true", "default"},
			}},
		{"flags over everything", map[string]string{"AD_search_interval_minutes": "5", "CLUSTER_NAME": "east"},
			"detectors:\n  port_scan: {enabled: true}\nmetrics: {max_series_per_detector: 10}\n",
			alertYAML("a", "port_scan", ""),
			map[string]string{"search.interval": "10m", "detector.port-scan": "false", "no-detector.ip-sweep": "true", "es.cluster": "west", "metrics.max-series-per-detector": "20", "web.listen-address": ":9925"}, []want{
				{SettingSearchInterval, "10m0s", "flag --search.interval"},
				{DetectorSetting("port_scan", "enabled"), "false", "flag --detector.port-scan"},
				{DetectorSetting("ip_sweep", "enabled"), "false", "flag --no-detector.ip-sweep"},
				{DetectorSetting("ip_sweep", "period"), "10m0s", "flag --search.interval"},
				{SettingClusters, "west", "flag --es.cluster"},
				{SettingMaxSeries, "20", "flag --metrics.max-series-per-detector"},
				{"web.listen-address", ":9925", "flag --web.listen-address"},
			}},
		{"secrets masked wherever they come from", map[string]string{"ELASTIC_PASSWORD": "hunter2", "ELASTIC_HOST": "es.local"}, "", "",
			map[string]string{"notify.slack-token": "xoxb-1", "es.api-key-file": "/run/key"}, []want{
				{SettingElasticPassword, "<secret>", "env ELASTIC_PASSWORD"},
				{"notify.slack-token", "<secret>", "flag --notify.slack-token"},
				{SettingAPIKeyFile, "/run/key", "flag --es.api-key-file"},
				{SettingElasticURLs, "https://es.local:9200", "env ELASTIC_HOST"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Resolve(sources(t, tt.env, tt.file, tt.alerts, tt.flags))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				s, ok := c.Setting(w.setting)
				if !ok {
					t.Errorf("no setting %s", w.setting)
					continue
				}
				if s.Value != w.value || s.Origin != w.origin {
					t.Errorf("%s = %q from %q, want %q from %q", w.setting, s.Value, s.Origin, w.value, w.origin)
				}
			}
		})
	}
}

func TestResolveTypedValues(t *testing.T) {
	c, err := Resolve(sources(t,
		map[string]string{"AD_search_interval_minutes": "10", "ES_bucket_size_minutes": "5", "AD_DISABLED_JOBS": "ip_sweep", "ELASTIC_PASSWORD": "hunter2", "AD_debug": "1"},
		"clusters: [a, b]\nelasticsearch: {index_layout: single}\ndetectors:\n  bytes_out: {enabled: true, score_threshold: 0.7, settings: {c: 300}}\nsilences:\n  - {namespace: kube-system}\n",
		"", map[string]string{"log.level": "info"}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"cluster", c.Cluster, "a"},
		{"clusters", strings.Join(c.Clusters, ","), "a,b"},
		{"search interval", c.SearchInterval, 10 * time.Minute},
		{"layout", string(c.Elasticsearch.IndexLayout), "single"},
		{"password kept for use", c.Elasticsearch.Password.Reveal(), "hunter2"},
		{"password masked in print", fmt.Sprintf("%v %+v %#v", c.Elasticsearch.Password, c.Elasticsearch, c.Elasticsearch.Password), `<secret> {URLs:[http://localhost:9200] Username: Password:<secret> PasswordFile: APIKeyFile: CAFile: IndexLayout:single Tenant: QuerySize:10000 ScrollTime:20s} "<secret>"`},
		{"the flag's log level wins over AD_debug", c.Debug, false},
		{"enabled: Calico's variables run every job not in AD_DISABLED_JOBS", strings.Join(c.EnabledDetectors(), ","), registeredSet().minus("ip_sweep").String()},
		{"score threshold", c.Detectors["bytes_out"].ScoreThreshold, 0.7},
		{"params", c.Params()["bytes_out"]["c"], "300"},
		{"params left at their default are absent", len(c.Params()["bytes_out"]), 1},
		{"effective value with its default", c.Detectors["bytes_out"].Params["min_size_for_train"], "1000"},
		{"silences", len(c.Silences), 1},
		{"period follows the interval", c.Detectors["port_scan"].Period, 10 * time.Minute},
	}
	for _, ch := range checks {
		if fmt.Sprint(ch.got) != fmt.Sprint(ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if text := c.Text(); strings.Contains(text, "hunter2") || !strings.Contains(text, "elasticsearch.password") {
		t.Errorf("Text leaks or lacks the password:\n%s", text)
	}
	if kv := fmt.Sprint(c.LogKeyvals()...); strings.Contains(kv, "hunter2") {
		t.Errorf("LogKeyvals leak the password: %s", kv)
	}
}

// detectorSet is a set of detector names, for expectations built from the
// registry's defaults.
type detectorSet map[string]bool

// registeredSet is every registered detector.
func registeredSet() detectorSet {
	s := detectorSet{}
	for _, name := range registeredNames() {
		s[name] = true
	}
	return s
}

func (s detectorSet) minus(names ...string) detectorSet {
	for _, n := range names {
		delete(s, n)
	}
	return s
}

func (s detectorSet) String() string {
	var out []string
	for _, name := range registeredNames() {
		if s[name] {
			out = append(out, name)
		}
	}
	return strings.Join(out, ",")
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		file   string
		alerts string
		flags  map[string]string
		want   string
	}{
		{"tenant with the single layout", nil, "elasticsearch: {tenant: acme}\n", "", map[string]string{"es.index-layout": "single"},
			"elasticsearch.tenant \"acme\" (file exporter.yaml:1) has no place in the single index layout (flag --es.index-layout)"},
		{"bad flag duration", nil, "", "", map[string]string{"search.interval": "soon"}, `flag --search.interval="soon": want a duration from 1m0s to 24h0m0s`},
		{"unknown detector flag", nil, "", "", map[string]string{"detector.port-scans": "true"}, `flag --detector.port-scans="true": unknown detector "port-scans"`},
		{"bad layout flag", nil, "", "", map[string]string{"es.index-layout": "flat"}, `flag --es.index-layout="flat": want legacy (tigera_secure_ee_<type>.<cluster>.*) or single`},
		{"bad cluster flag", nil, "", "", map[string]string{"es.cluster": "A"}, `flag --es.cluster="A": want a name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve(sources(t, tt.env, tt.file, tt.alerts, tt.flags))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// Intervals and periods that are not whole buckets are taken to the
// nearest whole number of buckets, with a warning naming their origin.
func TestResolveWarnings(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		alerts string
		flags  map[string]string
		want   string
	}{
		{"interval not a multiple of the bucket", map[string]string{"AD_search_interval_minutes": "7"}, "", nil,
			"search_interval 7m0s (env AD_search_interval_minutes) is not a whole number of 5m0s buckets: 5m0s is used"},
		{"flag bucket against env interval", map[string]string{"AD_search_interval_minutes": "5"}, "", map[string]string{"source.bucket": "2m"},
			"search_interval 5m0s (env AD_search_interval_minutes) is not a whole number of 2m0s buckets: 6m0s is used"},
		{"alert period not a multiple of the bucket", nil, alertYAML("a", "port_scan", "period: 7m"), nil,
			"detector.port_scan.period 7m0s (globalalert alerts.yaml:1 (a)) is not a whole number of 5m0s buckets: 5m0s is used"},
		{"unknown disabled detector", map[string]string{"AD_DISABLED_JOBS": "port_scan,portscan"}, "", nil,
			`AD_DISABLED_JOBS="port_scan,portscan": "portscan" matches no detector and is ignored (known: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Resolve(sources(t, tt.env, "", tt.alerts, tt.flags))
			if err != nil {
				t.Fatal(err)
			}
			if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, tt.want) {
				t.Errorf("warnings %q lack %q", w, tt.want)
			}
		})
	}
}

func TestSettingsRendering(t *testing.T) {
	c, err := Resolve(sources(t, map[string]string{"AD_port_scan_threshold": "200", "ELASTIC_PASSWORD": "p"}, "", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	settings := c.Settings()
	// Global settings come first, then each detector's by name.
	seenDetector := false
	for i, s := range settings {
		isDetector := strings.HasPrefix(s.Name, "detector.")
		if seenDetector && !isDetector {
			t.Errorf("global setting %s after detector settings", s.Name)
		}
		if isDetector && seenDetector && s.Name < settings[i-1].Name {
			t.Errorf("%s listed after %s", s.Name, settings[i-1].Name)
		}
		seenDetector = seenDetector || isDetector
	}
	text := c.Text()
	for _, want := range []string{"detector.port_scan.threshold", "200", "env AD_port_scan_threshold", "<secret>"} {
		if !strings.Contains(text, want) {
			t.Errorf("Text lacks %q:\n%s", want, text)
		}
	}
	if lines := strings.Count(text, "\n"); lines != len(settings) {
		t.Errorf("Text has %d lines for %d settings", lines, len(settings))
	}
	kv := c.LogKeyvals()
	if len(kv)%2 != 0 {
		t.Fatalf("odd keyvals: %v", kv)
	}
	got := map[any]any{}
	for i := 0; i < len(kv); i += 2 {
		got[kv[i]] = kv[i+1]
	}
	want := map[any]any{
		"detector.port_scan.threshold": "200 (env AD_port_scan_threshold)",
		"elasticsearch.password":       "<secret> (env ELASTIC_PASSWORD)",
	}
	for _, name := range registeredNames() {
		if !c.Detectors[name].Enabled {
			t.Errorf("%s is off, though Calico's jobs run every job not disabled", name)
		}
		if info, _ := lookupInfo(name); !info.DefaultEnabled {
			want[DetectorSetting(name, keyEnabled)] = "true (" + calicoJobsOrigin + ")"
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LogKeyvals = %v, want %v", got, want)
	}
}

func TestNoDetectorSettingCollidesWithSectionKeys(t *testing.T) {
	reserved := map[string]bool{keyEnabled: true, keySeverity: true, keyPeriod: true, keyScoreThreshold: true, keySettings: true, keyDescription: true, keySummary: true}
	for _, name := range registeredNames() {
		info, _ := lookupInfo(name)
		for _, p := range info.Params {
			if reserved[p.Key] {
				t.Errorf("detector %s has a setting %q, a name the configuration uses for itself", name, p.Key)
			}
		}
	}
}
