package backtest

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/feedback"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/incident"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// IncidentTally counts a replay's incidents against the ground truth, and
// plays the user who marks false incidents expected: an engine sink placed
// after the incident tracker. With Mark set, the first false incident of
// each entity is marked expected in the feedback store the moment it
// opens, as an on-call engineer would; the engine (its Config.Feedback)
// and the policy (Expected) then use the store.
type IncidentTally struct {
	truth    Truth
	tracker  *incident.Tracker
	store    *feedback.Store
	policy   notify.Policy
	mark     bool
	mu       sync.Mutex
	seen     map[string]bool     // incident ids tallied
	order    []incident.Incident // incidents as they opened
	isTrue   map[string]bool     // incident id → an attack's
	marked   map[string]bool     // entity keys marked once
	attacks  map[string]bool     // scenario/entity of every label
	found    map[string]bool     // scenario/entity alerted on
	falseWin int                 // alerting verdicts on no attack
	trueWin  int
}

// NewIncidentTally tallies the incidents of tracker under policy; with
// mark, the first false incident of each entity is marked expected in
// store.
func NewIncidentTally(truth Truth, tracker *incident.Tracker, store *feedback.Store, policy notify.Policy, mark bool) *IncidentTally {
	return &IncidentTally{truth: truth, tracker: tracker, store: store, policy: policy, mark: mark,
		seen: map[string]bool{}, isTrue: map[string]bool{}, marked: map[string]bool{}, attacks: map[string]bool{}, found: map[string]bool{}}
}

func attackKey(l simulate.Label) string {
	return l.Scenario + "\x00" + l.Namespace + "/" + l.Workload + "/" + l.Type
}

// Deliver tallies one window, after the tracker took it.
func (t *IncidentTally) Deliver(_ context.Context, w source.Window, verdicts []detect.Verdict) {
	var labels []simulate.Label
	if t.truth != nil {
		labels = t.truth(w)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range labels {
		t.attacks[attackKey(l)] = true
	}
	var opened []incident.Incident
	for _, v := range verdicts {
		if !t.policy.Alerts(v) {
			continue
		}
		in, ok := t.tracker.OpenFor(v.Entity)
		if !ok {
			continue
		}
		attack := false
		if i := match(labels, v); i >= 0 {
			t.found[attackKey(labels[i])] = true
			attack = true
		} else if related(labels, v) {
			attack = true
		}
		if attack {
			t.trueWin++
			t.isTrue[in.ID] = true
		} else {
			t.falseWin++
		}
		if !t.seen[in.ID] {
			t.seen[in.ID] = true
			opened = append(opened, in)
			t.order = append(t.order, in)
		}
	}
	if !t.mark || t.store == nil {
		return
	}
	for _, in := range opened {
		k := in.Entity.ModelKey()
		if t.isTrue[in.ID] || t.marked[k] {
			continue
		}
		t.marked[k] = true
		var ws []source.Window
		for _, d := range in.Detectors {
			ws = append(ws, in.AnomalousWindows[d]...)
		}
		_, _ = t.store.Mark(feedback.Request{Incident: in.ID, Entity: in.Entity, Detectors: in.Detectors,
			Windows: dedupeWindows(ws), By: "replay", Origin: feedback.OriginReplay, Comment: "first false incident of the entity"})
	}
}

func dedupeWindows(ws []source.Window) []source.Window {
	sort.Slice(ws, func(i, j int) bool { return ws[i].Start.Before(ws[j].Start) })
	out := ws[:0]
	for i, w := range ws {
		if i == 0 || !w.Start.Equal(ws[i-1].Start) {
			out = append(out, w)
		}
	}
	return out
}

// IncidentSummary is the tally of a replay's incidents.
type IncidentSummary struct {
	Incidents, True, False int
	// FalseAfterFirst counts false incidents of workloads that had a
	// false incident before (the same detect.Entity.ModelKey, across
	// rollouts): the ones feedback can prevent.
	FalseAfterFirst int
	// Marked counts entities whose first false incident was marked
	// expected.
	Marked int
	// Attacks counts labelled attacks (scenario and entity), Found those
	// with an alert from a detector the label names.
	Attacks, Found int
	// FalseWindows and TrueWindows count alerting verdicts.
	FalseWindows, TrueWindows int
}

// Summary returns the tally so far.
func (t *IncidentTally) Summary() IncidentSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := IncidentSummary{Marked: len(t.marked), Attacks: len(t.attacks), Found: len(t.found), FalseWindows: t.falseWin, TrueWindows: t.trueWin}
	firstFalse := map[string]bool{}
	for _, in := range t.order {
		s.Incidents++
		if t.isTrue[in.ID] {
			s.True++
			continue
		}
		s.False++
		if k := in.Entity.ModelKey(); firstFalse[k] {
			s.FalseAfterFirst++
		} else {
			firstFalse[k] = true
		}
	}
	return s
}

// Write prints the summary in one paragraph.
func (s IncidentSummary) Write(w io.Writer, marked bool) error {
	mode := "without feedback"
	if marked {
		mode = "with the first false incident of each entity marked expected"
	}
	_, err := fmt.Fprintf(w, "incidents (%s): %d, %d on an attack, %d false (%d after an entity's first), %d entities marked expected; attacks alerted on: %d of %d; alerting verdicts: %d on an attack, %d false\n",
		mode, s.Incidents, s.True, s.False, s.FalseAfterFirst, s.Marked, s.Found, s.Attacks, s.TrueWindows, s.FalseWindows)
	return err
}
