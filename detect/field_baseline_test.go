package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestBaselineMeanOverFewerRecords: a mean (generic_l7's duration_mean)
// taken over fewer records than usual is judged against a spread widened
// by √(usual/records), so a quiet window's three records do not page
// someone for what six would; a slowdown still does, however few records
// carry it.
func TestBaselineMeanOverFewerRecords(t *testing.T) {
	const (
		usualMean    = 8e6 // ns
		usualRecords = 6
		noiseSigma   = 0.08 // window-to-window, on the logarithm
	)
	tests := []struct {
		name      string
		factor    float64 // the window's duration_mean over the usual
		records   float64
		anomalous bool
	}{
		{"a usual mean over the usual records", 1, usualRecords, false},
		{"a mean 1.7 times the usual over the usual records", 1.7, usualRecords, true},
		{"the same mean over half the usual records", 1.7, usualRecords / 2, false},
		{"a slowdown over one record", 250, 1, true},
		{"a slowdown over more records than usual", 250, 2 * usualRecords, true},
	}
	info, ok := Lookup("generic_l7")
	if !ok {
		t.Fatal("generic_l7 is not registered")
	}
	bucket := 5 * time.Minute
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := info.New(Options{Cluster: "c", Bucket: bucket, Params: map[string]string{"min_size_for_train": "0"}})
			if err != nil {
				t.Fatal(err)
			}
			metrics := d.Queries()[0].Metrics
			row := func(mean, records float64) source.Row {
				r := source.Row{Key: []string{"shop", "cart-*", "wep"}}
				for _, m := range metrics {
					v := 0.0
					switch m.Name {
					case "duration_mean":
						v = mean
					case "duration_max":
						v = 3 * usualMean
					case "count", "bytes_in", "bytes_out":
						v = 100
					case recordsMetric:
						v = records
					default:
						t.Fatalf("unexpected metric %q", m.Name)
					}
					r.Values = append(r.Values, v)
				}
				return r
			}
			if m := metrics[len(metrics)-1]; m.Name != recordsMetric || m.Kind != source.Count {
				t.Fatalf("last metric %+v, want the hidden count of records", m)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			start := weekStart
			judged := start.Add(3*24*time.Hour + 14*time.Hour)
			for tt := start; tt.Before(judged); tt = tt.Add(bucket) {
				w := source.Window{Start: tt, End: tt.Add(bucket)}
				d.(Learner).Learn(w, [][]source.Row{{row(usualMean*math.Exp(noiseSigma*rng.NormFloat64()), usualRecords)}})
			}
			w := source.Window{Start: judged, End: judged.Add(bucket)}
			vs := d.Judge(w, [][]source.Row{{row(usualMean*tc.factor, tc.records)}})
			if len(vs) != 1 {
				t.Fatalf("%d verdicts, want 1", len(vs))
			}
			v := vs[0]
			t.Logf("score %.3f: %s", v.Score, v.Summary)
			if v.Anomalous() != tc.anomalous {
				t.Errorf("anomalous %v, want %v: %s", v.Anomalous(), tc.anomalous, v.Summary)
			}
			if strings.Contains(v.Summary, "records") != (tc.records < usualRecords && strings.Contains(v.Summary, "duration_mean")) {
				t.Errorf("summary %q: the record count must be told exactly when it widened the spread of the mean", v.Summary)
			}
		})
	}
}

// BenchmarkGenericL7Judge is one window of 1,000 serving workloads judged
// by generic_l7 after three days of history learned every 20 minutes.
func BenchmarkGenericL7Judge(b *testing.B) {
	const entities = 1000
	bucket := 5 * time.Minute
	info, _ := Lookup("generic_l7")
	d, err := info.New(Options{Cluster: "c", Bucket: bucket, Params: map[string]string{"min_size_for_train": "0"}})
	if err != nil {
		b.Fatal(err)
	}
	metrics := d.Queries()[0].Metrics
	rng := rand.New(rand.NewPCG(3, 4))
	rows := func() [][]source.Row {
		out := make([]source.Row, entities)
		for i := range out {
			r := source.Row{Key: []string{"ns", fmt.Sprintf("w%d-*", i), "wep"}}
			for _, m := range metrics {
				v := 100 * math.Exp(0.2*rng.NormFloat64())
				if m.Kind == source.Count { // the count of records
					v = float64(3 + rng.IntN(5))
				}
				r.Values = append(r.Values, v)
			}
			out[i] = r
		}
		return [][]source.Row{out}
	}
	at := weekStart
	for ; at.Before(weekStart.Add(72 * time.Hour)); at = at.Add(20 * time.Minute) {
		d.(Learner).Learn(source.Window{Start: at, End: at.Add(bucket)}, rows())
	}
	w := source.Window{Start: at, End: at.Add(bucket)}
	judged := rows()
	if len(d.Judge(w, judged)) != entities {
		b.Fatal("the detector did not judge every entity")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d.Judge(w, judged)
	}
	b.ReportMetric(float64(b.N*entities)/b.Elapsed().Seconds(), "entities/s")
}

// TestBaselineForgetsLeastRecentEntities: under the engine's bound on
// entities, a baseline detector drops the baselines of the workloads seen
// least recently, and keeps judging the others.
func TestBaselineForgetsLeastRecentEntities(t *testing.T) {
	d := newGenericFlows(t)
	b, ok := d.(EntityBounded)
	if !ok {
		t.Fatal("generic_flows does not bound its entities")
	}
	metrics := d.Queries()[0].Metrics
	row := func(name string) source.Row {
		r := source.Row{Key: []string{"shop", name + "-*", "wep"}}
		for range metrics {
			r.Values = append(r.Values, 1000)
		}
		return r
	}
	start := weekStart
	for i, name := range []string{"a", "b", "c", "d"} {
		tt := start.Add(time.Duration(i) * 5 * time.Minute)
		d.(Learner).Learn(source.Window{Start: tt, End: tt.Add(5 * time.Minute)}, [][]source.Row{{row(name)}})
	}
	if n := b.LiveEntities(); n != 4 {
		t.Fatalf("%d live entities, want 4", n)
	}
	if gone := b.ForgetLeastRecent(2); gone != 2 {
		t.Fatalf("forgot %d, want 2", gone)
	}
	fb := d.(*fieldBaselines)
	for _, name := range []string{"a", "b"} {
		e := Entity{Cluster: "c", Namespace: "shop", Workload: name + "-*", Type: "wep"}
		if _, ok := fb.present[e.ModelKey()]; ok {
			t.Errorf("%s, among the least recent, is still followed", name)
		}
	}
	if n, keys := b.LiveEntities(), fb.model.Keys(); n != 2 || keys != 2*len(metrics) {
		t.Errorf("%d entities and %d baselines left, want 2 and %d", n, keys, 2*len(metrics))
	}
}

// TestBaselineJudgesFallsAndSilence: a workload that stops sending (no
// record at all) is judged as sending nothing: not on its first silent
// window, but once the silence has lasted 15 minutes; a steady neighbour
// is never flagged; and a burst the workload made two hours before does
// not alert again.
// steadyShop returns generic_flows after three days of two steady shop
// workloads, cart and frontend, each sending about 1e6 (±10%) a 5-minute
// window, the row of one of them at a level, and the time learning ended.
func steadyShop(t *testing.T, seed uint64) (Detector, func(name string, level float64) source.Row, time.Time) {
	t.Helper()
	d := newGenericFlows(t)
	metrics := d.Queries()[0].Metrics
	rng := rand.New(rand.NewPCG(seed, seed+1))
	row := func(name string, level float64) source.Row {
		r := source.Row{Key: []string{"shop", name + "-7d4f8b9c5d-*", "wep"}}
		for _, m := range metrics {
			v := level * (0.9 + 0.2*rng.Float64())
			if m.Kind == source.Max {
				v = 3
			}
			r.Values = append(r.Values, v)
		}
		return r
	}
	bucket := 5 * time.Minute
	now := weekStart
	for end := weekStart.Add(3 * 24 * time.Hour); now.Before(end); now = now.Add(bucket) {
		d.(Learner).Learn(source.Window{Start: now, End: now.Add(bucket)}, [][]source.Row{{row("cart", 1e6), row("frontend", 1e6)}})
	}
	return d, row, now
}

// levelRow is a flow row of workload in namespace shop with every field
// of d's query at v, and its maxima at 3.
func levelRow(d Detector, workload string, v float64) source.Row {
	r := source.Row{Key: []string{"shop", workload + "-7d4f8b9c5d-*", "wep"}}
	for _, m := range d.Queries()[0].Metrics {
		if m.Kind == source.Max {
			r.Values = append(r.Values, 3)
		} else {
			r.Values = append(r.Values, v)
		}
	}
	return r
}

// shopJudge judges the next window of steadyShop's detector at *now, the
// cart at its usual level and the frontend at frontend, and returns both
// verdicts.
func shopJudge(d Detector, row func(string, float64) source.Row, now *time.Time) func(frontend float64) (cart, front Verdict) {
	const bucket = 5 * time.Minute
	return func(frontend float64) (cart, front Verdict) {
		vs := d.Judge(source.Window{Start: *now, End: now.Add(bucket)}, [][]source.Row{{row("cart", 1e6), row("frontend", frontend)}})
		*now = now.Add(bucket)
		for _, v := range vs {
			if strings.HasPrefix(v.Entity.Workload, "cart") {
				cart = v
			} else {
				front = v
			}
		}
		return cart, front
	}
}

func TestBaselineJudgesFallsAndSilence(t *testing.T) {
	d, row, now := steadyShop(t, 9)
	bucket := 5 * time.Minute
	judge := func(rows ...source.Row) map[string]Verdict {
		vs := d.Judge(source.Window{Start: now, End: now.Add(bucket)}, [][]source.Row{rows})
		now = now.Add(bucket)
		out := map[string]Verdict{}
		for _, v := range vs {
			out[v.Entity.Workload] = v
		}
		return out
	}
	// A burst, then two normal hours, then a burst a third as large.
	if v := judge(row("cart", 1e6), row("frontend", 3e8))["frontend-7d4f8b9c5d-*"]; !v.Anomalous() {
		t.Fatalf("a 300-fold burst was not flagged: %s", v.Summary)
	}
	for range 24 {
		judge(row("cart", 1e6), row("frontend", 1e6))
	}
	if v := judge(row("cart", 1e6), row("frontend", 1e8))["frontend-7d4f8b9c5d-*"]; v.Anomalous() || !strings.Contains(v.Summary, "last 48 hours") {
		t.Errorf("the same burst two hours later: anomalous %v: %s", v.Anomalous(), v.Summary)
	}
	// frontend goes silent: no record at all.
	for i := range 4 {
		vs := judge(row("cart", 1e6))
		v, ok := vs["frontend-7d4f8b9c5d-*"]
		if !ok {
			t.Fatalf("silent window %d: the silent workload was not judged", i+1)
		}
		if want := i >= 2; v.Anomalous() != want {
			t.Errorf("silent window %d: anomalous %v, want %v: %s", i+1, v.Anomalous(), want, v.Summary)
		}
		if vs["cart-7d4f8b9c5d-*"].Anomalous() {
			t.Errorf("the steady neighbour was flagged: %s", vs["cart-7d4f8b9c5d-*"].Summary)
		}
	}
}

// TestBaselineBurstsOnABurstySeries: on a workload whose traffic swings
// tenfold within an hour (log-normal, a spread of 0.9 in logarithms), a
// window at twice anything of the last two days, many times its usual
// level, alerts although it lies within the learned spread's threshold;
// one just past its recent highest does not. A nightly job whose size
// varies up to twofold never alerts; one that triples its last runs does.
func TestBaselineBurstsOnABurstySeries(t *testing.T) {
	const bucket = 5 * time.Minute
	type setup struct {
		d     Detector
		now   time.Time
		high  float64 // highest value of the last 48 hours learned
		rng   *rand.Rand
		level func(t time.Time, rng *rand.Rand) float64
	}
	row := func(d Detector, v float64) source.Row { return levelRow(d, "api", v) }
	learn := func(t *testing.T, level func(time.Time, *rand.Rand) float64) *setup {
		d := newGenericFlows(t)
		s := &setup{d: d, now: weekStart, rng: rand.New(rand.NewPCG(21, 22)), level: level}
		for end := weekStart.Add(3 * 24 * time.Hour); s.now.Before(end); s.now = s.now.Add(bucket) {
			v := level(s.now, s.rng)
			if s.now.After(end.Add(-48 * time.Hour)) {
				s.high = max(s.high, v)
			}
			d.(Learner).Learn(source.Window{Start: s.now, End: s.now.Add(bucket)}, [][]source.Row{{row(d, v)}})
		}
		return s
	}
	judge := func(s *setup, v float64) Verdict {
		vs := s.d.Judge(source.Window{Start: s.now, End: s.now.Add(bucket)}, [][]source.Row{{row(s.d, v)}})
		s.now = s.now.Add(bucket)
		if len(vs) != 1 {
			t.Fatalf("%d verdicts, want 1", len(vs))
		}
		return vs[0]
	}
	bursty := func(_ time.Time, rng *rand.Rand) float64 { return 1e5 * math.Exp(0.9*rng.NormFloat64()) }
	for _, tc := range []struct {
		name   string
		times  float64 // of the highest value of the last 48 hours
		alerts bool
	}{
		{"twice its highest of two days", 2, true},
		{"a fifth past its highest of two days", 1.2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := learn(t, bursty)
			v := judge(s, tc.times*s.high)
			if v.Anomalous() != tc.alerts {
				t.Fatalf("%.3g (%.1f times the highest of two days): anomalous %v, want %v: %s", tc.times*s.high, tc.times, v.Anomalous(), tc.alerts, v.Summary)
			}
			if tc.alerts && !strings.Contains(v.Summary, "times the highest of the last 48 hours") {
				t.Errorf("the summary does not say why: %s", v.Summary)
			}
			if !tc.alerts && strings.Contains(v.Summary, "times the highest") {
				t.Errorf("a burst within range is reported as one: %s", v.Summary)
			}
		})
	}
	t.Run("a nightly job of varying size", func(t *testing.T) {
		// The job runs at 02:00-02:15; size is its size on the night being
		// made, in units of job.
		const job = 3e7
		size := 1.0
		nightly := func(t time.Time, rng *rand.Rand) float64 {
			if t.Hour() == 2 && t.Minute() < 15 {
				return job * size
			}
			return 1e5 * (0.8 + 0.4*rng.Float64())
		}
		s := learn(t, nightly)
		for night, tc := range []struct {
			size   float64
			alerts bool
		}{
			{1, false},
			{1.9, false}, // past the 48 hours' highest by half, but under twice its last runs
			{1, false},
			{3 * 1.9, true},
		} {
			size = tc.size
			alerted := ""
			for end := s.now.Add(24 * time.Hour); s.now.Before(end); {
				at := s.now
				if v := judge(s, nightly(at, s.rng)); v.Anomalous() && alerted == "" {
					alerted = at.Format("Mon 15:04") + ": " + v.Summary
				}
			}
			if (alerted != "") != tc.alerts {
				t.Errorf("night %d, the job %.1f times its usual size: alerted %v, want %v %s", night+1, tc.size, alerted != "", tc.alerts, alerted)
			}
		}
	})
}

// TestBaselineSustainedRise: a steady workload that sends a fifth more
// than usual for two hours of an afternoon, each window within ±10% of
// the new level: no window is past the threshold alone, but the hour's
// mean is (or the hours' drift, later on), the verdict says so, and the
// window is learned; its steady neighbour, and the workload on an
// ordinary afternoon before, are not flagged.
func TestBaselineSustainedRise(t *testing.T) {
	d, row, now := steadyShop(t, 31)
	judge := shopJudge(d, row, &now)
	// An ordinary day up to 14:00.
	for now.Hour() < 14 || now.Before(weekStart.Add(3*24*time.Hour+time.Hour)) {
		cart, front := judge(1e6)
		if cart.Anomalous() || front.Anomalous() {
			t.Fatalf("an ordinary window at %s flagged: %s / %s", now.Format("Mon 15:04"), cart.Summary, front.Summary)
		}
	}
	// A window alerted only by its hour is within its own threshold and is
	// learned like an ordinary one: every field of both rows adds a sample.
	baselines := d.(*fieldBaselines)
	before := baselines.model.Samples()
	judge(1e6)
	perWindow := baselines.model.Samples() - before
	found := false
	for i := range 24 {
		before := baselines.model.Samples()
		cart, front := judge(1.2e6)
		if learned := baselines.model.Samples() - before; front.Anomalous() && learned != perWindow {
			t.Errorf("window %d, flagged by its hour: %d samples learned, an ordinary window learns %d", i, learned, perWindow)
		}
		if cart.Anomalous() {
			t.Errorf("the steady neighbour flagged: %s", cart.Summary)
		}
		if !front.Anomalous() {
			continue
		}
		switch {
		case strings.Contains(front.Summary, "has run above its usual level for hours"):
			// the hours before, together (model.Seasonal.Drift)
		case !strings.Contains(front.Summary, "over the last") || !strings.Contains(front.Summary, "spreads of an hour's mean"):
			t.Errorf("window %d: flagged, but not as an hour's mean: %s", i, front.Summary)
		case front.Observed < 1.1e6 || front.Observed > 1.3e6:
			t.Errorf("observed %.3g, want the hour's mean, about 1.2e6", front.Observed)
		}
		found = true
	}
	if !found {
		t.Error("two hours a fifth above the usual level were never flagged")
	}
}

// TestBaselineSustainedFall: a service answering 15% less all afternoon,
// each window within its own spread. On the fourth day, before the week
// is known, it is no anomaly (a first quiet weekend looks the same);
// once each hour is known on the seven days before, the hour's mean or
// the drift of the hours flags it, below, and the steady neighbour and
// the ordinary days between stay quiet.
func TestBaselineSustainedFall(t *testing.T) {
	d, row, now := steadyShop(t, 41)
	judge := shopJudge(d, row, &now)
	afternoon := func(day int) time.Time { return weekStart.Add(time.Duration(day)*24*time.Hour + 14*time.Hour) }
	ordinaryUntil := func(end time.Time) {
		for now.Before(end) {
			if cart, front := judge(1e6); cart.Anomalous() || front.Anomalous() {
				t.Fatalf("an ordinary window at %s flagged: %s / %s", now.Format("Mon 15:04"), cart.Summary, front.Summary)
			}
		}
	}
	fall := func() (flagged int, first Verdict) {
		for end := now.Add(4 * time.Hour); now.Before(end); {
			cart, front := judge(0.85e6)
			if cart.Anomalous() {
				t.Errorf("the steady neighbour flagged: %s", cart.Summary)
			}
			if front.Anomalous() {
				if flagged == 0 {
					first = front
				}
				flagged++
			}
		}
		return flagged, first
	}
	ordinaryUntil(afternoon(3))
	if n, v := fall(); n > 0 {
		t.Fatalf("fourth day, before the week is known: the fall flagged %d windows: %s", n, v.Summary)
	}
	ordinaryUntil(afternoon(9))
	n, v := fall()
	if n == 0 {
		t.Fatal("four hours 15% below the usual level, the week known: never flagged")
	}
	t.Logf("flagged %d windows, first: %s", n, v.Summary)
	switch {
	case strings.Contains(v.Summary, "has run below its usual level for hours"):
	case strings.Contains(v.Summary, "spreads of an hour's mean") && strings.Contains(v.Summary, "(-"):
	default:
		t.Errorf("flagged, but not as a fall of the hour's mean or of the hours together: %s", v.Summary)
	}
	if strings.Contains(v.Summary, "quietest") {
		t.Errorf("an hour judged against its own baseline says it was measured from the quietest hour: %s", v.Summary)
	}
}

// newGenericFlows is generic_flows judging 5-minute windows from its
// first one (no minimum of learned windows), as the baseline tests use it.
func newGenericFlows(t *testing.T) Detector {
	t.Helper()
	info, _ := Lookup("generic_flows")
	d, err := info.New(Options{Cluster: "c", Bucket: 5 * time.Minute, Params: map[string]string{"min_size_for_train": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBaselineDenserKnownBursts: a workload that bursts to thirty times
// its level for one window at three hours of each day, a different three
// every day. Each burst is beyond the threshold, and known: bursts as
// high came before. Two ordinary days judged are not flagged; a night of
// bursts in every other window, none higher than before, is, within
// four hours, by the drift of its hours (model.Seasonal.Drift): each
// burst is known, their number is not.
func TestBaselineDenserKnownBursts(t *testing.T) {
	const bucket = 5 * time.Minute
	d := newGenericFlows(t)
	rng := rand.New(rand.NewPCG(41, 42))
	level := func(at time.Time, burst bool) float64 {
		v := 1e5 * (0.9 + 0.2*rng.Float64())
		if burst {
			v *= 30
		}
		return v
	}
	day := func(at time.Time) int { return int(at.Sub(weekStart) / (24 * time.Hour)) }
	ordinaryBurst := func(at time.Time) bool {
		n := day(at)
		return at.Minute() == 0 && (at.Hour() == (2+5*n)%24 || at.Hour() == (9+7*n)%24 || at.Hour() == (17+3*n)%24)
	}
	now := weekStart
	for end := weekStart.Add(3 * 24 * time.Hour); now.Before(end); now = now.Add(bucket) {
		d.(Learner).Learn(source.Window{Start: now, End: now.Add(bucket)}, [][]source.Row{{levelRow(d, "api", level(now, ordinaryBurst(now)))}})
	}
	judge := func(burst bool) Verdict {
		vs := d.Judge(source.Window{Start: now, End: now.Add(bucket)}, [][]source.Row{{levelRow(d, "api", level(now, burst))}})
		now = now.Add(bucket)
		if len(vs) != 1 {
			t.Fatalf("%d verdicts, want 1", len(vs))
		}
		return vs[0]
	}
	known := 0
	for end := now.Add(2 * 24 * time.Hour); now.Before(end); {
		at, burst := now, ordinaryBurst(now)
		v := judge(burst)
		if v.Anomalous() {
			t.Fatalf("an ordinary day, %s: flagged: %s", at.Format("Mon 15:04"), v.Summary)
		}
		if burst && strings.Contains(v.Summary, "not alerting: it showed a deviation as large") {
			known++
		}
	}
	if known == 0 {
		t.Fatal("no burst of the ordinary days is known behaviour beyond the threshold: not the case this test is about")
	}
	for now.Hour() != 1 {
		judge(false)
	}
	found := ""
	for end := now.Add(4 * time.Hour); now.Before(end) && found == ""; {
		at := now
		if v := judge(at.Minute()%10 == 0); v.Anomalous() {
			found = at.Format("15:04") + ": " + v.Summary
			if !strings.Contains(v.Summary, "has run above its usual level for hours") {
				t.Errorf("flagged, but not by the drift of its hours: %s", v.Summary)
			}
		}
	}
	t.Logf("%d known bursts on the ordinary days; the night of bursts: %s", known, found)
	if found == "" {
		t.Error("four hours of bursts in every other window were never flagged")
	}
}
