package detect

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// scanDays is the simulated cluster of the scan detectors' test: a
// blackbox prober in normal traffic, two normal days, then an attack day
// with every scan scenario of the library and the prober itself sweeping
// far more than usual, fast and slow. It returns the cluster, the attack
// day and the end.
func scanDays() (*simulate.Cluster, time.Time, time.Time) {
	const days = 3
	start := weekStart
	attackDay := start.Add((days - 1) * 24 * time.Hour)
	plan := []struct {
		entry string
		hour  time.Duration
	}{
		{"port_scan_fast", 2}, {"ip_sweep", 4}, {"port_scan_slow", 6}, {"ip_sweep_slow", 9},
		{"port_scan_outside", 12}, {"ip_sweep_outside_slow", 15},
	}
	probe := simulate.New(simulate.Options{Seed: 17, Prober: true})
	var scs []simulate.Scenario
	for _, p := range plan {
		spec, err := simulate.LookupScenario(p.entry)
		if err != nil {
			panic(err)
		}
		scs = append(scs, spec.New(probe, attackDay.Add(p.hour*time.Hour), 2*time.Hour)...)
	}
	scs = append(scs,
		simulate.IPSweep{At: attackDay.Add(18*time.Hour + 3*time.Minute), Namespace: simulate.ProberNamespace, Workload: simulate.ProberWorkload,
			CIDR: "10.244.7.0/24", Port: 22},
		// The prober usually reaches about 40 addresses, so its learned
		// limit is about 80: its slow sweep must be found once it has
		// added about as many again.
		simulate.IPSweep{At: attackDay.Add(20*time.Hour + 1*time.Minute), Duration: time.Hour, LabelFrom: 45, Namespace: simulate.ProberNamespace,
			Workload: simulate.ProberWorkload, CIDR: "10.244.8.0/24", Port: 3389},
	)
	return simulate.New(simulate.Options{Seed: 17, Prober: true}, scs...), attackDay, start.Add(days * 24 * time.Hour)
}

// scanRun is what one detector did over the scan days.
type scanRun struct {
	detector, mode string
	judged         int
	// normalFlags are anomalous verdicts on the normal days, by entity;
	// attackFlags those of the attack day that no label explains.
	normalFlags, attackFlags map[string]int
	proberFlags              int // anomalous verdicts on the prober outside its attack
	firstProberFlag          time.Time
	lastProberFlag           time.Time
	// scenarios are the attack day's labels by scenario and entity, in
	// window order, with whether the detector found each.
	scenarios map[string][]scanHit
	examples  []string
}

type scanHit struct {
	window source.Window
	found  bool
	// verdict is the anomalous verdict that found it.
	verdict Verdict
}

var (
	scanRunsOnce sync.Once
	scanRuns     []*scanRun
	scanRunsErr  error
)

// historyMode is the engine started with --train.lookback=24h on the
// second day: the detectors, ready at once but with an empty model, learn
// the first day before judging.
const historyMode = "a day of history at start"

// runScanDays plays the scan days through port_scan and ip_sweep, as the
// engine does, with their default settings, in two modes: started with a
// day of history to learn (historyMode), and judging from the first
// window with no history.
func runScanDays() ([]*scanRun, error) {
	scanRunsOnce.Do(func() {
		c, attackDay, end := scanDays()
		src := simulate.NewSourceWithRetention(c, time.Hour)
		prober := c.Workload(simulate.ProberNamespace, simulate.ProberWorkload).NameAggr()
		type instance struct {
			d   Detector
			run *scanRun
			// history is the end of the history the engine feeds at start
			// (learnHistory, for a model that wants it).
			history time.Time
		}
		var insts []instance
		for _, name := range []string{"port_scan", "ip_sweep"} {
			for _, mode := range []string{historyMode, "no history"} {
				info, _ := Lookup(name)
				d, err := info.New(Options{Cluster: c.Name(), Bucket: c.Bucket()})
				if err != nil {
					scanRunsErr = err
					return
				}
				run := &scanRun{detector: name, mode: mode, normalFlags: map[string]int{}, attackFlags: map[string]int{}, scenarios: map[string][]scanHit{}}
				in := instance{d: d, run: run}
				if mode == historyMode && d.(HistoryLearner).WantsHistory() {
					in.history = weekStart.Add(24 * time.Hour)
				}
				insts = append(insts, in)
				scanRuns = append(scanRuns, run)
			}
		}
		ctx := context.Background()
		rowsOf := map[string][][]source.Row{}
		for t := weekStart; t.Before(end); t = t.Add(c.Bucket()) {
			w := source.Window{Start: t, End: t.Add(c.Bucket())}
			labels := c.Truth(w)
			clear(rowsOf)
			for _, in := range insts {
				name := in.d.Name()
				if rowsOf[name] == nil {
					for _, q := range in.d.Queries() {
						r, err := src.Aggregate(ctx, w, q)
						if err != nil {
							scanRunsErr = err
							return
						}
						rowsOf[name] = append(rowsOf[name], r)
					}
				}
				rows, run := rowsOf[name], in.run
				var vs []Verdict
				if !in.d.Ready() || w.Start.Before(in.history) {
					in.d.(Learner).Learn(w, rows)
				} else {
					vs = in.d.Judge(w, rows)
					run.judged++
				}
				found := map[int]Verdict{}
				for _, v := range vs {
					if !v.Anomalous() {
						continue
					}
					if match := testkit.Match(name, labels, judgement(v)); match >= 0 {
						found[match] = v
						continue
					}
					if underAttack(labels, v) {
						continue // a slow scan's early windows: finding it is no false alarm
					}
					if v.Entity.Workload == prober {
						run.proberFlags++
						if run.firstProberFlag.IsZero() {
							run.firstProberFlag = w.Start
						}
						run.lastProberFlag = w.Start
					}
					if w.Start.Before(attackDay) {
						run.normalFlags[v.Entity.Key()]++
					} else {
						run.attackFlags[v.Entity.Key()]++
					}
					if len(run.examples) < 5 {
						run.examples = append(run.examples, w.Start.Format("Mon 15:04")+" "+v.Summary)
					}
				}
				for i, l := range labels {
					if !testkit.Names(l, name) {
						continue
					}
					// One attack is a run of consecutive labelled windows of
					// the same scenario and entity; a later run is another.
					base := l.Scenario + " from " + l.Namespace + "/" + l.Workload
					key := base
					for n := 2; ; n++ {
						hits := run.scenarios[key]
						if len(hits) == 0 || hits[len(hits)-1].window.End.Equal(l.Window.Start) {
							break
						}
						key = fmt.Sprintf("%s (#%d)", base, n)
					}
					v, ok := found[i]
					run.scenarios[key] = append(run.scenarios[key], scanHit{window: l.Window, found: ok, verdict: v})
				}
			}
		}
	})
	return scanRuns, scanRunsErr
}

// TestScanDetectorsOnSimulatedDays: every scan of the attack day is found
// in every window its labels name the detector (a slow scan from the
// window it has probed as many values as the slow threshold on; finding it
// earlier is no false alarm), the prober is never flagged once its history is
// known, and normal days raise no verdict (without history, but the
// prober's first 72 windows).
func TestScanDetectorsOnSimulatedDays(t *testing.T) {
	if testing.Short() {
		t.Skip("plays three simulated days")
	}
	runs, err := runScanDays()
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range runs {
		t.Run(run.detector+" "+run.mode, func(t *testing.T) {
			normal, attack := total(run.normalFlags), total(run.attackFlags)
			t.Logf("judged %d windows; anomalous verdicts no label explains: %d on the normal days, %d on the attack day; the prober flagged in %d windows",
				run.judged, normal, attack, run.proberFlags)
			for _, ex := range run.examples {
				t.Logf("  %s", ex)
			}
			if run.judged == 0 {
				t.Fatal("never judged")
			}
			if len(run.scenarios) == 0 {
				t.Fatal("no scenario for this detector")
			}
			keys := make([]string, 0, len(run.scenarios))
			for k := range run.scenarios {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				hits := run.scenarios[k]
				first, found := -1, 0
				for i, h := range hits {
					if h.found {
						found++
						if first < 0 {
							first = i
						}
					}
				}
				t.Logf("%s: found in %d of %d windows, first in window %d", k, found, len(hits), first+1)
				if first >= 0 {
					v := hits[first].verdict
					t.Logf("  %s", v.Summary)
					if v.Entity.Type == "net" {
						// The address is in the summary and the evidence, never the entity.
						ip := v.EvidenceQuery[0].Filters[len(v.EvidenceQuery[0].Filters)-1]
						if ip.Field != "source_ip" || len(ip.Values) != 1 || !strings.Contains(v.Summary, ip.Values[0]) {
							t.Errorf("%s: the outside address is not in the evidence query and summary: %+v %s", k, v.EvidenceQuery, v.Summary)
						}
					}
				}
				for _, h := range hits {
					if !h.found {
						t.Errorf("%s: not found in %s", k, h.window)
					}
				}
			}
			if attack > 0 {
				t.Errorf("%d anomalous verdicts on the attack day that no label explains: %v", attack, run.attackFlags)
			}
			if run.mode != historyMode {
				// With no history the prober is judged by Calico's threshold
				// until min_history_windows (72) windows of it are known.
				if run.proberFlags > 72 || !run.lastProberFlag.IsZero() && run.lastProberFlag.After(weekStart.Add(6*time.Hour)) {
					t.Errorf("the prober flagged in %d windows, the last at %s; want only its first 72 windows", run.proberFlags, run.lastProberFlag)
				}
				if normal != run.proberFlags {
					t.Errorf("normal days: %d anomalous verdicts, %d of them the prober's first hours: %v", normal, run.proberFlags, run.normalFlags)
				}
				if run.proberFlags > 0 {
					t.Logf("without history, the prober was flagged from %s to %s", run.firstProberFlag.Format("Mon 15:04"), run.lastProberFlag.Format("Mon 15:04"))
				}
				return
			}
			if run.proberFlags > 0 {
				t.Errorf("the prober was flagged in %d windows", run.proberFlags)
			}
			if normal > 0 {
				t.Errorf("%d anomalous verdicts on the normal day: %v", normal, run.normalFlags)
			}
		})
	}
}

// underAttack reports whether a label, naming a detector or none, marks
// the verdict's entity as under attack in the window.
func underAttack(labels []simulate.Label, v Verdict) bool {
	for _, l := range labels {
		if l.Namespace == v.Entity.Namespace && l.Workload == v.Entity.Workload && l.Type == v.Entity.Type {
			return true
		}
	}
	return false
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
