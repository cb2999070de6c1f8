package incident

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

var t0 = time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC)

func win(i int) source.Window {
	return source.Window{Start: t0.Add(time.Duration(i) * 5 * time.Minute), End: t0.Add(time.Duration(i+1) * 5 * time.Minute)}
}

func entity(cluster, workload string) detect.Entity {
	return detect.Entity{Cluster: cluster, Namespace: "shop", Workload: workload, Type: "wep"}
}

func verdict(det string, e detect.Entity, i int, score float64) detect.Verdict {
	return detect.Verdict{Detector: det, Entity: e, Window: win(i), Score: score, Threshold: 0.5}
}

var (
	frontend = entity("c1", "frontend-*")
	cart     = entity("c1", "cart-*")
)

func TestIncidentsFollowConsecutiveAnomalousWindows(t *testing.T) {
	policy := notify.Policy{Severity: 30, DetectorSeverity: map[string]int{"port_scan": 80}}
	tr, err := New(Config{Policy: func() notify.Policy { return policy }})
	if err != nil {
		t.Fatal(err)
	}
	windows := [][]detect.Verdict{
		{verdict("generic_flows", frontend, 0, 0.6), verdict("port_scan", frontend, 0, 0.1), verdict("generic_flows", cart, 0, 0.2)},
		{verdict("generic_flows", frontend, 1, 0.7), verdict("port_scan", frontend, 1, 0.9), verdict("multivariable_flow", frontend, 1, 0.55)},
		{verdict("port_scan", frontend, 2, 0.8), verdict("generic_flows", cart, 2, 0.1)},
		{verdict("port_scan", frontend, 3, 0.1), verdict("generic_flows", cart, 3, 0.65)},
		{verdict("port_scan", frontend, 4, 0.95)},
	}
	for i, vs := range windows {
		tr.Deliver(context.Background(), win(i), vs)
	}
	open, resolved := tr.List()
	if len(resolved) != 2 || resolved[0].Entity != cart || resolved[1].Entity != frontend {
		t.Fatalf("resolved incidents %+v, want cart's (the newest end) then frontend's first", resolved)
	}
	first := resolved[1]
	want := struct {
		start, last, end time.Time
		windows          int
		peak             float64
		peakDet          string
		severity         int
		detectors        []string
	}{win(0).Start, win(2).End, win(3).End, 3, 0.9, "port_scan", 80, []string{"generic_flows", "port_scan", "multivariable_flow"}}
	if first.Entity != frontend || !first.Start.Equal(want.start) || !first.LastSeen.Equal(want.last) || !first.End.Equal(want.end) ||
		first.Windows != want.windows || first.Peak != want.peak || first.PeakDetector != want.peakDet || first.Severity != want.severity ||
		!reflect.DeepEqual(first.Detectors, want.detectors) {
		t.Errorf("first incident %+v, want %+v", first, want)
	}
	if first.ID != ID(frontend, win(0).Start) {
		t.Errorf("id %s is not derived from the entity and first window", first.ID)
	}
	if len(open) != 1 || open[0].Entity != frontend || !open[0].Start.Equal(win(4).Start) || open[0].ID == first.ID {
		t.Fatalf("open incidents %+v, want frontend's second one only (cart's resolved when its window had no alert)", open)
	}
	// cart: anomalous in window 3 only, resolved by window 4 (it had no
	// verdict at all there).
	if _, ok := tr.OpenFor(cart); ok {
		t.Errorf("cart's incident is still open")
	}
}

func TestOnlyAlertingVerdictsMakeIncidents(t *testing.T) {
	expected := func(det string, e detect.Entity, _ time.Time) bool { return e == cart }
	policy := notify.Policy{MinScore: 0.6, Expected: expected}
	tr, _ := New(Config{Policy: func() notify.Policy { return policy }})
	tr.Deliver(context.Background(), win(0), []detect.Verdict{
		verdict("generic_flows", frontend, 0, 0.55), // above its threshold, below the minimum score
		verdict("generic_flows", cart, 0, 0.9),      // marked expected
	})
	if open, _ := tr.List(); len(open) != 0 {
		t.Errorf("incidents %+v opened from verdicts that do not alert", open)
	}
}

func TestRankingBySeverityThenPeak(t *testing.T) {
	policy := notify.Policy{Severity: 30, DetectorSeverity: map[string]int{"dga": 90}}
	tr, _ := New(Config{Policy: func() notify.Policy { return policy }})
	a, b, c := entity("c1", "a-*"), entity("c1", "b-*"), entity("c1", "c-*")
	tr.Deliver(context.Background(), win(0), []detect.Verdict{
		verdict("generic_flows", a, 0, 0.99), verdict("dga", b, 0, 0.6), verdict("generic_flows", c, 0, 0.7)})
	open, _ := tr.List()
	var got []string
	for _, in := range open {
		got = append(got, in.Entity.Workload)
	}
	if want := []string{"b-*", "a-*", "c-*"}; !reflect.DeepEqual(got, want) {
		t.Errorf("open incidents ranked %v, want %v (severity first, then peak)", got, want)
	}
}

func TestOneClustersWindowLeavesAnothersIncidentsOpen(t *testing.T) {
	tr, _ := New(Config{})
	other := entity("c2", "frontend-*")
	tr.Deliver(context.Background(), win(0), []detect.Verdict{verdict("port_scan", frontend, 0, 0.9), verdict("port_scan", other, 0, 0.9)})
	tr.Deliver(context.Background(), win(1), []detect.Verdict{verdict("port_scan", frontend, 1, 0.1)})
	if _, ok := tr.OpenFor(other); !ok {
		t.Errorf("cluster c1's window resolved cluster c2's incident")
	}
	if _, ok := tr.OpenFor(frontend); ok {
		t.Errorf("frontend's incident is open after a normal window")
	}
}

func TestIncidentsSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "incidents.json")
	tr, err := New(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	tr.Deliver(context.Background(), win(0), []detect.Verdict{verdict("port_scan", frontend, 0, 0.9)})
	if err := tr.SaveError(); err != nil {
		t.Fatal(err)
	}
	before, _ := tr.OpenFor(frontend)

	again, err := New(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	after, ok := again.OpenFor(frontend)
	if !ok || after.ID != before.ID || !after.Start.Equal(before.Start) {
		t.Fatalf("after a restart: %+v, %v; want the open incident %s", after, ok, before.ID)
	}
	again.Deliver(context.Background(), win(1), []detect.Verdict{verdict("ip_sweep", frontend, 1, 0.7)})
	cont, _ := again.OpenFor(frontend)
	if cont.ID != before.ID || cont.Windows != 2 || !reflect.DeepEqual(cont.Detectors, []string{"port_scan", "ip_sweep"}) {
		t.Errorf("the incident did not continue after the restart: %+v", cont)
	}
}

func TestABrokenIncidentsFileIsRefusedByName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "incidents.json")
	for _, body := range []string{`{"version":1,"incidents":[`, `{"version":99,"incidents":[]}`} {
		if err := writeFile(path, body); err != nil {
			t.Fatal(err)
		}
		if _, err := New(Config{Path: path}); err == nil || !contains(err.Error(), path) {
			t.Errorf("file %q: error %v, want one naming %s", body, err, path)
		}
	}
}

func TestResolvedIncidentsAreKeptForADay(t *testing.T) {
	tr, _ := New(Config{Keep: time.Hour})
	tr.Deliver(context.Background(), win(0), []detect.Verdict{verdict("port_scan", frontend, 0, 0.9)})
	tr.Deliver(context.Background(), win(1), []detect.Verdict{verdict("port_scan", frontend, 1, 0.1)})
	if _, resolved := tr.List(); len(resolved) != 1 {
		t.Fatalf("resolved: %d, want 1", len(resolved))
	}
	tr.Deliver(context.Background(), win(20), []detect.Verdict{verdict("port_scan", frontend, 20, 0.1)})
	if _, resolved := tr.List(); len(resolved) != 0 {
		t.Errorf("an incident resolved over an hour ago is still kept")
	}
}

func TestOpenIncidentsAreExported(t *testing.T) {
	tr, _ := New(Config{Policy: func() notify.Policy { return notify.Policy{Severity: 80} }})
	tr.Deliver(context.Background(), win(0), []detect.Verdict{verdict("port_scan", frontend, 0, 0.9), verdict("port_scan", cart, 0, 0.9)})
	tr.Deliver(context.Background(), win(1), []detect.Verdict{verdict("port_scan", frontend, 1, 0.9)})
	id := ID(frontend, win(0).Start)
	want := `
# HELP calico_anomaly_incident_open 1 for each open incident, labelled with its id and workload; Grafana annotates incidents from it. The most severe 1000 are exported.
# TYPE calico_anomaly_incident_open gauge
calico_anomaly_incident_open{cluster="c1",incident="` + id + `",namespace="shop",severity="critical",type="wep",workload="frontend-*"} 1
`
	if err := testutil.CollectAndCompare(tr, strings.NewReader(want), "calico_anomaly_incident_open"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(tr); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
