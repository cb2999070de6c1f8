package detect

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestBaselineSpikesOnSeveralDays: a steady workload whose transfer
// spikes to fifty times its level every other day, each time at another
// hour and the same size. The first two spikes are news; the third, two and a half days
// after the second (past what Seen's 48 hours hold), came on two of the
// seven days before and is the workload's behaviour: not alerted, and
// the summary says why. A spike a hundred times larger still alerts, and
// no other window is flagged.
func TestBaselineSpikesOnSeveralDays(t *testing.T) {
	const bucket = 5 * time.Minute
	d := newGenericFlows(t)
	row := func(v float64) []source.Row { return []source.Row{levelRow(d, "batch", v)} }
	rng := rand.New(rand.NewPCG(41, 42))
	level := func() float64 { return 1e5 * (0.9 + 0.2*rng.Float64()) }
	now := weekStart
	for end := weekStart.Add(3 * 24 * time.Hour); now.Before(end); now = now.Add(bucket) {
		d.(Learner).Learn(source.Window{Start: now, End: now.Add(bucket)}, [][]source.Row{row(level())})
	}
	day := func(n int, h, m int) time.Time {
		return weekStart.Add(time.Duration(n)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	spikes := []struct {
		at      time.Time
		times   float64
		alerts  bool
		because string
	}{
		{day(3, 4, 10), 50, true, ""},
		{day(5, 13, 35), 50, true, ""},
		{day(7, 22, 50), 50, false, "on 2 of the last 7 days"},
		{day(9, 16, 5), 5000, true, ""},
	}
	next := 0
	for end := day(10, 0, 0); now.Before(end); now = now.Add(bucket) {
		v, spike := level(), next < len(spikes) && now.Equal(spikes[next].at)
		if spike {
			v = 1e5 * spikes[next].times
		}
		vs := d.Judge(source.Window{Start: now, End: now.Add(bucket)}, [][]source.Row{row(v)})
		if len(vs) != 1 {
			t.Fatalf("%s: %d verdicts, want 1", now.Format("Mon 15:04"), len(vs))
		}
		switch {
		case spike:
			sp := spikes[next]
			next++
			if vs[0].Anomalous() != sp.alerts {
				t.Errorf("%s, %g times the level: anomalous %v, want %v: %s", now.Format("Mon 15:04"), sp.times, vs[0].Anomalous(), sp.alerts, vs[0].Summary)
			}
			if sp.because != "" && !strings.Contains(vs[0].Summary, sp.because) {
				t.Errorf("%s: the summary does not say %q: %s", now.Format("Mon 15:04"), sp.because, vs[0].Summary)
			}
		case vs[0].Anomalous():
			t.Errorf("%s: an ordinary window flagged: %s", now.Format("Mon 15:04"), vs[0].Summary)
		}
	}
	if next != len(spikes) {
		t.Fatalf("%d of %d spikes judged", next, len(spikes))
	}
}

// TestBaselineDriftIsOneEpisodePerEntity: the frontend's bytes run 8%
// above their usual level all afternoon, and its packets and flows follow
// an hour later. No window or hour is past the threshold alone; the
// hours' drift is, first for a bytes field. The other fields crossing
// their drift threshold later are the same episode of the same
// workload: one alert in all. The steady neighbour stays quiet.
func TestBaselineDriftIsOneEpisodePerEntity(t *testing.T) {
	d, row, now := steadyShop(t, 51)
	metrics := d.Queries()[0].Metrics
	rng := rand.New(rand.NewPCG(52, 53))
	frontend := func(bytes, other float64) source.Row {
		r := source.Row{Key: []string{"shop", "frontend-7d4f8b9c5d-*", "wep"}}
		for _, m := range metrics {
			level := other
			if strings.HasPrefix(m.Name, "bytes") {
				level = bytes
			}
			v := level * (0.9 + 0.2*rng.Float64())
			if m.Kind == source.Max {
				v = 3
			}
			r.Values = append(r.Values, v)
		}
		return r
	}
	const bucket = 5 * time.Minute
	rise := weekStart.Add(3*24*time.Hour + 13*time.Hour)
	var alerts []string
	for end := rise.Add(12 * time.Hour); now.Before(end); now = now.Add(bucket) {
		b, o := 1e6, 1e6
		if !now.Before(rise) {
			b = 1.08e6
		}
		if !now.Before(rise.Add(time.Hour)) {
			o = 1.08e6
		}
		for _, v := range d.Judge(source.Window{Start: now, End: now.Add(bucket)}, [][]source.Row{{row("cart", 1e6), frontend(b, o)}}) {
			if !v.Anomalous() {
				continue
			}
			if strings.HasPrefix(v.Entity.Workload, "cart") || now.Before(rise) {
				t.Fatalf("%s: flagged: %s", now.Format("Mon 15:04"), v.Summary)
			}
			alerts = append(alerts, now.Format("Mon 15:04")+": "+v.Summary)
		}
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0], "has run above its usual level for hours") {
		t.Fatalf("%d alerts, want the one drift:\n%s", len(alerts), strings.Join(alerts, "\n"))
	}
}

// TestBaselineSilenceAcrossTheHour: a steady workload falls silent at
// five to the hour for an hour. A fall alerts once it has lasted a
// quarter of an hour, by then in the next hour, where the silence's own
// first window lies in the hour before: that is no evidence of itself,
// and the silence alerts. No window before it is flagged.
func TestBaselineSilenceAcrossTheHour(t *testing.T) {
	const bucket = 5 * time.Minute
	d := newGenericFlows(t)
	rng := rand.New(rand.NewPCG(43, 44))
	row := func() [][]source.Row { return [][]source.Row{{levelRow(d, "batch", 1e5*(0.9+0.2*rng.Float64()))}} }
	now := weekStart
	for end := weekStart.Add(3 * 24 * time.Hour); now.Before(end); now = now.Add(bucket) {
		d.(Learner).Learn(source.Window{Start: now, End: now.Add(bucket)}, row())
	}
	silent := weekStart.Add(3*24*time.Hour + 14*time.Hour + 55*time.Minute)
	var first time.Time
	for end := silent.Add(time.Hour); now.Before(end); now = now.Add(bucket) {
		rows := row()
		if !now.Before(silent) {
			rows = [][]source.Row{nil}
		}
		for _, v := range d.Judge(source.Window{Start: now, End: now.Add(bucket)}, rows) {
			if !v.Anomalous() {
				continue
			}
			if now.Before(silent) {
				t.Fatalf("%s: an ordinary window flagged: %s", now.Format("Mon 15:04"), v.Summary)
			}
			if first.IsZero() {
				first = now
			}
		}
	}
	if first.IsZero() || first.Sub(silent) > 15*time.Minute {
		t.Fatalf("the silence from %s: first alert %v, want within a quarter of an hour", silent.Format("Mon 15:04"), first.Format("Mon 15:04"))
	}
}
