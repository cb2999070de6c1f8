package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/evaluate/life"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/evaluate/nab"
)

// evaluateCommand returns the evaluate command, adding it on first use:
// each measurement is a subcommand of it, declared in a file of its own.
func evaluateCommand(app *kingpin.Application) *kingpin.CmdClause {
	if c := app.GetCommand("evaluate"); c != nil {
		return c
	}
	return app.Command("evaluate", "Measure the detectors on labelled data and print how they did beside simple baselines.")
}

// evaluateNABFlags are the flags of evaluate nab.
type evaluateNABFlags struct {
	cmd       *kingpin.CmdClause
	data      string
	series    []string
	detectors string
	learn     time.Duration
	workers   int
	format    string
	drops     bool
	resample  time.Duration
}

func addEvaluateNABCommand(app *kingpin.Application) *evaluateNABFlags {
	f := &evaluateNABFlags{}
	f.cmd = evaluateCommand(app).Command("nab", "Replay each series of a NAB-format folder (timestamp,value CSVs under data/ and combined_windows.json) as one workload's flow logs through the detectors, learning --learn first, and score windows found, minutes to the first alert, false alerts per series-day and NAB's standard score, beside rolling z-scores and a same-hour median/MAD band.")
	f.cmd.Flag("data", "The NAB-format folder.").Default("../shared/datasets/nab-dev").StringVar(&f.data)
	f.cmd.Flag("series", "Only the series whose name (group/file.csv) or file name matches this glob (repeatable), e.g. 'realAWSCloudwatch/*' or 'ec2_cpu_*'.").StringsVar(&f.series)
	f.cmd.Flag("detectors", "Comma list of the detectors judged.").Default(strings.Join(nab.DefaultDetectors, ",")).StringVar(&f.detectors)
	f.cmd.Flag("learn", "History learned before judging begins, as --train.lookback does.").Default(nab.DefaultLearn.String()).DurationVar(&f.learn)
	f.cmd.Flag("workers", "Series replayed at once (0: GOMAXPROCS).").Default("0").IntVar(&f.workers)
	f.cmd.Flag("format", "Output: text tables or one JSON document.").Default("text").EnumVar(&f.format, "text", "json")
	f.cmd.Flag("inject-drops", "Judge, instead of the series, copies of them with a drop written in: silent, at a quarter and at half of the level, for 1 h and 4 h each, at a seeded random time after --learn and a day, each a labelled window (without --series: the series of volumes, "+strings.Join(nab.VolumeSeries, " ")+").").BoolVar(&f.drops)
	f.cmd.Flag("resample", "Average each series into samples this far apart (e.g. 1h) before replaying it: what a coarser cadence alone does (0: as recorded).").Default("0").DurationVar(&f.resample)
	return f
}

func runEvaluateNAB(ctx context.Context, f *evaluateNABFlags, sched *scheduleFlags, params map[string]map[string]string, logger log.Logger, stdout io.Writer) int {
	series := f.series
	if f.drops && len(series) == 0 {
		series = nab.VolumeSeries
	}
	corpus, err := nab.LoadCorpus(f.data, series)
	if err != nil {
		level.Error(logger).Log("msg", "cannot read the NAB data", "err", err)
		return 1
	}
	if f.resample > 0 {
		if corpus, err = nab.Resample(corpus, f.resample); err != nil {
			level.Error(logger).Log("msg", "cannot resample", "err", err)
			return 1
		}
	}
	if f.drops {
		if corpus, err = nab.InjectDrops(corpus, f.learn, nab.DropDepths, nab.DropSpans); err != nil {
			level.Error(logger).Log("msg", "cannot inject drops", "err", err)
			return 1
		}
		for _, s := range corpus.Skipped {
			level.Warn(logger).Log("msg", "series skipped", "reason", s)
		}
	}
	for _, s := range corpus.Series {
		if s.Malformed > 0 {
			level.Warn(logger).Log("msg", "malformed lines skipped", "series", s.Name, "lines", s.Malformed)
		}
	}
	detectors := splitList(f.detectors)
	began := time.Now()
	level.Info(logger).Log("msg", "evaluating", "series", len(corpus.Series), "detectors", strings.Join(detectors, ","), "learn", f.learn)
	report, err := nab.Evaluate(ctx, corpus, nab.Config{
		Detectors: detectors, Params: params, Getenv: noEnv, Learn: f.learn, Bucket: sched.settings.Bucket,
		TrainInterval: sched.settings.TrainInterval, Seed: sched.seed, Workers: f.workers, Logger: logger,
	})
	if err != nil {
		level.Error(logger).Log("msg", "evaluation failed", "err", err)
		return 1
	}
	level.Info(logger).Log("msg", "evaluated", "series", len(report.Series), "took", time.Since(began).Round(time.Second))
	if f.format == "json" {
		err = report.WriteJSON(stdout)
	} else {
		err = report.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// evaluateLifeFlags are the flags of evaluate life.
type evaluateLifeFlags struct {
	cmd       *kingpin.CmdClause
	from      string
	learn     time.Duration
	days      int
	detectors string
	format    string
}

func addEvaluateLifeCommand(app *kingpin.Application) *evaluateLifeFlags {
	f := &evaluateLifeFlags{}
	f.cmd = evaluateCommand(app).Command("life", "Play the simulated cluster's normal life (as --simulate.life does: weekends, rollouts, restarts, backups, nothing labelled), learn --learn of history, judge --days and print false alerts per 100 workloads per day, per detector and by day since judging began.")
	f.cmd.Flag("from", "Start of judging (RFC 3339); history before it is learned.").Default(life.DefaultFrom.Format(time.RFC3339)).StringVar(&f.from)
	f.cmd.Flag("learn", "History learned before judging begins.").Default("48h").DurationVar(&f.learn)
	f.cmd.Flag("days", "Days judged.").Default("5").IntVar(&f.days)
	f.cmd.Flag("detectors", "Comma list of the detectors judged (default: the enabled ones).").StringVar(&f.detectors)
	f.cmd.Flag("format", "Output: a text table or one JSON document.").Default("text").EnumVar(&f.format, "text", "json")
	return f
}

func runEvaluateLife(ctx context.Context, f *evaluateLifeFlags, src *sourceFlags, sched *scheduleFlags, enabled []string, params map[string]map[string]string, logger log.Logger, stdout io.Writer) int {
	from, err := time.Parse(time.RFC3339, f.from)
	if err != nil {
		level.Error(logger).Log("msg", "bad --from", "err", fmt.Errorf("%q: want an RFC 3339 time such as 2026-03-04T00:00:00Z", f.from))
		return 2
	}
	if f.days <= 0 {
		level.Error(logger).Log("msg", "bad --days", "err", fmt.Sprintf("%d: want 1 or more", f.days))
		return 2
	}
	detectors := enabled
	if f.detectors != "" {
		detectors = splitList(f.detectors)
	}
	concurrency, err := src.engineConcurrency()
	if err != nil {
		level.Error(logger).Log("msg", "bad --source.concurrency", "err", err)
		return 1
	}
	began := time.Now()
	level.Info(logger).Log("msg", "evaluating simulated life", "from", from, "days", f.days, "learn", f.learn, "detectors", strings.Join(detectors, ","))
	report, err := life.Run(ctx, life.Config{
		Detectors: detectors, Params: params, Getenv: noEnv, Seed: src.simSeed, ModelSeed: sched.seed,
		From: from, Learn: f.learn, Days: f.days, Bucket: sched.settings.Bucket, TrainInterval: sched.settings.TrainInterval,
		Concurrency: concurrency, Logger: logger,
	})
	if err != nil {
		level.Error(logger).Log("msg", "evaluation failed", "err", err)
		return 1
	}
	level.Info(logger).Log("msg", "evaluated", "took", time.Since(began).Round(time.Second))
	if f.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(report)
	} else {
		err = report.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// splitList splits a comma list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
