package detect

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// The HTTP and process detectors, judged on simulated days where the
// answer is known.
var l7procDetectors = []string{
	"http_connection_spike", "http_response_codes", "http_verbs", "process_restarts", "process_bytes",
}

// l7procDays is how many days the simulation plays: learning days with the
// simulator's daily curve, then on the last day the attacks.
const l7procDays = 5

// l7procCluster is the simulated cluster of the test: a default cluster
// with more namespaces than the catalogue (so more workloads judge the
// false alert rate), HTTP services with a realistic mix of methods and
// codes, two workloads that recycle their worker processes all day, and on
// the last day one attack of each scenario, each on its own hour.
func l7procCluster() (*simulate.Cluster, time.Time, time.Time) {
	start := weekStart
	attackDay := start.Add((l7procDays - 1) * 24 * time.Hour)
	at := func(h, m int) time.Time {
		return attackDay.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	scs := []simulate.Scenario{
		simulate.HTTPBackground{},
		simulate.ProcessRecycling{Namespace: "payments", Workload: "fraud-check", Every: 10 * time.Minute},
		simulate.ProcessRecycling{Namespace: "team-1", Workload: "worker", Every: 25 * time.Minute},
		simulate.HTTPRequests{Kind: simulate.KindHTTPSpike, At: at(10, 0), Duration: 10 * time.Minute,
			Namespace: "shop", Workload: "cart", Requests: 40000, URL: "/cart"},
		simulate.HTTPRequests{Kind: simulate.KindHTTPSpike, At: at(3, 0),
			Namespace: "shop", Workload: "frontend", Requests: 6000, URL: "/"},
		simulate.HTTPErrorStorm{At: at(11, 0), Namespace: "shop", Workload: "frontend", Fraction: 0.9, Code: "503"},
		simulate.HTTPRequests{Kind: simulate.KindHTTPVerbEnumeration, At: at(12, 0), Namespace: "shop", Workload: "frontend",
			Requests: 90, Methods: []string{"OPTIONS", "TRACE", "CONNECT"}, Code: "405"},
		simulate.CrashLoop{At: at(14, 0).Add(20 * time.Second), Namespace: "shop", Workload: "checkout"},
		simulate.CrashLoop{At: at(17, 0).Add(20 * time.Second), Namespace: "payments", Workload: "ledger", Aggregated: true},
		simulate.ProcessTransfer{At: at(15, 0), Namespace: "payments", Workload: "postgres", Process: "/usr/bin/curl", Bytes: 800 << 20},
		simulate.ProcessTransfer{At: at(16, 0), Namespace: "shop", Workload: "cart", Bytes: 2 << 30},
	}
	c := simulate.New(simulate.Options{Seed: 23, Namespaces: 6}, scs...)
	return c, start, start.Add(l7procDays * 24 * time.Hour)
}

var (
	l7procOnce    sync.Once
	l7procResults map[string]*weekResult
	l7procMargins map[string]*scoreMargin
	l7procErr     error
)

// scoreMargin is how far apart a detector's scores of normal entities and
// of its attacks lay: the highest score of a verdict no label asked for,
// and the lowest score of a labelled one.
type scoreMargin struct {
	normalMax float64
	normalAt  string
	attackMin float64
}

// runL7procDays plays the simulated days through the detectors as the
// engine does (Learn while not ready, Judge once ready) and scores their
// anomalous verdicts against the labels.
func runL7procDays() (map[string]*weekResult, error) {
	l7procOnce.Do(func() {
		c, start, end := l7procCluster()
		l7procResults, l7procMargins, l7procErr = playL7procDays(c, start, end, l7procDetectors)
	})
	return l7procResults, l7procErr
}

func playL7procDays(c *simulate.Cluster, start, end time.Time, names []string) (map[string]*weekResult, map[string]*scoreMargin, error) {
	src := simulate.NewSourceWithRetention(c, time.Hour)
	bucket := c.Bucket()
	var dets []Detector
	results := map[string]*weekResult{}
	margins := map[string]*scoreMargin{}
	for _, name := range names {
		info, ok := Lookup(name)
		if !ok {
			return nil, nil, errUnknown(name)
		}
		d, err := info.New(Options{Cluster: c.Name(), Bucket: bucket, Seed: 1})
		if err != nil {
			return nil, nil, err
		}
		dets = append(dets, d)
		results[name] = &weekResult{entities: map[string]bool{}}
		margins[name] = &scoreMargin{attackMin: 1}
	}
	ctx := context.Background()
	for t := start; t.Before(end); t = t.Add(bucket) {
		w := source.Window{Start: t, End: t.Add(bucket)}
		labels := c.Truth(w)
		for _, d := range dets {
			qs := d.Queries()
			rows := make([][]source.Row, len(qs))
			for i, q := range qs {
				r, err := src.Aggregate(ctx, w, q)
				if err != nil {
					return nil, nil, err
				}
				rows[i] = r
			}
			res := results[d.Name()]
			if !d.Ready() {
				d.(Learner).Learn(w, rows)
				for _, l := range labels {
					if hasDetector(l, d.Name()) {
						res.fn++
						res.missed = append(res.missed, l)
					}
				}
				continue
			}
			vs := d.Judge(w, rows)
			res.judgedWindows++
			if len(vs) > 0 && res.firstVerdict.IsZero() {
				res.firstVerdict = w.Start
			}
			found := map[int]bool{}
			for _, v := range vs {
				res.entities[v.Entity.Key()] = true
				match := -1
				for i, l := range labels {
					if hasDetector(l, d.Name()) && l.Namespace == v.Entity.Namespace && l.Workload == v.Entity.Workload && l.Type == v.Entity.Type {
						match = i
					}
				}
				m := margins[d.Name()]
				if match < 0 && v.Score > m.normalMax {
					m.normalMax, m.normalAt = v.Score, v.Window.Start.Format("Mon 15:04")+" "+v.Entity.Key()
				}
				if match >= 0 && v.Score < m.attackMin {
					m.attackMin = v.Score
				}
				if !v.Anomalous() {
					continue
				}
				if match < 0 {
					res.fp++
					res.fpVerdicts = append(res.fpVerdicts, v)
					continue
				}
				found[match] = true
			}
			for i, l := range labels {
				if !hasDetector(l, d.Name()) {
					continue
				}
				if found[i] {
					res.tp++
				} else {
					res.fn++
					res.missed = append(res.missed, l)
				}
			}
		}
	}
	return results, margins, nil
}

type errUnknown string

func (e errUnknown) Error() string { return "no detector " + string(e) }

// TestHTTPAndProcessDetectorsOnSimulatedDays: each detector finds its
// attacks in their windows, and normal days with daily patterns raise
// fewer than one false verdict per 100 workloads per day from each.
func TestHTTPAndProcessDetectorsOnSimulatedDays(t *testing.T) {
	if testing.Short() {
		t.Skip("plays several simulated days")
	}
	results, err := runL7procDays()
	if err != nil {
		t.Fatal(err)
	}
	_, _, end := l7procCluster()
	for _, name := range l7procDetectors {
		res := results[name]
		t.Run(name, func(t *testing.T) {
			days := 0.0
			if !res.firstVerdict.IsZero() {
				days = end.Sub(res.firstVerdict).Hours() / 24
			}
			perHundredPerDay := 0.0
			if days > 0 && len(res.entities) > 0 {
				perHundredPerDay = float64(res.fp) / (float64(len(res.entities)) / 100) / days
			}
			t.Logf("%s: judged %d windows over %.1f days, %d entities; true positives %d, false positives %d (%.2f per 100 entities per day), missed %d; precision %.3f recall %.3f",
				name, res.judgedWindows, days, len(res.entities), res.tp, res.fp, perHundredPerDay, res.fn,
				ratio(res.tp, res.tp+res.fp), ratio(res.tp, res.tp+res.fn))
			if res.judgedWindows == 0 {
				t.Fatal("the detector never became ready")
			}
			if res.tp == 0 {
				t.Error("found none of its attacks")
			}
			for _, l := range res.missed {
				t.Errorf("missed %s on %s/%s/%s in %s", l.Scenario, l.Namespace, l.Workload, l.Type, l.Window)
			}
			m := l7procMargins[name]
			t.Logf("%s: highest score of a normal entity %.4f (%s), lowest score of an attack %.4f",
				name, m.normalMax, m.normalAt, m.attackMin)
			for i, v := range res.fpVerdicts {
				if i < 10 {
					t.Logf("false positive %s %s: %s (score %.3f)", v.Window.Start.Format("Mon 15:04"), v.Entity.Key(), v.Summary, v.Score)
				}
			}
			if res.fp > 0 && perHundredPerDay >= 1 {
				t.Errorf("%.2f false verdicts per 100 entities per day, want fewer than 1", perHundredPerDay)
			}
		})
	}
}
