package nab

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// dailySeries is days of 5-minute samples of a daily shape with 5%
// noise, starting at midnight, with the given windows.
func dailySeries(name string, days int, windows ...Window) *Series {
	s := &Series{Name: name, Windows: windows}
	rng := rand.New(rand.NewPCG(7, 8))
	start := time.Date(2014, 3, 3, 0, 0, 0, 0, time.UTC)
	for t := start; t.Before(start.Add(time.Duration(days) * 24 * time.Hour)); t = t.Add(5 * time.Minute) {
		hour := float64(t.Hour()) + float64(t.Minute())/60
		v := 1000 * (1 + 0.5*math.Sin(2*math.Pi*hour/24)) * (1 + 0.05*rng.NormFloat64())
		s.Rows = append(s.Rows, Row{Time: t, Value: v})
	}
	return s
}

func TestInjectDrops(t *testing.T) {
	labelled := Window{Start: time.Date(2014, 3, 6, 10, 0, 0, 0, time.UTC), End: time.Date(2014, 3, 6, 14, 0, 0, 0, time.UTC)}
	long := dailySeries("g/long.csv", 8, labelled)
	long.Labels = []time.Time{labelled.Start.Add(time.Hour)}
	short := dailySeries("g/short.csv", 3)
	corpus := &Corpus{Series: []*Series{long, short}}
	const learn = 48 * time.Hour
	got, err := InjectDrops(corpus, learn, []float64{0, 0.25}, []time.Duration{time.Hour, 4 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Series) != 4 {
		t.Fatalf("%d copies, want 4 (of the long series); skipped %v", len(got.Series), got.Skipped)
	}
	if len(got.Skipped) != 4 || !strings.Contains(got.Skipped[0], "g/short+drop0-1h0m0s.csv: no room") {
		t.Errorf("skipped %q, want the short series' four copies, for want of room", got.Skipped)
	}
	again, _ := InjectDrops(corpus, learn, []float64{0, 0.25}, []time.Duration{time.Hour, 4 * time.Hour})
	tests := []struct {
		name  string
		depth float64
		span  time.Duration
	}{
		{"g/long+drop0-1h0m0s.csv", 0, time.Hour},
		{"g/long+drop0-4h0m0s.csv", 0, 4 * time.Hour},
		{"g/long+drop25-1h0m0s.csv", 0.25, time.Hour},
		{"g/long+drop25-4h0m0s.csv", 0.25, 4 * time.Hour},
	}
	for i, tc := range tests {
		c := got.Series[i]
		if c.Name != tc.name {
			t.Fatalf("copy %d named %q, want %q", i, c.Name, tc.name)
		}
		if len(c.Windows) != 2 || len(c.Labels) != 2 || len(c.Rows) != len(long.Rows) {
			t.Fatalf("%s: %d windows, %d labels, %d rows; want 2, 2, %d", c.Name, len(c.Windows), len(c.Labels), len(c.Rows), len(long.Rows))
		}
		var drop Window
		for _, w := range c.Windows {
			if w != labelled {
				drop = w
			}
		}
		start, end := drop.Start, drop.End.Add(-dropTail)
		if end.Sub(start) != tc.span {
			t.Errorf("%s: window %v to %v, want the span %v and %v more", c.Name, drop.Start, drop.End, tc.span, dropTail)
		}
		if start.Before(long.Rows[0].Time.Add(learn+24*time.Hour)) || end.After(long.Rows[len(long.Rows)-1].Time.Add(-dropClearance)) {
			t.Errorf("%s: drop %v to %v, not clear of the learned span and the end", c.Name, start, end)
		}
		if start.Before(labelled.End.Add(dropClearance)) && end.After(labelled.Start.Add(-dropClearance)) {
			t.Errorf("%s: drop %v to %v, within %v of the labelled window", c.Name, start, end, dropClearance)
		}
		if c.Labels[0] != start && c.Labels[1] != start {
			t.Errorf("%s: labels %v lack the drop's start %v", c.Name, c.Labels, start)
		}
		if again.Series[i].Windows[0] != c.Windows[0] || again.Series[i].Windows[1] != c.Windows[1] {
			t.Errorf("%s: a second injection drew other times", c.Name)
		}
		for r, row := range c.Rows {
			want := long.Rows[r].Value
			if !row.Time.Before(start) && row.Time.Before(end) {
				want *= tc.depth
			}
			if row.Value != want || row.Time != long.Rows[r].Time {
				t.Fatalf("%s: row %v is %v, want %v", c.Name, row.Time, row.Value, want)
			}
		}
	}
	if got.Series[0].Windows[0] == got.Series[2].Windows[0] && got.Series[0].Windows[1] == got.Series[2].Windows[1] {
		t.Error("two depths drew the same time: each copy is seeded by its own name")
	}
	if long.Rows[0].Value == 0 || len(long.Windows) != 1 || len(long.Labels) != 1 {
		t.Error("the source series was changed")
	}
	for _, bad := range []float64{1, -0.5, math.NaN()} {
		if _, err := InjectDrops(corpus, learn, []float64{bad}, []time.Duration{time.Hour}); err == nil || !strings.Contains(err.Error(), "drop depth") {
			t.Errorf("depth %v: error %v, want one naming the drop depth", bad, err)
		}
	}
}

// TestInjectedSilenceIsFound: a week of a daily shape with an hour of
// silence written in after the learned span: the detectors find it and
// call it a drop, and raise no false alert elsewhere.
func TestInjectedSilenceIsFound(t *testing.T) {
	corpus, err := InjectDrops(&Corpus{Series: []*Series{dailySeries("g/daily.csv", 7)}}, DefaultLearn, []float64{0}, []time.Duration{time.Hour})
	if err != nil || len(corpus.Series) != 1 {
		t.Fatalf("%v, skipped %v", err, corpus.Skipped)
	}
	report, err := Evaluate(context.Background(), corpus, Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	o := report.Series[0].Outcomes[Ours]
	if len(o.Windows) != 1 || !o.Windows[0].Found || !o.Windows[0].Drop {
		t.Fatalf("outcome %+v, want the silence found, as a drop", o)
	}
	t.Logf("found %.0f min after its start; %d false alerts", o.Windows[0].DelayMinutes, o.FalseAlerts)
	if o.Windows[0].DelayMinutes > 30 {
		t.Errorf("found %.0f min after the silence began, want within 30", o.Windows[0].DelayMinutes)
	}
	if o.FalseAlerts > 0 {
		t.Errorf("%d false alerts on a steady daily shape", o.FalseAlerts)
	}
}
