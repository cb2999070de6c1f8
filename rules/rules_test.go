package rules

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

var update = flag.Bool("update", false, "rewrite deploy/base/prometheusrule.yaml from the rule file")

// strict decodes a YAML document into v, refusing fields v does not have.
func strict(t *testing.T, doc []byte, v any) {
	t.Helper()
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
}

func TestPrometheusRuleIsGeneratedFromTheRuleFile(t *testing.T) {
	got, err := PrometheusRule("calico-anomaly-exporter")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", ManifestPath)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != got {
		t.Fatalf("%s is out of date with rules/calico-anomaly.rules.yml: run `make generate`", ManifestPath)
	}

	var pr monitoringv1.PrometheusRule
	strict(t, committed, &pr)
	if pr.Kind != "PrometheusRule" || pr.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("kind %s/%s", pr.APIVersion, pr.Kind)
	}
	var plain struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}
	strict(t, []byte(File), &plain)
	if len(plain.Groups) == 0 || !reflect.DeepEqual(plain.Groups, pr.Spec.Groups) {
		t.Errorf("the manifest's groups differ from the rule file's")
	}
	rb, err := os.ReadFile(filepath.Join("..", "docs", "runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	runbook := string(rb)
	alerts := 0
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			for _, k := range []string{"severity", "source"} {
				if r.Labels[k] == "" {
					t.Errorf("alert %s has no %s label to route on", r.Alert, k)
				}
			}
			if want := "docs/runbook.md#" + strings.ToLower(r.Alert); !strings.HasSuffix(r.Annotations["runbook_url"], want) {
				t.Errorf("alert %s: runbook_url %q, want one ending in %s", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !strings.Contains(runbook, "\n## "+r.Alert+"\n") {
				t.Errorf("alert %s has no section in docs/runbook.md", r.Alert)
			}
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[k] == "" {
					t.Errorf("alert %s has no %s annotation", r.Alert, k)
				}
			}
		}
	}
	if alerts < 8 {
		t.Errorf("%d alerts, want the full set", alerts)
	}
}

// performanceExpression is the registry's performance family (detectors
// of both families alert as security ones) as the anchored regular
// expression the rules match a detector against.
func performanceExpression() string {
	var names []string
	for _, info := range detect.Registered() {
		if info.Family == detect.Performance {
			names = append(names, regexp.QuoteMeta(info.Name))
		}
	}
	return "^(" + strings.Join(names, "|") + ")$"
}

// TestSeverityIsGeneratedFromTheRegistrysFamilies keeps the rules' regular
// expression of performance detectors (which set a lower severity) equal
// to the registry's performance family: `make generate` (this test with
// -update) rewrites it, so a new detector lands on the right side without
// anyone editing the rules by hand.
func TestSeverityIsGeneratedFromTheRegistrysFamilies(t *testing.T) {
	re := regexp.MustCompile(`(match ")([^"]+)(" \$labels\.detector)`)
	found := re.FindAllStringSubmatch(File, -1)
	if len(found) < 2 {
		t.Fatalf("the rules set no severity by family (%d matches)", len(found))
	}
	want := performanceExpression()
	if *update {
		rewritten := re.ReplaceAllString(File, "${1}"+strings.ReplaceAll(want, "$", "$$")+"${3}")
		if rewritten != File {
			if err := os.WriteFile("calico-anomaly.rules.yml", []byte(rewritten), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Log("rewrote calico-anomaly.rules.yml; run `make generate` again to render the PrometheusRule from it")
		}
		return
	}
	for _, m := range found {
		if m[2] != want {
			t.Errorf("the rules' performance expression is %q, the registry's performance family is %q: run `make generate`", m[2], want)
		}
		perf := regexp.MustCompile(m[2])
		for _, info := range detect.Registered() {
			if got, want := perf.MatchString(info.Name), info.Family == detect.Performance; got != want {
				t.Errorf("%s (family %s): the rules' performance expression %q matches it: %v", info.Name, info.Family, m[2], got)
			}
		}
	}
}
