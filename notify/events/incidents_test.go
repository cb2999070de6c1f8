package events

import (
	"context"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/incident"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestOneEventPerDetectorAndIncident: a scan flagged over two windows, by
// a second detector in the second, is two events (one per detector), both
// naming the incident in their record.
func TestOneEventPerDetectorAndIncident(t *testing.T) {
	tracker, _ := incident.New(incident.Config{})
	n, err := New(Config{Naming: legacy, Incidents: tracker}, &fakeWriter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w2 := source.Window{Start: w1.End, End: w1.End.Add(w1.End.Sub(w1.Start))}
	for _, step := range []struct {
		w  source.Window
		vs []detect.Verdict
	}{
		{w1, []detect.Verdict{verdict("port_scan", w1)}},
		{w2, []detect.Verdict{verdict("port_scan", w2), verdict("generic_flows", w2)}},
	} {
		tracker.Deliver(context.Background(), step.w, step.vs)
		n.Deliver(context.Background(), step.w, step.vs)
	}
	id := incident.ID(verdict("port_scan", w1).Entity, w1.Start)
	if len(n.pending) != 2 {
		t.Fatalf("%d events queued, want 2 (port_scan and generic_flows of one incident)", len(n.pending))
	}
	want := map[string]bool{IncidentEventID("port_scan", id): true, IncidentEventID("generic_flows", id): true}
	for _, op := range n.pending {
		if !want[op.ID] {
			t.Errorf("event id %s, want one of %v", op.ID, want)
		}
		if got := op.Doc.(calicolog.Event).Record["incident_id"]; got != id {
			t.Errorf("event %s: record.incident_id %v, want %s", op.ID, got, id)
		}
	}
}
