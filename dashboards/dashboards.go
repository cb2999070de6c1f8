// Package dashboards owns the Grafana dashboards shipped with the exporter
// (overview, one per detector family, a workload drill-down), embedded so
// tests and tools can read them, and the ConfigMap that provisions them.
//
// A family dashboard's detector lists (detector=~"a|b|...") and the units
// of the workload dashboard's observed and expected series are generated
// from the detector registry (Generated, `make generate`), so a new
// detector appears on its family's dashboard, in its unit, without
// editing them.
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

// unitsDashboard is the dashboard whose observed-against-expected panel
// gives each detector's series its unit, from the registry
// (WithDetectorUnits).
const unitsDashboard = "workload.json"

// unitOverride is the text of the first unit override of the
// observed-against-expected panel, and frameOverride that of the override
// after the generated ones.
const (
	unitOverride  = "          {\n            \"matcher\": {\n              \"id\": \"byRegexp\","
	frameOverride = "          {\n            \"matcher\": {\n              \"id\": \"byFrameRefID\","
)

// grafanaUnit is Grafana's unit for a detector's unit: its own for the
// units it scales, a suffix for counts of things.
func grafanaUnit(u string) string {
	switch u {
	case detect.UnitBytes, detect.UnitNanoseconds, detect.UnitMicroseconds, detect.UnitMilliseconds:
		return u
	}
	return "suffix: " + u
}

// unitOverrides is the text of one Grafana field override per unit of
// the registry's detectors, matching the series (legend "observed
// <detector> <workload>") of the detectors of that unit.
func unitOverrides() string {
	var units []string
	byUnit := map[string][]string{}
	for _, info := range detect.Registered() {
		if info.Unit == "" {
			continue
		}
		if byUnit[info.Unit] == nil {
			units = append(units, info.Unit)
		}
		byUnit[info.Unit] = append(byUnit[info.Unit], info.Name)
	}
	var b strings.Builder
	for _, u := range units {
		fmt.Fprintf(&b, `          {
            "matcher": {
              "id": "byRegexp",
              "options": ".* (%s) .*"
            },
            "properties": [
              {
                "id": "unit",
                "value": %q
              }
            ]
          },
`, strings.Join(byUnit[u], "|"), grafanaUnit(u))
	}
	return b.String()
}

// WithDetectorUnits returns the dashboard file name (its JSON raw) with
// the unit overrides of its observed-against-expected panel those of the
// registry's detectors; other dashboards, and one whose overrides are not
// where they are expected, are returned as they are.
func WithDetectorUnits(name string, raw []byte) []byte {
	if name != unitsDashboard {
		return raw
	}
	s := string(raw)
	i, j, ok := unitOverridesAt(s)
	if !ok {
		return raw
	}
	return []byte(s[:i] + unitOverrides() + s[j:])
}

// unitOverridesAt finds the unit overrides in the text of the units
// dashboard: from the first to the override that follows them.
func unitOverridesAt(s string) (from, to int, ok bool) {
	from = strings.Index(s, unitOverride)
	if from < 0 {
		return 0, 0, false
	}
	to = strings.Index(s[from:], frameOverride)
	return from, from + to, to > 0
}

// Generated returns the dashboard file name (its JSON raw) with
// everything generated from the detector registry rewritten: the family
// lists (WithFamilyLists) and the units (WithDetectorUnits).
func Generated(name string, raw []byte) []byte {
	return WithDetectorUnits(name, WithFamilyLists(name, raw))
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

// ConfigMap renders every dashboard, what it shows of detectors the
// registry's (Generated), into one Kubernetes ConfigMap labelled for Grafana's
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
		raw = Generated(n, raw)
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
