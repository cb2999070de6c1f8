// Package dashboards owns the Grafana dashboards shipped with the exporter
// (overview, one per detector family, a workload drill-down), embedded so
// tests and tools can read them, and the ConfigMap that provisions them.
//
// A family dashboard's detector lists (detector=~"a|b|...") are generated
// from the detector registry (WithFamilyLists, `make generate`), so a new
// detector appears on its family's dashboard without editing it.
package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// Files holds every dashboard JSON file.
//
//go:embed *.json
var Files embed.FS

// Query is one PromQL query of a dashboard: a panel target, a template
// variable's query or an annotation.
type Query struct {
	Dashboard string // file name
	Where     string // "panel <title>", "variable <name>" or "annotation <name>"
	Expr      string // as written, with Grafana variables
	// Family is the detector regexp a family dashboard restricts its
	// queries to, "" when the dashboard covers every detector.
	Family string
}

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name string `json:"name"`
			Expr string `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// FamilyDashboards names the dashboard of each detector family; the
// detectors of both families appear on both.
var FamilyDashboards = map[string]detect.Family{
	"security.json":    detect.Security,
	"performance.json": detect.Performance,
}

// FamilyList is the regular expression of the registry's detectors of
// family f (those of both families included), sorted by name, as a family
// dashboard restricts its queries to.
func FamilyList(f detect.Family) string {
	var names []string
	for _, info := range detect.Registered() {
		if info.Family.Includes(f) {
			names = append(names, info.Name)
		}
	}
	return strings.Join(names, "|")
}

// detectorList is a literal list of detectors in a query as the dashboard
// JSON spells it (detector=~\"a|b\"); a Grafana variable ($detector) is
// not one.
var detectorList = regexp.MustCompile(`detector=~\\"([a-z0-9_|]+)\\"`)

// WithFamilyLists returns the dashboard file name (its JSON raw) with
// every literal detector list replaced by its family's list from the
// registry; a dashboard of no family is returned as it is.
func WithFamilyLists(name string, raw []byte) []byte {
	f, ok := FamilyDashboards[name]
	if !ok {
		return raw
	}
	return detectorList.ReplaceAllLiteral(raw, []byte(`detector=~\"`+FamilyList(f)+`\"`))
}

// Names lists the embedded dashboard files, sorted.
func Names() []string {
	names, _ := fs.Glob(Files, "*.json")
	sort.Strings(names)
	return names
}

// Queries reads every query of every embedded dashboard.
func Queries() ([]Query, error) {
	var out []Query
	for _, name := range Names() {
		raw, err := Files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var d dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		family := ""
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			var q struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				return nil, fmt.Errorf("%s: variable %s: %w", name, v.Name, err)
			}
			if v.Name == "detector" {
				if i := strings.Index(q.Query, `detector=~"`); i >= 0 {
					family = strings.SplitN(q.Query[i+len(`detector=~"`):], `"`, 2)[0]
				}
			}
			out = append(out, Query{Dashboard: name, Where: "variable " + v.Name, Expr: labelValuesSelector(q.Query)})
		}
		for _, a := range d.Annotations.List {
			out = append(out, Query{Dashboard: name, Where: "annotation " + a.Name, Expr: a.Expr})
		}
		for _, p := range d.Panels {
			for _, t := range p.Targets {
				out = append(out, Query{Dashboard: name, Where: "panel " + p.Title, Expr: t.Expr})
			}
		}
		for i := range out {
			if out[i].Dashboard == name {
				out[i].Family = family
			}
		}
	}
	return out, nil
}

// Expand replaces Grafana's variables in expr as Grafana would with every
// variable set to "All" and the given range and rate interval.
func Expand(expr, rangeDur, rateInterval string) string {
	r := strings.NewReplacer(
		"$__range", rangeDur, "$__rate_interval", rateInterval, "$__interval", rateInterval,
		"${datasource}", "prometheus",
		"$cluster", ".*", "$namespace", ".*", "$workload", ".*", "$detector", ".*",
	)
	return r.Replace(expr)
}

// labelValuesSelector is the series selector of a Grafana
// label_values(selector, label) variable query.
func labelValuesSelector(q string) string {
	inner, ok := strings.CutPrefix(strings.TrimSpace(q), "label_values(")
	if !ok {
		return q
	}
	inner = strings.TrimSuffix(inner, ")")
	if i := strings.LastIndex(inner, ","); i >= 0 {
		return strings.TrimSpace(inner[:i])
	}
	return inner
}

// ConfigMapPath is where the generated dashboards ConfigMap lives,
// relative to the repository root.
const ConfigMapPath = "deploy/base/grafana-dashboards.yaml"

// ConfigMap renders every dashboard, its detector lists the registry's
// (WithFamilyLists), into one Kubernetes ConfigMap labelled for Grafana's
// dashboard sidecar (grafana_dashboard: "1"), keyed by file name.
func ConfigMap(name string) (string, error) {
	var b strings.Builder
	b.WriteString("# Generated from dashboards/*.json by `make generate`; do not edit.\n")
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n")
	fmt.Fprintf(&b, "  name: %s\n", name)
	b.WriteString("  labels:\n    grafana_dashboard: \"1\"\n  annotations:\n    grafana_folder: Calico anomaly detection\ndata:\n")
	for _, n := range Names() {
		raw, err := Files.ReadFile(n)
		if err != nil {
			return "", err
		}
		raw = WithFamilyLists(n, raw)
		if !json.Valid(raw) {
			return "", fmt.Errorf("%s is not valid JSON", n)
		}
		fmt.Fprintf(&b, "  %s: |\n", n)
		for _, line := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
			if line == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String(), nil
}
