package detect

import (
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
)

// lifeDetectors are judged on simulated normal life, where every verdict
// is a false one.
var lifeDetectors = []string{"process_bytes", "generic_l7"}

// TestDetectorsOnSimulatedLife: with the simulator's normal life
// (quieter weekends, rollouts, the nightly backup, the morning load and
// the Sunday 03:00 weekly-report CronJob), a detector that learned from
// the Sunday before raises no verdict in a judged week that holds the
// job's next run: a weekly job seen at the same hour last week is normal.
func TestDetectorsOnSimulatedLife(t *testing.T) {
	if testing.Short() {
		t.Skip("plays several simulated days")
	}
	// From a Sunday (the job's first run is learned) to the Tuesday nine
	// days later: the detectors are ready after about two days, so they
	// judge seven days, the second Sunday among them.
	start := weekStart.Add(6 * 24 * time.Hour)
	if start.Weekday() != time.Sunday {
		t.Fatalf("the simulation starts on %s, want a Sunday", start.Weekday())
	}
	end := start.Add(9 * 24 * time.Hour)
	run, ok := simulate.WeeklyJobRun(start.Add(7*24*time.Hour + 3*time.Hour))
	if !ok {
		t.Fatal("no weekly job run on the second Sunday at 03:00")
	}
	c := simulate.New(simulate.Options{Seed: 1, Life: true})
	results, margins, err := playL7procDays(c, start, end, lifeDetectors)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range lifeDetectors {
		t.Run(name, func(t *testing.T) {
			res := results[name]
			if res.FirstVerdict.IsZero() || !res.FirstVerdict.Before(run) {
				t.Fatalf("first verdict at %v: the detector did not judge the weekly job's run at %s", res.FirstVerdict, run)
			}
			days := end.Sub(res.FirstVerdict).Hours() / 24
			t.Logf("%s: judged %d windows over %.1f days, %d entities; %d false verdicts; highest score %.4f (%s)",
				name, res.JudgedWindows, days, len(res.Entities), res.FP, margins[name].normalMax, margins[name].normalAt)
			if days < 7 {
				t.Errorf("judged %.1f days, want at least 7", days)
			}
			for i, v := range res.False {
				if i < 10 {
					t.Errorf("false verdict %s %s: %s (score %.3f)", v.Window.Start.Format("Mon 15:04"), v.Entity.Key(), v.Summary, v.Score)
				}
			}
			if res.FP > 10 {
				t.Errorf("%d false verdicts in all", res.FP)
			}
		})
	}
}

// TestProcessBytesFindsTransfersDuringTheWeeklyJob: the hour of the
// Sunday weekly-report job is normal for the workloads it reads from, not
// a blind spot: transfers in that hour (a never-seen curl, a workload's own
// process moving gigabytes), during the job's run and after it, are still
// found, with no false verdict around them.
func TestProcessBytesFindsTransfersDuringTheWeeklyJob(t *testing.T) {
	if testing.Short() {
		t.Skip("plays several simulated days")
	}
	start := weekStart.Add(6 * 24 * time.Hour) // a Sunday: the job's first run is learned
	sunday := start.Add(7 * 24 * time.Hour)
	at := func(h, m int) time.Time { return sunday.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	c := simulate.New(simulate.Options{Seed: 1, Life: true},
		simulate.ProcessTransfer{At: at(3, 10), Namespace: "shop", Workload: "cart", Process: "/usr/bin/curl", Bytes: 800 << 20},
		simulate.ProcessTransfer{At: at(3, 40), Namespace: "shop", Workload: "frontend", Process: "/usr/bin/curl", Bytes: 800 << 20},
		simulate.ProcessTransfer{At: at(3, 50), Namespace: "payments", Workload: "postgres", Bytes: 2 << 30},
		simulate.ProcessTransfer{At: at(5, 0), Namespace: "payments", Workload: "ledger", Process: "/usr/bin/curl", Bytes: 800 << 20},
	)
	results, _, err := playL7procDays(c, start, sunday.Add(6*time.Hour), []string{"process_bytes"})
	if err != nil {
		t.Fatal(err)
	}
	res := results["process_bytes"]
	t.Logf("true positives %d, false positives %d, missed %d", res.TP, res.FP, res.FN)
	if res.TP == 0 {
		t.Error("found none of the transfers")
	}
	for _, l := range res.Missed {
		t.Errorf("missed %s on %s/%s in %s", l.Scenario, l.Namespace, l.Workload, l.Window)
	}
	for _, v := range res.False {
		t.Errorf("false verdict %s %s: %s (score %.3f)", v.Window.Start.Format("Mon 15:04"), v.Entity.Key(), v.Summary, v.Score)
	}
}
