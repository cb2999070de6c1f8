package alertmanager

import (
	"context"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/incident"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestOneAlertPerIncident: a port scan that three detectors flag over two
// windows is one alert, labelled with the incident's id and the labels it
// opened with, resolved when the incident ends.
func TestOneAlertPerIncident(t *testing.T) {
	am := newFakeAM(t)
	t0 := time.Date(2026, 3, 2, 9, 17, 0, 0, time.UTC)
	clk := &clock{now: t0}
	policy := notify.Policy{Severity: 40}
	tracker, err := incident.New(incident.Config{Policy: func() notify.Policy { return policy }})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := run(t, Config{URLs: []string{am.srv.URL}, ResendInterval: time.Hour, Now: clk.Now, Policy: policy,
		GeneratorURL: "http://exporter:9925", Incidents: tracker})
	flows := func(det string, w source.Window, score float64) detect.Verdict {
		v := scan("a-1-*", w, score)
		v.Detector = det
		return v
	}
	win3 := source.Window{Start: win2.End, End: win2.End.Add(5 * time.Minute)}
	windows := []struct {
		w  source.Window
		vs []detect.Verdict
	}{
		{win1, []detect.Verdict{scan("a-1-*", win1, 0.6), flows("generic_flows", win1, 0.9), flows("multivariable_flow", win1, 0.7)}},
		{win2, []detect.Verdict{flows("generic_flows", win2, 0.8)}},
		{win3, []detect.Verdict{scan("a-1-*", win3, 0.1)}},
	}
	ctx := context.Background()
	for i, step := range windows {
		clk.set(t0.Add(time.Duration(i) * 5 * time.Minute))
		tracker.Deliver(ctx, step.w, step.vs)
		n.Deliver(ctx, step.w, step.vs)
		want := i + 1
		testkit.WaitFor(t, 5*time.Second, "alerts sent", func() bool { return len(am.received()) >= want })
	}
	time.Sleep(30 * time.Millisecond)
	got := am.received()
	if len(got) != 3 {
		t.Fatalf("%d alerts sent, want 3 (fire, fire again, resolve) of one incident: %+v", len(got), got)
	}
	id := incident.ID(detect.Entity{Cluster: "c1", Namespace: "shop", Workload: "a-1-*", Type: "wep"}, win1.Start)
	for i, a := range got {
		if a.Labels[IncidentLabel] != id {
			t.Errorf("alert %d: incident label %q, want %q", i, a.Labels[IncidentLabel], id)
		}
		if a.Labels["detector"] != "generic_flows" {
			t.Errorf("alert %d: detector label %q, want the incident's first peak detector generic_flows, unchanged", i, a.Labels["detector"])
		}
		if !a.StartsAt.Equal(t0) {
			t.Errorf("alert %d: startsAt %s, want %s", i, a.StartsAt, t0)
		}
		if want := "http://exporter:9925/incident?id=" + id; a.GeneratorURL != want {
			t.Errorf("alert %d: generatorURL %q, want %q", i, a.GeneratorURL, want)
		}
	}
	if d := got[0].Annotations["detectors"]; d != "generic_flows,multivariable_flow,port_scan" {
		t.Errorf("detectors annotation %q", d)
	}
	if got[0].Annotations["incident_id"] != id || got[0].Annotations["incident_start"] != win1.Start.Format(time.RFC3339) {
		t.Errorf("incident annotations %v", got[0].Annotations)
	}
	if end := got[2].EndsAt; !end.Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("the last alert ends %s, want the resolve at %s", end, t0.Add(10*time.Minute))
	}
}

func TestSilenceCommentsThatMarkExpected(t *testing.T) {
	for _, tc := range []struct {
		comment string
		want    bool
	}{
		{"expected", true},
		{"Expected: nightly backup", true},
		{"  EXPECTED - load test", true},
		{"expectedly noisy", false},
		{"not expected", false},
		{"", false},
	} {
		if got := startsWithWord(tc.comment, "expected"); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.comment, got, tc.want)
		}
	}
}
