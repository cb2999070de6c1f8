package feedback

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestAWithdrawnSilenceUndoesItsDecisionOnce: the decision a silence made
// is undone by the silence's key, once however often the withdrawn
// silence is seen, and the undo outlives a restart; other keys, and
// decisions already expired, change nothing.
func TestAWithdrawnSilenceUndoesItsDecisionOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feedback.json")
	c := &clock{t0}
	s, err := New(path, time.Hour, c.now)
	if err != nil {
		t.Fatal(err)
	}
	web, _ := s.Mark(Request{Incident: "b", Entity: frontend, Detectors: []string{"ip_sweep"}, By: "alice"})
	mark := func(key string) Decision {
		d, err := s.Mark(Request{Incident: "a", Entity: frontend, Detectors: []string{"port_scan"}, By: "carol", Origin: OriginAlertmanager, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := mark("silence-1")
	c.t = t0.Add(10 * time.Minute)
	tests := []struct {
		name, key string
		undone    bool
	}{
		{"a silence that made no decision", "silence-9", false},
		{"the web decision's id is not a silence key", web.ID, false},
		{"the silence that made the decision", "silence-1", true},
		{"the same silence at the next poll", "silence-1", false},
	}
	for _, tc := range tests {
		_, undone, err := s.UndoKey(tc.key, OriginAlertmanager, "alertmanager")
		if err != nil || undone != tc.undone {
			t.Errorf("%s: undone %v (%v), want %v", tc.name, undone, err, tc.undone)
		}
	}
	if s.Expected("port_scan", frontend, c.t) {
		t.Errorf("the silence's decision still mutes port_scan")
	}
	if !s.Expected("ip_sweep", frontend, c.t) {
		t.Errorf("the web decision was undone too")
	}
	if got := testutil.ToFloat64(s.total.WithLabelValues(ActionUndo, OriginAlertmanager)); got != 1 {
		t.Errorf("undo counted %v times, want 1", got)
	}
	again, err := New(path, time.Hour, c.now)
	if err != nil {
		t.Fatal(err)
	}
	if ds := again.ForIncident(d.Incident); len(ds) != 1 || ds[0].UndoneBy != "alertmanager" || !ds[0].UndoneAt.Equal(c.t) {
		t.Errorf("after a restart: %+v, want the decision undone by alertmanager at %v", ds, c.t)
	}

	mark("silence-2")
	c.t = t0.Add(2 * time.Hour) // the decision has expired on its own
	if _, undone, _ := s.UndoKey("silence-2", OriginAlertmanager, "alertmanager"); undone {
		t.Errorf("an expired decision was undone")
	}
}
