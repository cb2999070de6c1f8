package main

import (
	"context"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify/alertmanager"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestASilenceMarksAndItsExpiryUndoes: an expected silence of an
// incident's alert mutes the incident's detectors on its workload; the
// same silence withdrawn in Alertmanager undoes the decision, once, and
// the incident page's decision names the undo.
func TestASilenceMarksAndItsExpiryUndoes(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	f := &incidentFlags{expiry: 24 * time.Hour, keepResolved: time.Hour}
	inc, err := f.build("", notify.NewLivePolicy(notify.Policy{}), clock)
	if err != nil {
		t.Fatal(err)
	}
	e := detect.Entity{Cluster: "c1", Namespace: "shop", Workload: "frontend-*", Type: "rs"}
	w := source.Window{Start: t0.Add(-5 * time.Minute), End: t0}
	inc.tracker.Deliver(context.Background(), w, []detect.Verdict{{Detector: "port_scan", Entity: e, Window: w, Score: 0.9, Threshold: 0.5}})
	in, ok := inc.tracker.OpenFor(e)
	if !ok {
		t.Fatal("no incident opened")
	}
	found := inc.fromSilence(log.NewNopLogger())
	s := alertmanager.ExpectedSilence{SilenceID: "s-1", Incident: in.ID, CreatedBy: "carol", Comment: "expected: load test"}
	found(s)
	found(s)
	if !inc.store.Expected("port_scan", e, now) || len(inc.store.ForIncident(in.ID)) != 1 {
		t.Fatalf("the silence made %+v, want one decision muting port_scan", inc.store.ForIncident(in.ID))
	}
	now = t0.Add(time.Hour)
	s.Withdrawn = true
	found(s)
	found(s)
	if inc.store.Expected("port_scan", e, now) {
		t.Errorf("port_scan is still muted after its silence was expired")
	}
	ds := inc.store.ForIncident(in.ID)
	if len(ds) != 1 || !ds[0].UndoneAt.Equal(now) || ds[0].UndoneBy != "alertmanager (silence s-1 expired)" {
		t.Errorf("decisions %+v, want the one undone at %v by the expired silence", ds, now)
	}
}
