// Package rules owns the Prometheus rules shipped with the exporter: the
// plain rule file (calico-anomaly.rules.yml, the single source) and the
// PrometheusRule manifest generated from it for the Prometheus Operator.
package rules

import (
	_ "embed"
	"fmt"
	"strings"
)

// File is the plain Prometheus rule file.
//
//go:embed calico-anomaly.rules.yml
var File string

// ManifestPath is where the generated PrometheusRule lives, relative to
// the repository root.
const ManifestPath = "deploy/base/prometheusrule.yaml"

// PrometheusRule renders File as a monitoring.coreos.com/v1 PrometheusRule
// named name: the rule file's groups become spec.groups, unchanged.
func PrometheusRule(name string) (string, error) {
	i := strings.Index(File, "\ngroups:\n")
	if i < 0 {
		return "", fmt.Errorf("rule file has no top-level groups: key")
	}
	var b strings.Builder
	b.WriteString("# Generated from rules/calico-anomaly.rules.yml by `make generate`; do not edit.\n")
	b.WriteString("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n")
	fmt.Fprintf(&b, "  name: %s\n", name)
	b.WriteString("  labels:\n    app.kubernetes.io/component: rules\nspec:\n")
	for _, line := range strings.SplitAfter(File[i+1:], "\n") {
		if strings.TrimSpace(line) == "" {
			b.WriteString(line)
			continue
		}
		b.WriteString("  " + line)
	}
	return b.String(), nil
}
