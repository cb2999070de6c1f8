package detect

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// TestExpectedWindowsMoveTheBaseline: a workload whose l7 duration moves
// to three times its usual level at 14:00 each day is anomalous; once a
// user marks it expected, the windows judged anomalous are learned as
// normal, so the following days score lower than the same days judged by
// a model that was never told (which keeps anomalous windows out).
func TestExpectedWindowsMoveTheBaseline(t *testing.T) {
	const usual = 8e6
	info, _ := Lookup("generic_l7")
	bucket := 5 * time.Minute
	run := func(feedback bool) (anomalous map[int]int, scores map[int]float64) {
		d, err := info.New(Options{Cluster: "c", Bucket: bucket, Params: map[string]string{"min_size_for_train": "0"}})
		if err != nil {
			t.Fatal(err)
		}
		l, ok := d.(ExpectedLearner)
		if !ok {
			t.Fatal("generic_l7 does not learn expected windows")
		}
		metrics := d.Queries()[0].Metrics
		row := func(mean float64) source.Row {
			r := source.Row{Key: []string{"shop", "cart-*", "wep"}}
			for _, m := range metrics {
				v := 100.0
				switch m.Name {
				case "duration_mean":
					v = mean
				case "duration_max":
					v = 3 * mean
				case recordsMetric:
					v = 6
				}
				r.Values = append(r.Values, v)
			}
			return r
		}
		rng := rand.New(rand.NewPCG(3, 4))
		noisy := func(level float64) float64 { return level * math.Exp(0.08*rng.NormFloat64()) }
		for tt := weekStart; tt.Before(weekStart.Add(3 * 24 * time.Hour)); tt = tt.Add(bucket) {
			d.(Learner).Learn(source.Window{Start: tt, End: tt.Add(bucket)}, [][]source.Row{{row(noisy(usual))}})
		}
		other := Entity{Cluster: "c", Namespace: "shop", Workload: "other-*", Type: "wep"}
		if l.LearnExpected(source.Window{Start: weekStart, End: weekStart.Add(bucket)}, [][]source.Row{{row(usual)}}, other) {
			t.Errorf("LearnExpected reports rows of an entity the window does not hold")
		}
		anomalous, scores = map[int]int{}, map[int]float64{}
		// Days 3 and 6: three days apart, so the new level of day 3 is
		// not among the last 48 hours' extremes on day 6 (Seen) and the
		// baseline alone decides.
		for _, day := range []int{3, 6} {
			from := weekStart.Add(time.Duration(day)*24*time.Hour + 14*time.Hour)
			for tt := from; tt.Before(from.Add(time.Hour)); tt = tt.Add(bucket) {
				w := source.Window{Start: tt, End: tt.Add(bucket)}
				rows := [][]source.Row{{row(noisy(3 * usual))}}
				for _, v := range d.Judge(w, rows) {
					scores[day] += v.Score
					if v.Anomalous() {
						anomalous[day]++
						if feedback && !l.LearnExpected(w, rows, v.Entity) {
							t.Fatalf("LearnExpected found no row of %s", v.Entity.Key())
						}
					}
				}
			}
		}
		return anomalous, scores
	}
	toldA, toldS := run(true)
	neverA, neverS := run(false)
	if toldA[3] == 0 || neverA[3] == 0 {
		t.Fatalf("the new level was never anomalous (%v, %v): the test shows nothing", toldA, neverA)
	}
	if toldA[6] > neverA[6] || !(toldS[6] < neverS[6]) {
		t.Errorf("day 6 after the feedback: %d anomalous windows, scores %.2f; never told: %d, %.2f; want fewer and lower",
			toldA[6], toldS[6], neverA[6], neverS[6])
	}
}
