package feedback

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

var (
	t0       = time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC)
	frontend = detect.Entity{Cluster: "c1", Namespace: "shop", Workload: "frontend-*", Type: "wep"}
	backup   = detect.Entity{Cluster: "c2", Namespace: "ops", Workload: "backup-*", Type: "wep"}
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestAnExpectedIncidentMutesItsDetectorsOnItsEntityUntilItExpires(t *testing.T) {
	c := &clock{t0}
	s, err := New("", 24*time.Hour, c.now)
	if err != nil {
		t.Fatal(err)
	}
	w := source.Window{Start: t0.Add(-5 * time.Minute), End: t0}
	d, err := s.Mark(Request{Incident: "abc", Entity: frontend, Detectors: []string{"generic_flows", "port_scan"}, Windows: []source.Window{w}, By: "alice", Comment: " nightly scan "})
	if err != nil {
		t.Fatal(err)
	}
	if d.By != "alice" || d.Comment != "nightly scan" || !d.At.Equal(t0) || !d.Until.Equal(t0.Add(24*time.Hour)) || d.Origin != OriginWeb {
		t.Errorf("decision %+v", d)
	}
	for _, tc := range []struct {
		name     string
		detector string
		entity   detect.Entity
		at       time.Time
		want     bool
	}{
		{"a covered detector on the entity", "port_scan", frontend, t0.Add(time.Hour), true},
		{"another detector on the entity", "dga", frontend, t0.Add(time.Hour), false},
		{"a covered detector on another entity", "port_scan", backup, t0.Add(time.Hour), false},
		{"after the decision expired", "port_scan", frontend, t0.Add(25 * time.Hour), false},
	} {
		if got := s.Expected(tc.detector, tc.entity, tc.at); got != tc.want {
			t.Errorf("%s: expected %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := s.Undo(d.ID, "bob", OriginWeb); err != nil {
		t.Fatal(err)
	}
	if s.Expected("port_scan", frontend, t0.Add(time.Hour)) {
		t.Errorf("an undone decision still mutes")
	}
	if _, err := s.Undo(d.ID, "bob", OriginWeb); err == nil {
		t.Errorf("undoing twice succeeded")
	}
	got := s.ForIncident("abc")
	if len(got) != 1 || got[0].UndoneBy != "bob" {
		t.Errorf("decisions of the incident %+v, want one undone by bob", got)
	}
	if n := testutil.ToFloat64(s.total.WithLabelValues(ActionExpected, OriginWeb)); n != 1 {
		t.Errorf("expected decisions counted %v, want 1", n)
	}
	if n := testutil.ToFloat64(s.total.WithLabelValues(ActionUndo, OriginWeb)); n != 1 {
		t.Errorf("undos counted %v, want 1", n)
	}
	if problems, err := testutil.CollectAndLint(s); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}
}

func TestTheIncidentsWindowsAreLearnedOnceByTheirClustersEngine(t *testing.T) {
	s, _ := New("", 0, func() time.Time { return t0 })
	ws := []source.Window{{Start: t0, End: t0.Add(5 * time.Minute)}}
	s.Mark(Request{Incident: "a", Entity: frontend, Detectors: []string{"generic_flows", "time_series_flows"}, Windows: ws})
	s.Mark(Request{Incident: "b", Entity: backup, Detectors: []string{"bytes_out"}, Windows: ws})
	got := s.TakeLearning("c1")
	if len(got) != 2 || got[0].Detector != "generic_flows" || got[1].Detector != "time_series_flows" || got[0].Entity != frontend || len(got[0].Windows) != 1 {
		t.Errorf("cluster c1 learns %+v", got)
	}
	if again := s.TakeLearning("c1"); len(again) != 0 {
		t.Errorf("windows handed out twice: %+v", again)
	}
	if other := s.TakeLearning("c2"); len(other) != 1 || other[0].Entity != backup {
		t.Errorf("cluster c2 learns %+v", other)
	}
}

func TestASilenceSeenTwiceIsOneDecision(t *testing.T) {
	c := &clock{t0}
	s, _ := New("", 0, c.now)
	r := Request{Incident: "a", Entity: frontend, Detectors: []string{"port_scan"}, By: "carol", Origin: OriginAlertmanager, Key: "silence-1"}
	first, _ := s.Mark(r)
	c.t = t0.Add(time.Minute)
	second, _ := s.Mark(r)
	if first.ID != second.ID || len(s.All()) != 1 {
		t.Errorf("two decisions from one silence: %+v, %+v", first, second)
	}
}

func TestDecisionsSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feedback.json")
	s, err := New(path, time.Hour, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Mark(Request{Incident: "a", Entity: frontend, Detectors: []string{"port_scan"}, By: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := New(path, time.Hour, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	if !again.Expected("port_scan", frontend, t0.Add(time.Minute)) {
		t.Errorf("the decision was lost in a restart")
	}
	if _, err := again.Undo(d.ID, "bob", OriginWeb); err != nil {
		t.Fatal(err)
	}
	third, _ := New(path, time.Hour, func() time.Time { return t0 })
	if third.Expected("port_scan", frontend, t0.Add(time.Minute)) {
		t.Errorf("the undo was lost in a restart")
	}
}

func TestABrokenFeedbackFileIsRefusedByName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feedback.json")
	for _, body := range []string{"{", `{"version":7}`} {
		os.WriteFile(path, []byte(body), 0o644)
		if _, err := New(path, 0, nil); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("file %q: error %v, want one naming the file", body, err)
		}
	}
}

func TestAMarkNeedsAnIncidentAndDetectors(t *testing.T) {
	s, _ := New("", 0, nil)
	if _, err := s.Mark(Request{Entity: frontend, Detectors: []string{"port_scan"}}); err == nil {
		t.Errorf("a mark without an incident was taken")
	}
	if _, err := s.Mark(Request{Incident: "a", Entity: frontend}); err == nil {
		t.Errorf("a mark without detectors was taken")
	}
}

func TestADecisionOutlivesARollout(t *testing.T) {
	s, _ := New("", 0, func() time.Time { return t0 })
	before := detect.Entity{Cluster: "c1", Namespace: "shop", Workload: "ledger-7d4f8b9c5d-*", Type: "wep"}
	after := before
	after.Workload = "ledger-5c6d7f8g9b-*"
	other := before
	other.Workload = "payments-7d4f8b9c5d-*"
	s.Mark(Request{Incident: "a", Entity: before, Detectors: []string{"generic_l7"}})
	if !s.Expected("generic_l7", after, t0.Add(time.Hour)) {
		t.Errorf("the new ReplicaSet of the same Deployment lost the decision")
	}
	if s.Expected("generic_l7", other, t0.Add(time.Hour)) {
		t.Errorf("another Deployment is muted")
	}
}
