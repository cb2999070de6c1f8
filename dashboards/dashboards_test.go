package dashboards

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/incident"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/rules"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// known lists the series the queries may name: the exporter's metrics
// (from the collector's golden output), those of the alert notifier, the
// recording rules, and ALERTS.
func known(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{"ALERTS": true, "calico_anomaly_alertmanager_up": true}
	f, err := os.Open("../collector/testdata/one_window.prom")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 2 && fields[1] == "TYPE" {
			names[fields[2]] = true
		}
	}
	// The incident tracker's series (open incidents), exported beside
	// the collector's.
	tr, err := incident.New(incident.Config{})
	if err != nil {
		t.Fatal(err)
	}
	w := source.Window{Start: time.Unix(0, 0), End: time.Unix(300, 0)}
	tr.Deliver(context.Background(), w, []detect.Verdict{{Detector: "port_scan", Window: w, Score: 1, Threshold: 0.5}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(tr)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Record string `json:"record"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal([]byte(rules.File), &file); err != nil {
		t.Fatal(err)
	}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				names[r.Record] = true
			}
		}
	}
	return names
}

// MetricNames parses expr with the Prometheus parser and lists the series
// names its selectors use.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs.Name)
		}
		return nil
	})
	return out, nil
}

func TestEveryQueryParsesAndNamesKnownSeries(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 30 {
		t.Fatalf("%d queries, want the four dashboards' worth", len(qs))
	}
	names := known(t)
	for _, q := range qs {
		used, err := metricNames(Expand(q.Expr, "1h", "1m"))
		if err != nil {
			t.Errorf("%s %s: %q does not parse: %v", q.Dashboard, q.Where, q.Expr, err)
			continue
		}
		if len(used) == 0 {
			t.Errorf("%s %s: %q names no series", q.Dashboard, q.Where, q.Expr)
		}
		for _, n := range used {
			if !names[n] {
				t.Errorf("%s %s: %q names %s, which neither the exporter nor the rules produce", q.Dashboard, q.Where, q.Expr, n)
			}
		}
	}
}

func TestTheParserRefusesWhatGrafanaWouldNotRun(t *testing.T) {
	for _, bad := range []string{`sum(calico_anomaly_score`, `calico_anomaly_score{detector=~"$detector"}[`, `rate(calico_anomaly_detections_total)`} {
		if _, err := metricNames(Expand(bad, "1h", "1m")); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestDashboardsHaveTheirVariablesAndPanels(t *testing.T) {
	want := map[string]bool{"overview.json": true, "security.json": true, "performance.json": true, "workload.json": true}
	uids := map[string]string{}
	for _, name := range Names() {
		delete(want, name)
		raw, _ := Files.ReadFile(name)
		var d dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Errorf("%s: missing uid, title or panels", name)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %s", name, other, d.UID)
		}
		uids[d.UID] = name
		vars := map[string]string{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v.Type
		}
		for _, v := range []string{"datasource", "cluster", "namespace", "workload", "detector"} {
			if vars[v] == "" {
				t.Errorf("%s: no %s variable", name, v)
			}
		}
		if vars["datasource"] != "datasource" {
			t.Errorf("%s: the datasource variable is a %q", name, vars["datasource"])
		}
		for _, p := range d.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", name, p.Title)
			}
		}
	}
	for name := range want {
		t.Errorf("dashboard %s missing", name)
	}
}

var update = flag.Bool("update", false, "rewrite the dashboards' detector lists and units from the registry and deploy/base/grafana-dashboards.yaml from the dashboards")

// TestDetectorUnitsAreGeneratedFromTheRegistry keeps the units of the
// workload dashboard's observed and expected series the registry's: each
// detector with a unit has its series shown in it, and a detector the
// registry does not know is named by no override.
func TestDetectorUnitsAreGeneratedFromTheRegistry(t *testing.T) {
	raw, err := os.ReadFile(unitsDashboard)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := unitOverridesAt(string(raw)); !ok {
		t.Fatalf("%s has no unit overrides where they are generated", unitsDashboard)
	}
	want := WithDetectorUnits(unitsDashboard, raw)
	if *update && string(want) != string(raw) {
		if err := os.WriteFile(unitsDashboard, want, 0o644); err != nil {
			t.Fatal(err)
		}
		raw = want
	}
	if string(want) != string(raw) {
		t.Errorf("%s's unit overrides are not the registry's units: run `make generate`", unitsDashboard)
	}
	var d struct {
		Panels []struct {
			Title       string `json:"title"`
			FieldConfig struct {
				Overrides []struct {
					Matcher struct {
						ID      string `json:"id"`
						Options string `json:"options"`
					} `json:"matcher"`
					Properties []struct {
						ID    string `json:"id"`
						Value any    `json:"value"`
					} `json:"properties"`
				} `json:"overrides"`
			} `json:"fieldConfig"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	unitOf := map[string]string{}
	for _, p := range d.Panels {
		for _, o := range p.FieldConfig.Overrides {
			if o.Matcher.ID != "byRegexp" {
				continue
			}
			for _, name := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(o.Matcher.Options, ".* ("), ") .*"), "|") {
				if _, ok := detect.Lookup(name); !ok {
					t.Errorf("%s %q: a unit for %s, which the registry does not know", unitsDashboard, p.Title, name)
				}
				for _, prop := range o.Properties {
					if prop.ID == "unit" {
						unitOf[name] = fmt.Sprint(prop.Value)
					}
				}
			}
		}
	}
	for _, info := range detect.Registered() {
		if info.Unit != "" && unitOf[info.Name] != grafanaUnit(info.Unit) {
			t.Errorf("%s: the dashboard shows its series in %q, the registry's unit is %q", info.Name, unitOf[info.Name], info.Unit)
		}
	}
	if unitOf["dns_latency"] != "ns" || unitOf["port_scan"] != "suffix: ports" {
		t.Errorf("dns_latency in %q, port_scan in %q", unitOf["dns_latency"], unitOf["port_scan"])
	}
}

// TestFamilyListsAreGeneratedFromTheRegistry keeps every literal detector
// list of the family dashboards (the detector variable and each panel's
// restriction) the registry's list of that family: a detector added to
// the registry, or moved to another family, fails here until `make
// generate` rewrites the dashboards.
func TestFamilyListsAreGeneratedFromTheRegistry(t *testing.T) {
	for name, family := range FamilyDashboards {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		want := WithFamilyLists(name, raw)
		if *update && string(want) != string(raw) {
			if err := os.WriteFile(name, want, 0o644); err != nil {
				t.Fatal(err)
			}
			raw = want
		}
		lists := detectorList.FindAllSubmatch(raw, -1)
		if len(lists) < 5 {
			t.Errorf("%s: %d detector lists, want the variable's and its panels'", name, len(lists))
		}
		for _, l := range lists {
			if got := string(l[1]); got != FamilyList(family) {
				t.Errorf("%s lists %s, the registry's %s family is %s: run `make generate`", name, got, family, FamilyList(family))
				break
			}
		}
	}
	// The lists name each registered detector on its families' dashboards.
	for _, info := range detect.Registered() {
		for _, f := range []detect.Family{detect.Security, detect.Performance} {
			in := strings.Contains("|"+FamilyList(f)+"|", "|"+info.Name+"|")
			if in != info.Family.Includes(f) {
				t.Errorf("%s (family %s) on the %s dashboard: %v", info.Name, info.Family, f, in)
			}
		}
	}
}

func TestConfigMapIsGeneratedFromTheDashboards(t *testing.T) {
	got, err := ConfigMap("calico-anomaly-dashboards")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", ConfigMapPath)
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
		t.Fatalf("%s is out of date with dashboards/*.json: run `make generate`", ConfigMapPath)
	}
	var cm struct {
		Kind string            `json:"kind"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(committed, &cm); err != nil {
		t.Fatal(err)
	}
	for _, n := range Names() {
		raw, _ := Files.ReadFile(n)
		raw = Generated(n, raw)
		if strings.TrimSpace(cm.Data[n]) != strings.TrimSpace(string(raw)) {
			t.Errorf("the ConfigMap's %s is not the dashboard", n)
		}
	}
}

// TestPanelsCarryUnitsThresholdsAndLinks: every panel says its unit, the
// score panels colour at the threshold (score / threshold = 1), the top
// anomalies link to the drill-down and to the incident, a bare 0/1 reads
// as up or down, and every dashboard annotates incidents.
func TestPanelsCarryUnitsThresholdsAndLinks(t *testing.T) {
	type step struct {
		Value *float64 `json:"value"`
	}
	type panel struct {
		Title       string `json:"title"`
		Type        string `json:"type"`
		FieldConfig struct {
			Defaults struct {
				Unit       string `json:"unit"`
				Thresholds struct {
					Steps []step `json:"steps"`
				} `json:"thresholds"`
				Mappings []json.RawMessage `json:"mappings"`
				Links    []struct {
					URL string `json:"url"`
				} `json:"links"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
	}
	for _, name := range Names() {
		raw, _ := Files.ReadFile(name)
		var d struct {
			Panels      []panel `json:"panels"`
			Annotations struct {
				List []struct {
					Name string `json:"name"`
					Expr string `json:"expr"`
				} `json:"list"`
			} `json:"annotations"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		annotated := false
		for _, a := range d.Annotations.List {
			annotated = annotated || strings.Contains(a.Expr, "calico_anomaly_incident_open")
		}
		if !annotated {
			t.Errorf("%s: no incident annotation", name)
		}
		for _, p := range d.Panels {
			def := p.FieldConfig.Defaults
			if def.Unit == "" {
				t.Errorf("%s %q: no unit", name, p.Title)
			}
			if strings.Contains(p.Title, "score") || strings.Contains(p.Title, "scores") || strings.Contains(p.Title, "anomalies") {
				atOne := false
				for _, s := range def.Thresholds.Steps {
					atOne = atOne || (s.Value != nil && *s.Value == 1)
				}
				if !atOne && p.Title != "Score against threshold" {
					t.Errorf("%s %q: no threshold step at score/threshold = 1", name, p.Title)
				}
			}
			if strings.HasPrefix(p.Title, "Top anomalies") {
				var urls []string
				for _, l := range def.Links {
					urls = append(urls, l.URL)
				}
				all := strings.Join(urls, " ")
				if !strings.Contains(all, "/d/calico-anomaly-workload?") || !strings.Contains(all, "${exporter}/incident?") {
					t.Errorf("%s %q: data links %v, want the drill-down and the incident", name, p.Title, urls)
				}
			}
			if p.Title == "Elasticsearch up" && len(def.Mappings) == 0 {
				t.Errorf("%s %q: a bare 0/1 without value mappings", name, p.Title)
			}
		}
	}
}
