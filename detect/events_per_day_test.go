package detect

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// The limiter lets through at most rate alerts per day per entity on
// average, starting with a full bucket, and keeps withheld verdicts with
// their score capped below the threshold.
func TestEventsPerDayLimitsAlertsPerEntity(t *testing.T) {
	a := Entity{Cluster: "c", Namespace: "shop", Workload: "frontend-*", Type: "wep"}
	b := Entity{Cluster: "c", Namespace: "shop", Workload: "cart-*", Type: "wep"}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	type alert struct {
		entity Entity
		after  time.Duration // since start
		score  float64
	}
	tests := []struct {
		name   string
		rate   float64
		alerts []alert
		want   []bool // passed through
	}{
		{"the first alert of an entity passes", 0.3,
			[]alert{{a, 0, 0.9}}, []bool{true}},
		{"a second alert the same day is withheld at 0.3 a day", 0.3,
			[]alert{{a, 0, 0.9}, {a, time.Hour, 0.9}}, []bool{true, false}},
		{"at 0.3 a day the next alert passes after 3.4 days, not 3.3", 0.3,
			[]alert{{a, 0, 0.9}, {a, 79 * time.Hour, 0.9}, {a, 82 * time.Hour, 0.9}}, []bool{true, false, true}},
		{"entities have their own buckets", 0.3,
			[]alert{{a, 0, 0.9}, {b, time.Minute, 0.9}, {a, 2 * time.Minute, 0.9}}, []bool{true, true, false}},
		{"verdicts below the threshold pass and spend nothing", 0.3,
			[]alert{{a, 0, 0.2}, {a, time.Minute, 0.9}}, []bool{true, true}},
		{"one a day: a second alert passes the next day", 1,
			[]alert{{a, 0, 0.9}, {a, 12 * time.Hour, 0.9}, {a, 24 * time.Hour, 0.9}}, []bool{true, false, true}},
		{"four a day allow a burst of four", 4,
			[]alert{{a, 0, 0.9}, {a, 1, 0.9}, {a, 2, 0.9}, {a, 3, 0.9}, {a, 4, 0.9}, {a, 6*time.Hour + time.Minute, 0.9}},
			[]bool{true, true, true, true, false, true}},
		{"zero a day withholds every alert", 0,
			[]alert{{a, 0, 0.9}, {a, 30 * 24 * time.Hour, 0.9}}, []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := newEventsPerDay(tt.rate, "rate")
			if err != nil {
				t.Fatal(err)
			}
			for i, al := range tt.alerts {
				at := start.Add(al.after)
				v := Verdict{Entity: al.entity, Window: source.Window{Start: at.Add(-5 * time.Minute), End: at},
					Score: al.score, Threshold: 0.5, Summary: "s",
					EvidenceQuery: []EvidenceQuery{{Log: "l7"}}}
				got := l.limit(v)
				passed := got.Score == v.Score
				if passed != tt.want[i] {
					t.Fatalf("alert %d: passed %v, want %v (score %v → %v)", i, passed, tt.want[i], v.Score, got.Score)
				}
				if !passed {
					if got.Anomalous() || got.Score < 0.49 {
						t.Errorf("alert %d: withheld score %v, want just below the threshold", i, got.Score)
					}
					if !strings.Contains(got.Summary, "withheld") || got.EvidenceQuery != nil {
						t.Errorf("alert %d: withheld verdict does not say so: %q, evidence %v", i, got.Summary, got.EvidenceQuery)
					}
				}
			}
		})
	}
}

// Over a long run the limiter never lets more than rate alerts a day
// through on average, for an entity that is anomalous in every window.
func TestEventsPerDayLongRunRate(t *testing.T) {
	for _, rate := range []float64{0.3, 1, 2.5} {
		l, err := newEventsPerDay(rate, "rate")
		if err != nil {
			t.Fatal(err)
		}
		e := Entity{Namespace: "n", Workload: "w"}
		start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
		const days = 30
		passed := 0
		for t0 := start; t0.Before(start.Add(days * 24 * time.Hour)); t0 = t0.Add(5 * time.Minute) {
			v := l.limit(Verdict{Entity: e, Window: source.Window{Start: t0, End: t0.Add(5 * time.Minute)}, Score: 1, Threshold: 0.5})
			if v.Anomalous() {
				passed++
			}
		}
		if most := rate*days + max(1, rate); float64(passed) > most || float64(passed) < rate*days-1 {
			t.Errorf("rate %v: %d alerts in %d days, want about %.1f and at most %.1f", rate, passed, days, rate*days, most)
		}
	}
}

// The limiter's state survives a save and load, and bad settings are
// refused with the setting's name.
func TestEventsPerDaySavedAndRefused(t *testing.T) {
	l, _ := newEventsPerDay(0.3, "rate")
	e := Entity{Namespace: "n", Workload: "w"}
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	l.limit(Verdict{Entity: e, Window: source.Window{End: at}, Score: 1, Threshold: 0.5})
	data, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := newEventsPerDay(0.3, "rate")
	if err := json.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	if v := m.limit(Verdict{Entity: e, Window: source.Window{End: at.Add(time.Hour)}, Score: 1, Threshold: 0.5}); v.Anomalous() {
		t.Error("a loaded limiter forgot the spent token")
	}
	again, _ := json.Marshal(l)
	if !bytes.Equal(data, again) {
		t.Error("the same state saved to different bytes")
	}
	for _, bad := range []float64{-1} {
		if _, err := newEventsPerDay(bad, "AD_X_EVENTS_PER_DAY_THRESHOLD"); err == nil || !strings.Contains(err.Error(), "AD_X_EVENTS_PER_DAY_THRESHOLD") {
			t.Errorf("rate %v: error %v, want one naming the setting", bad, err)
		}
	}
}
