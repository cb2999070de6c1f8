package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/backtest"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/feedback"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/incident"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// backtestFlags are the flags of the backtest command.
type backtestFlags struct {
	cmd       *kingpin.CmdClause
	from, to  string
	days      int
	scenarios []string
	lines     string
	all       bool
	markFirst bool
}

func addBacktestCommand(app *kingpin.Application) *backtestFlags {
	f := &backtestFlags{}
	f.cmd = app.Command("backtest", "Replay past windows from the source as fast as it answers: print the verdicts as JSON lines and a summary table per detector (with precision and recall on the simulated cluster's ground truth).")
	f.cmd.Flag("from", "Start of the replay (RFC 3339); default: --days before --to.").StringVar(&f.from)
	f.cmd.Flag("to", "End of the replay (RFC 3339); default: the start of today (UTC) on the simulated cluster, the newest closed window otherwise.").StringVar(&f.to)
	f.cmd.Flag("days", "Days replayed when --from is not given.").Default("7").IntVar(&f.days)
	f.cmd.Flag("scenario", "On the simulated cluster: an attack of the scenario library played in the last day, each in its own two hours (repeatable; \"all\" for every one). None: normal traffic only.").StringsVar(&f.scenarios)
	f.cmd.Flag("verdicts-file", "Where the JSON lines go (\"-\": standard output).").Default("-").StringVar(&f.lines)
	f.cmd.Flag("all-verdicts", "Write every verdict, not only the anomalous ones.").BoolVar(&f.all)
	f.cmd.Flag("feedback.mark-first-false", "On the simulated cluster: mark the first false incident of each entity expected the moment it opens, as an on-call engineer would, and count the false incidents that follow.").BoolVar(&f.markFirst)
	return f
}

// span resolves --from and --to.
func (f *backtestFlags) span(simulated bool, now time.Time, bucket time.Duration) (time.Time, time.Time, error) {
	var from, to time.Time
	var err error
	switch {
	case f.to != "":
		if to, err = time.Parse(time.RFC3339, f.to); err != nil {
			return from, to, fmt.Errorf("--to=%s: want an RFC 3339 time such as 2026-03-09T00:00:00Z", f.to)
		}
	case simulated:
		to = now.UTC().Truncate(24 * time.Hour)
	default:
		to = now.Truncate(bucket)
	}
	if f.from != "" {
		if from, err = time.Parse(time.RFC3339, f.from); err != nil {
			return from, to, fmt.Errorf("--from=%s: want an RFC 3339 time such as 2026-03-02T00:00:00Z", f.from)
		}
	} else {
		if f.days <= 0 {
			return from, to, fmt.Errorf("--days=%d: want 1 or more", f.days)
		}
		from = to.Add(-time.Duration(f.days) * 24 * time.Hour)
	}
	from, to = source.Align(from, bucket), source.Align(to, bucket)
	if !from.Before(to) {
		return from, to, fmt.Errorf("--from %s is not before --to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to, nil
}

// libraryScenarios places the chosen library entries in the last day of
// the replay (all of it when shorter), one in each two-hour slot from the
// first hour on and back to the first slot when there are more entries
// than slots, each aimed at the cluster c.
func libraryScenarios(names []string, c *simulate.Cluster, from, to time.Time) ([]simulate.Scenario, error) {
	if len(names) == 1 && names[0] == "all" {
		names = nil
		for _, s := range simulate.ScenarioLibrary() {
			names = append(names, s.Name)
		}
	}
	var out []simulate.Scenario
	for i, name := range names {
		spec, err := simulate.LookupScenario(name)
		if err != nil {
			return nil, err
		}
		first := maxTime(from, to.Add(-max(24*time.Hour, time.Duration(len(names))*2*time.Hour))).Add(time.Hour)
		slots := max(1, int(to.Sub(first)/(2*time.Hour)))
		start := first.Add(time.Duration(i%slots) * 2 * time.Hour)
		out = append(out, spec.New(c, start, 2*time.Hour)...)
	}
	return out, nil
}

func runBacktest(ctx context.Context, f *backtestFlags, src *sourceFlags, sched *scheduleFlags, enabled []string, params map[string]map[string]string, logger log.Logger, stdout, stderr io.Writer) int {
	concurrency, err := src.engineConcurrency()
	if err != nil {
		level.Error(logger).Log("msg", "bad --source.concurrency", "err", err)
		return 1
	}
	simulated := src.kind == "simulated"
	var s source.Source
	var truth backtest.Truth
	now := time.Now()
	if src.kind == "file" {
		built, err := src.build(ctx, logger)
		if err != nil {
			level.Error(logger).Log("msg", "cannot set up the log source", "err", err)
			return 1
		}
		s = built.source
		if _, last, ok := built.source.(*source.File).Span(); ok && f.to == "" {
			// The files' own span: up to the window after their last record.
			now = last.Truncate(sched.settings.Bucket).Add(sched.settings.Bucket)
			if f.from == "" {
				f.from = built.start.Format(time.RFC3339)
			}
		}
	}
	from, to, err := f.span(simulated, now, sched.settings.Bucket)
	if err != nil {
		level.Error(logger).Log("msg", "bad backtest span", "err", err)
		return 2
	}
	if s != nil {
		if len(f.scenarios) > 0 {
			level.Error(logger).Log("msg", "--scenario needs --source=simulated")
			return 2
		}
	} else if simulated {
		opts := simulate.Options{Seed: src.simSeed, Cluster: src.esCluster, Life: src.simLife}
		scenarios, err := libraryScenarios(f.scenarios, simulate.New(opts), from, to)
		if err != nil {
			level.Error(logger).Log("msg", "bad scenario", "err", err)
			return 2
		}
		c := simulate.New(opts, scenarios...)
		s, truth = simulate.NewSource(c), backtest.SimulatedTruth(c)
	} else {
		if len(f.scenarios) > 0 {
			level.Error(logger).Log("msg", "--scenario needs --source=simulated")
			return 2
		}
		built, err := src.build(ctx, logger)
		if err != nil {
			level.Error(logger).Log("msg", "cannot set up the log source", "err", err)
			return 1
		}
		s = built.source
	}
	detectors, err := engine.BuildWith(enabled, engine.BuildOptions{
		Cluster: src.clusterName(), Getenv: noEnv, Logger: logger, Params: params,
		Bucket: sched.settings.Bucket, TrainInterval: sched.settings.TrainInterval, Seed: sched.seed,
	})
	if err != nil {
		level.Error(logger).Log("msg", "cannot set up detectors", "err", err)
		return 1
	}
	detectors = availableFrom(s, detectors, logger)
	lines := stdout
	if f.lines != "-" {
		file, err := os.Create(f.lines)
		if err != nil {
			level.Error(logger).Log("msg", "cannot write verdicts", "err", err)
			return 1
		}
		defer file.Close()
		lines = file
	}
	rec := backtest.NewRecorder(enabled, truth, lines, f.all)
	if f.markFirst && truth == nil {
		level.Error(logger).Log("msg", "--feedback.mark-first-false needs the simulated cluster's ground truth (--source=simulated)")
		return 2
	}
	store, _ := feedback.New("", 0, nil)
	policy := notify.Policy{}
	if f.markFirst {
		policy.Expected = store.Expected
	}
	tracker, _ := incident.New(incident.Config{Policy: func() notify.Policy { return policy }})
	tally := backtest.NewIncidentTally(truth, tracker, store, policy, f.markFirst)
	var fb engine.Feedback
	if f.markFirst {
		fb = store
	}
	eng, err := engine.New(engine.Config{Interval: sched.settings.SearchInterval, Bucket: sched.settings.Bucket, TrainLookback: sched.lookback, Sinks: []engine.Sink{rec, tracker, tally}, Concurrency: concurrency, Feedback: fb, MaxEntitiesPerDetector: sched.entities},
		s, detectors, scoreboard.New(0), nil, level.NewFilter(log.With(logger, "component", "engine"), level.AllowError()))
	if err != nil {
		level.Error(logger).Log("msg", "cannot start the engine", "err", err)
		return 1
	}
	level.Info(logger).Log("msg", "backtest", "from", from, "to", to, "train_lookback", sched.lookback, "detectors", fmt.Sprint(enabled), "source", s.Kind())
	began := time.Now()
	if err := eng.Replay(ctx, from, to); err != nil {
		level.Error(logger).Log("msg", "backtest stopped", "err", err)
		return 1
	}
	sum := rec.Summary()
	if sum.WriteError != nil {
		level.Error(logger).Log("msg", "cannot write verdicts", "err", sum.WriteError)
		return 1
	}
	level.Info(logger).Log("msg", "backtest done", "windows", int(to.Sub(from)/sched.settings.SearchInterval), "took", time.Since(began))
	if err := sum.WriteTable(stderr); err != nil {
		return 1
	}
	if truth != nil {
		if err := tally.Summary().Write(stderr, f.markFirst); err != nil {
			return 1
		}
	}
	for _, r := range sum.Results {
		for _, l := range r.Missed {
			fmt.Fprintf(stderr, "missed: %s %s/%s/%s at %s (%s)\n", r.Detector, l.Namespace, l.Workload, l.Type, l.Window.Start.Format(time.RFC3339), l.Scenario)
		}
	}
	return 0
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
