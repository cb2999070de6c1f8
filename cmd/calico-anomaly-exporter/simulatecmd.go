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

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// simulateFlags are the flags of the simulate command.
type simulateFlags struct {
	cmd         *kingpin.CmdClause
	output      string
	dir         string
	gzip        bool
	from, to    string
	days        int
	namespaces  int
	deployments int
	scale       int
	prober      bool
	scenarios   []string
	progress    string
}

func addSimulateCommand(app *kingpin.Application) *simulateFlags {
	f := &simulateFlags{}
	f.cmd = app.Command("simulate", "Write a span of the simulated cluster's flow, DNS and L7 logs to Elasticsearch (with Calico's index names and mappings) or to NDJSON files.")
	f.cmd.Flag("output", "Where the logs go: elasticsearch (the --es.* flags) or files (--dir).").Default("elasticsearch").EnumVar(&f.output, "elasticsearch", "files")
	f.cmd.Flag("dir", "Folder of the NDJSON files, one per log type and day.").Default("simulated-logs").StringVar(&f.dir)
	f.cmd.Flag("gzip", "Compress the NDJSON files.").BoolVar(&f.gzip)
	f.cmd.Flag("from", "Start of the span (RFC 3339); default: --days before --to.").StringVar(&f.from)
	f.cmd.Flag("to", "End of the span (RFC 3339); default: now, to the bucket.").StringVar(&f.to)
	f.cmd.Flag("days", "Days written when --from is not given.").Default("7").IntVar(&f.days)
	f.cmd.Flag("namespaces", "Namespaces running workloads.").Default("4").IntVar(&f.namespaces)
	f.cmd.Flag("deployments", "Deployments per namespace.").Default("4").IntVar(&f.deployments)
	f.cmd.Flag("scale", "Multiplies user traffic and its flow records.").Default("1").IntVar(&f.scale)
	f.cmd.Flag("prober", "Add a blackbox prober that reaches every pod every 30 s (normal traffic above Calico's ip_sweep threshold).").BoolVar(&f.prober)
	f.cmd.Flag("scenario", "An attack of the scenario library played in the last day (repeatable; \"all\" for every one).").StringsVar(&f.scenarios)
	f.cmd.Flag("progress", "Progress on standard error: auto (on a terminal), always or never.").Default("auto").EnumVar(&f.progress, "auto", "always", "never")
	return f
}

func runSimulate(ctx context.Context, f *simulateFlags, src *sourceFlags, bucket time.Duration, logger log.Logger, stderr *os.File) int {
	span := backtestFlags{from: f.from, to: f.to, days: f.days}
	from, to, err := span.span(false, time.Now(), bucket)
	if err != nil {
		level.Error(logger).Log("msg", "bad span", "err", err)
		return 2
	}
	opts := simulate.Options{Seed: src.simSeed, Cluster: src.esCluster, Namespaces: f.namespaces,
		DeploymentsPerNamespace: f.deployments, Scale: f.scale, Prober: f.prober, Bucket: bucket, Life: src.simLife}
	scenarios, err := libraryScenarios(f.scenarios, simulate.New(opts), from, to)
	if err != nil {
		level.Error(logger).Log("msg", "bad scenario", "err", err)
		return 2
	}
	c := simulate.New(opts, scenarios...)
	naming := src.indexNaming()

	var write func(ctx context.Context, from, to time.Time) (simulate.Stats, error)
	switch f.output {
	case "files":
		if err := os.MkdirAll(f.dir, 0o755); err != nil {
			level.Error(logger).Log("msg", "cannot create the output folder", "err", err)
			return 1
		}
		write = func(ctx context.Context, a, b time.Time) (simulate.Stats, error) {
			return simulate.WriteNDJSON(ctx, f.dir, naming, c, a, b, bucket, f.gzip)
		}
	default:
		built, err := src.buildElasticsearch(logger)
		if err != nil {
			level.Error(logger).Log("msg", "cannot set up Elasticsearch", "err", err)
			return 1
		}
		es := built.source.(*source.Elasticsearch)
		if err := es.EnsureTemplates(ctx); err != nil {
			level.Error(logger).Log("msg", "cannot install Calico's index templates", "err", err)
			return 1
		}
		write = func(ctx context.Context, a, b time.Time) (simulate.Stats, error) {
			return simulate.WriteElasticsearch(ctx, es, naming, c, a, b, bucket)
		}
	}
	bar := newProgress(stderr, f.progress, to.Sub(from))
	level.Info(logger).Log("msg", "simulating", "from", from, "to", to, "output", f.output, "workloads", len(c.Workloads()), "scenarios", len(scenarios))
	began := time.Now()
	var total simulate.Stats
	// Written an hour at a time to Elasticsearch, so the progress moves and
	// an interrupted run has written whole hours; a day at a time to files,
	// which hold a day each.
	step := time.Hour
	if f.output == "files" {
		step = 24 * time.Hour
	}
	for t := from; t.Before(to); {
		end := minTime(t.Truncate(step).Add(step), to)
		st, err := write(ctx, t, end)
		total.Flows, total.DNS, total.L7 = total.Flows+st.Flows, total.DNS+st.DNS, total.L7+st.L7
		if err != nil {
			bar.done()
			level.Error(logger).Log("msg", "simulate stopped", "at", t, "err", err)
			return 1
		}
		bar.update(end.Sub(from), total.Records(), time.Since(began))
		t = end
	}
	bar.done()
	took := time.Since(began)
	level.Info(logger).Log("msg", "simulated", "flows", total.Flows, "dns", total.DNS, "l7", total.L7, "took", took,
		"records_per_second", fmt.Sprintf("%.0f", float64(total.Records())/took.Seconds()))
	return 0
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// progress draws a one-line progress bar on a terminal.
type progress struct {
	w     io.Writer
	on    bool
	total time.Duration
}

func newProgress(f *os.File, mode string, total time.Duration) *progress {
	on := mode == "always"
	if mode == "auto" {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			on = true
		}
	}
	return &progress{w: f, on: on, total: total}
}

func (p *progress) update(done time.Duration, records int, took time.Duration) {
	if !p.on || p.total <= 0 {
		return
	}
	const width = 40
	frac := min(1, float64(done)/float64(p.total))
	n := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < n {
			bar[i] = '='
		}
	}
	rate := float64(records) / max(took.Seconds(), 1e-9)
	eta := time.Duration(0)
	if frac > 0 {
		eta = time.Duration(float64(took) * (1 - frac) / frac).Round(time.Second)
	}
	fmt.Fprintf(p.w, "\r[%s] %3.0f%%  %d records  %.0f/s  eta %s ", bar, frac*100, records, rate, eta)
}

func (p *progress) done() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}
