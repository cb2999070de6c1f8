package simulate

import (
	"testing"
	"time"
)

// Every library entry places valid attacks inside its span and labels
// them with the detectors it declares.
func TestScenarioLibraryEntriesAreValidAndLabelled(t *testing.T) {
	c := New(Options{Seed: 7})
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	span := 2 * time.Hour
	if len(ScenarioLibrary()) == 0 {
		t.Fatal("the scenario library is empty")
	}
	for _, spec := range ScenarioLibrary() {
		t.Run(spec.Name, func(t *testing.T) {
			scs := spec.New(c, start, span)
			if len(scs) == 0 {
				t.Fatal("no scenario")
			}
			for _, s := range scs {
				if err := s.Validate(); err != nil {
					t.Fatalf("invalid: %v", err)
				}
			}
			played := New(Options{Seed: 7}, scs...)
			var labels []Label
			for w := start; w.Before(start.Add(span)); w = w.Add(played.Bucket()) {
				labels = append(labels, played.Truth(window(w, played.Bucket()))...)
			}
			if len(labels) == 0 {
				t.Fatal("no ground-truth label inside the span")
			}
			want := map[string]bool{}
			for _, d := range spec.Detectors {
				want[d] = true
			}
			for _, l := range labels {
				for _, d := range l.Detectors {
					if !want[d] {
						t.Errorf("label names detector %s, not declared in %v", d, spec.Detectors)
					}
				}
			}
		})
	}
	if _, err := LookupScenario("no_such"); err == nil {
		t.Error("an unknown scenario name was accepted")
	}
}
