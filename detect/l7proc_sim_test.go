package detect

import (
	"sync"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
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

// playL7procDays is playDays with each detector's score margin.
func playL7procDays(c *simulate.Cluster, start, end time.Time, names []string) (map[string]*weekResult, map[string]*scoreMargin, error) {
	margins := map[string]*scoreMargin{}
	for _, name := range names {
		margins[name] = &scoreMargin{attackMin: 1}
	}
	results, err := playDays(c, start, end, names, Options{Seed: 1}, func(j judgedWindow) {
		m := margins[j.detector.Name()]
		for i, v := range j.verdicts {
			match := j.matches[i]
			if match < 0 && v.Score > m.normalMax {
				m.normalMax, m.normalAt = v.Score, v.Window.Start.Format("Mon 15:04")+" "+v.Entity.Key()
			}
			if match >= 0 && v.Score < m.attackMin {
				m.attackMin = v.Score
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return results, margins, nil
}

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
			days := res.JudgedDays(end)
			perHundredPerDay := res.FalseAlertsPer100WorkloadsPerDay(end)
			t.Logf("%s: judged %d windows over %.1f days, %d entities; true positives %d, false positives %d (%.2f per 100 entities per day), missed %d; precision %.3f recall %.3f",
				name, res.JudgedWindows, days, len(res.Entities), res.TP, res.FP, perHundredPerDay, res.FN,
				res.Precision(), res.Recall())
			if res.JudgedWindows == 0 {
				t.Fatal("the detector never became ready")
			}
			if res.TP == 0 {
				t.Error("found none of its attacks")
			}
			for _, l := range res.Missed {
				t.Errorf("missed %s on %s/%s/%s in %s", l.Scenario, l.Namespace, l.Workload, l.Type, l.Window)
			}
			m := l7procMargins[name]
			t.Logf("%s: highest score of a normal entity %.4f (%s), lowest score of an attack %.4f",
				name, m.normalMax, m.normalAt, m.attackMin)
			for i, v := range res.False {
				if i < 10 {
					t.Logf("false positive %s %s: %s (score %.3f)", v.Window.Start.Format("Mon 15:04"), v.Entity.Key(), v.Summary, v.Score)
				}
			}
			if res.FP > 0 && perHundredPerDay >= 1 {
				t.Errorf("%.2f false verdicts per 100 entities per day, want fewer than 1", perHundredPerDay)
			}
		})
	}
}
