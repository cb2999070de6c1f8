package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/config"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// manifestEnv reads the plain env values of the first container of a
// Deployment or PodTemplate manifest under testdata/calico, as Kubernetes
// would set them (values from Secrets are left out: nothing here reads
// them).
func manifestEnv(t *testing.T, name string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "calico", name))
	if err != nil {
		t.Fatal(err)
	}
	var kind struct{ Kind string }
	if err := yaml.Unmarshal(data, &kind); err != nil {
		t.Fatal(err)
	}
	var containers []corev1.Container
	switch kind.Kind {
	case "Deployment":
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(data, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		containers = d.Spec.Template.Spec.Containers
	case "PodTemplate":
		var p corev1.PodTemplate
		if err := yaml.UnmarshalStrict(data, &p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		containers = p.Template.Spec.Containers
	default:
		t.Fatalf("%s: kind %q", name, kind.Kind)
	}
	env := map[string]string{}
	for _, e := range containers[0].Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

func resolveEnv(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	e, err := config.ReadEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("environment refused: %v", err)
	}
	c, err := config.Resolve(config.Sources{Env: e})
	if err != nil {
		t.Fatalf("configuration refused: %v", err)
	}
	return c
}

func allDetectors() []string {
	var out []string
	for _, info := range detect.Registered() {
		out = append(out, info.Name)
	}
	return out
}

func without(all []string, drop ...string) []string {
	var out []string
	for _, n := range all {
		if !slices.Contains(drop, n) {
			out = append(out, n)
		}
	}
	return out
}

func hasWarning(c *config.Config, parts ...string) bool {
	for _, w := range c.Warnings() {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(w, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// A workshop manifest whose disable list holds a misspelt name starts,
// warns about the name, and runs every job not listed, as Calico did.
func TestWorkshopManifestDisableListTypoIsAWarning(t *testing.T) {
	c := resolveEnv(t, manifestEnv(t, "ad-jobs-deployment-workshop.yaml"))
	want := without(allDetectors(), "bytes_in", "bytes_out", "process_bytes")
	if got := c.EnabledDetectors(); !slices.Equal(got, want) {
		t.Errorf("enabled = %v\nwant      %v", got, want)
	}
	if !hasWarning(c, "AD_DISABLED_JOBS", `"process_restart"`, "matches no detector") {
		t.Errorf("no warning naming process_restart: %q", c.Warnings())
	}
	if !strings.Contains(c.Text(), `"process_restart"`) {
		t.Errorf("/config does not show the warning:\n%s", c.Text())
	}
}

// An unknown name in a list of detectors to switch on stays an error.
func TestUnknownNameInEnableListIsAnError(t *testing.T) {
	_, err := config.ReadEnv(func(k string) string {
		return map[string]string{"AD_ENABLED_DETECTORS": "port_scan,process_restart"}[k]
	})
	if err == nil || !strings.Contains(err.Error(), `unknown detector "process_restart"`) {
		t.Errorf("err = %v", err)
	}
}

// A manifest without a disable list runs every job; with one, every job
// not listed; our own defaults apply only when no Calico job variable is
// set.
func TestCalicoJobsRunUnlessDisabled(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"documentation manifest, no disable list", manifestEnv(t, "ad-jobs-deployment-docs.yaml"), allDetectors()},
		{"Calico's documented manifest: no AD_* variable at all", manifestEnv(t, "ad-jobs-deployment-docs-3x.yaml"), allDetectors()},
		{"only AD_DISABLED_JOBS", map[string]string{"AD_DISABLED_JOBS": "port_scan"}, without(allDetectors(), "port_scan")},
		{"a tuning variable alone", map[string]string{"AD_port_scan_threshold": "200"}, allDetectors()},
		{"enable list wins, disable list applies to it", map[string]string{"AD_ENABLED_DETECTORS": "port_scan,dga", "AD_DISABLED_JOBS": "dga"}, []string{"port_scan"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolveEnv(t, tc.env).EnabledDetectors(); !slices.Equal(got, tc.want) {
				t.Errorf("enabled = %v\nwant      %v", got, tc.want)
			}
		})
	}
	var ours []string
	for _, info := range detect.Registered() {
		if info.DefaultEnabled {
			ours = append(ours, info.Name)
		}
	}
	if got := resolveEnv(t, map[string]string{"CLUSTER_NAME": "prod"}).EnabledDetectors(); !slices.Equal(got, ours) {
		t.Errorf("without Calico job variables: enabled = %v, want our defaults %v", got, ours)
	}
}

func loadAlerts(t *testing.T, name string) *config.GlobalAlerts {
	t.Helper()
	g, err := config.LoadGlobalAlerts(filepath.Join("testdata", "calico", name))
	if err != nil {
		t.Fatalf("%s refused: %v", name, err)
	}
	return g
}

// kubectl get globalalerttemplates,globalalerts -o yaml: the templates are
// skipped with a reason, the alerts read.
func TestKubectlListWithTemplates(t *testing.T) {
	g := loadAlerts(t, "operator-globalalerttemplates.yaml")
	var got []string
	for _, a := range g.Alerts {
		got = append(got, a.Detector)
	}
	if want := []string{"port_scan", "dga", "http_verbs"}; !slices.Equal(got, want) {
		t.Errorf("alerts = %v, want %v", got, want)
	}
	templates := 0
	for _, ig := range g.Ignored {
		if strings.Contains(ig.Reason, "GlobalAlertTemplate") {
			templates++
		}
	}
	if templates != 21 {
		t.Errorf("%d templates reported as skipped, want 21 (4 RuleBased, 17 AnomalyDetection): %+v", templates, g.Ignored)
	}
	c, err := config.Resolve(config.Sources{Alerts: g})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.EnabledDetectors(); !slices.Equal(got, []string{"dga", "http_verbs", "port_scan"}) {
		t.Errorf("enabled = %v", got)
	}
	if d := c.Detectors["http_verbs"]; d.Period != 30*time.Minute || d.Severity != 70 {
		t.Errorf("http_verbs: period %v severity %d", d.Period, d.Severity)
	}
}

// A GlobalAlert without a period runs every 15m, Calico's default; a
// period Calico accepts that is not a whole number of buckets takes the
// nearest whole number (at least one), said in /config and the warnings.
func TestGlobalAlertPeriods(t *testing.T) {
	g := loadAlerts(t, "globalalerts-periods.yaml")
	c, err := config.Resolve(config.Sources{Alerts: g})
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	want := map[string]time.Duration{
		"port_scan": 15 * time.Minute, "ip_sweep": 5 * time.Minute, "dga": 5 * time.Minute,
		"http_verbs": 5 * time.Minute, "dns_tunnel": 10 * time.Minute,
	}
	for name, p := range want {
		if got := c.Detectors[name].Period; got != p {
			t.Errorf("%s: period %v, want %v", name, got, p)
		}
	}
	if s, _ := c.Setting(config.DetectorSetting("port_scan", "period")); !strings.Contains(s.Origin, "default 15m") {
		t.Errorf("port_scan period origin %q", s.Origin)
	}
	for _, name := range []string{"ip_sweep", "dga", "http_verbs", "dns_tunnel"} {
		if !hasWarning(c, name, "period", "bucket") {
			t.Errorf("no warning about %s's period: %q", name, c.Warnings())
		}
	}
	if !strings.Contains(c.Text(), "2m30s") {
		t.Errorf("/config does not show the period as given:\n%s", c.Text())
	}
	_, err = config.ParseGlobalAlerts("short.yaml", []byte(strings.Replace(alertDoc("ip_sweep"), "period: 5m", "period: 30s", 1)))
	if err == nil || !strings.Contains(err.Error(), "at least 1m") {
		t.Errorf("a period under 1m (Calico refuses it): err = %v", err)
	}
}

func alertDoc(detector string) string {
	return "apiVersion: projectcalico.org/v3\nkind: GlobalAlert\nmetadata:\n  name: tigera.io.detector." +
		strings.ReplaceAll(detector, "_", "-") + "\nspec:\n  type: AnomalyDetection\n  detector:\n    name: " + detector + "\n  period: 5m\n"
}

// AD_search_interval_minutes that is not a whole number of buckets takes
// the nearest whole number, with a warning.
func TestSearchIntervalRoundedToBuckets(t *testing.T) {
	for _, tc := range []struct {
		minutes string
		want    time.Duration
	}{{"1", 5 * time.Minute}, {"7", 5 * time.Minute}, {"8", 10 * time.Minute}, {"30", 30 * time.Minute}} {
		c := resolveEnv(t, map[string]string{"AD_search_interval_minutes": tc.minutes})
		if c.SearchInterval != tc.want {
			t.Errorf("%s minutes: interval %v, want %v", tc.minutes, c.SearchInterval, tc.want)
		}
		warned := hasWarning(c, "AD_search_interval_minutes", "bucket")
		if warned != (tc.want != 30*time.Minute) {
			t.Errorf("%s minutes: warned %v; warnings %q", tc.minutes, warned, c.Warnings())
		}
	}
}

// Settings Calico documented, and those its controller sets on the pod,
// are read or accepted with a reason; none is reported as misspelt.
func TestCalicoDocumentedSettingsAreKnown(t *testing.T) {
	var environ []string
	for _, name := range []string{"ad-jobs-deployment-workshop.yaml", "ad-jobs-deployment-docs.yaml", "ad-jobs-detection-pod.yaml"} {
		env := manifestEnv(t, name)
		for k, v := range env {
			environ = append(environ, k+"="+v)
		}
		resolveEnv(t, env)
	}
	if unknown := config.UnknownEnv(environ); len(unknown) > 0 {
		t.Errorf("reported as misspelt: %v", unknown)
	}
	docs := resolveEnv(t, manifestEnv(t, "ad-jobs-deployment-docs.yaml"))
	for _, tc := range []struct{ setting, value string }{
		{config.DetectorSetting("bytes_in", "c"), "500"},
		{config.DetectorSetting("bytes_out", "c"), "400"},
	} {
		if s, _ := docs.Setting(tc.setting); s.Value != tc.value || !strings.HasPrefix(s.Origin, "env AD_Bytes") {
			t.Errorf("%s = %q (%s), want %s from AD_Bytes*Model_SeasonalAD_c", tc.setting, s.Value, s.Origin, tc.value)
		}
	}
	for _, name := range []string{"AD_DGA_ALERTS_PER_DAY", "AD_HttpConnectionSpike_IsolationForest_n_estimators"} {
		if !hasWarning(docs, name, "no effect") {
			t.Errorf("no note that %s has no effect: %q", name, docs.Warnings())
		}
	}
	pod := resolveEnv(t, manifestEnv(t, "ad-jobs-detection-pod.yaml"))
	if pod.Elasticsearch.Tenant != "acme" {
		t.Errorf("TENANT_ID: tenant %q", pod.Elasticsearch.Tenant)
	}
	if got := pod.EnabledDetectors(); !slices.Equal(got, []string{"port_scan"}) {
		t.Errorf("controller pod: enabled %v", got)
	}
	if pod.Detectors["port_scan"].Period != 15*time.Minute {
		t.Errorf("AD_detect_default_query_time_duration: port_scan period %v", pod.Detectors["port_scan"].Period)
	}
}

// AD_ProcessRestarts_threshold defaults to 4, as Calico documented.
func TestProcessRestartsThresholdDefault(t *testing.T) {
	c := resolveEnv(t, nil)
	if s, _ := c.Setting(config.DetectorSetting("process_restarts", "threshold")); s.Value != "4" {
		t.Errorf("process_restarts threshold default %q, want 4", s.Value)
	}
}

// Every _SENSITIVITY takes Calico's one documented range, 0 to 100.
func TestSensitivityRangeIsTheSameForAll(t *testing.T) {
	for _, info := range detect.Registered() {
		for _, p := range info.Params {
			if !strings.HasSuffix(p.Env, "_SENSITIVITY") {
				continue
			}
			for _, tc := range []struct {
				value string
				ok    bool
			}{{"0", true}, {"100", true}, {"55.5", true}, {"150", false}, {"-1", false}} {
				_, err := config.ReadEnv(func(k string) string {
					if k == p.Env {
						return tc.value
					}
					return ""
				})
				if (err == nil) != tc.ok {
					t.Errorf("%s=%s: err = %v, want accepted %v", p.Env, tc.value, err, tc.ok)
				} else if err != nil && !strings.Contains(err.Error(), "0 to 100") {
					t.Errorf("%s=%s: error does not give the range: %v", p.Env, tc.value, err)
				}
			}
		}
	}
}

// TENANT_ID, which Calico's controller sets whatever the index layout, is
// not refused in the single index layout: it has no effect there, said in
// a warning.
func TestTenantIDWithTheSingleLayout(t *testing.T) {
	e, err := config.ReadEnv(func(k string) string { return map[string]string{"TENANT_ID": "acme"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Resolve(config.Sources{Env: e, Flags: map[string]string{"es.index-layout": "single"}})
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if c.Elasticsearch.Tenant != "" || !hasWarning(c, "TENANT_ID", "no effect", "single") {
		t.Errorf("tenant %q, warnings %q", c.Elasticsearch.Tenant, c.Warnings())
	}
}

// A GlobalAlertTemplateList, as the API server answers for templates, is
// read and its templates skipped.
func TestGlobalAlertTemplateListIsSkipped(t *testing.T) {
	g, err := config.ParseGlobalAlerts("t.yaml", []byte(`apiVersion: projectcalico.org/v3
kind: GlobalAlertTemplateList
items:
- apiVersion: projectcalico.org/v3
  kind: GlobalAlertTemplate
  metadata: {name: tigera.io.detector.dga}
  spec: {type: AnomalyDetection, detector: {name: dga}, period: 15m, severity: 100}
`))
	if err != nil || len(g.Alerts) != 0 || len(g.Ignored) != 1 || g.Ignored[0].Name != "tigera.io.detector.dga" {
		t.Errorf("%+v, %v", g, err)
	}
}
