// Command calico-anomaly-bench measures the figures of issue 11 ("scale and
// speed, measured side by side"), which `make bench` collects into one
// table:
//
//	calico-anomaly-bench memory                 models for 10,000 workloads: heap and peak RSS
//	                                            (--entities 1000 --entities 10000 --entities 100000: growth;
//	                                            --score: one window judged on one core)
//	calico-anomaly-bench fresh-names            windows of never-seen workload names through the engine: bounded models
//	calico-anomaly-bench side-by-side --es.url  aggregation path against raw documents on a real Elasticsearch
//	calico-anomaly-bench coldstart --es.url     learning 7 days of history for 10,000 workloads at start
//	calico-anomaly-bench report                 one table of go test -bench output and the figures above
//
// memory and side-by-side print their figures as JSON lines on stdout and
// their progress on stderr.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/perf"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

const mib = 1 << 20

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	app := kingpin.New("calico-anomaly-bench", "Measures the exporter's scale and speed figures (issue 11).")
	app.HelpFlag.Short('h')

	memCmd := app.Command("memory", "Peak RSS and heap of a process holding every detector's models for many workloads; with --score, the cost of judging one more window.")
	memEntities := memCmd.Flag("entities", "Workloads with models; repeat it (1000, 10000, 100000) to measure each in a process of its own and show how memory grows.").Default("10000").Ints()
	memWindows := memCmd.Flag("windows", "Hourly windows learned (every per-entity model exists after the first).").Default("48").Int()
	memProfile := memCmd.Flag("heap-profile", "Write a heap profile (go tool pprof) here after training; with several --entities, one file each, suffixed with the count.").String()
	memDefault := memCmd.Flag("default-detectors", "Train only the detectors enabled by default (otherwise every registered one).").Bool()
	memScore := memCmd.Flag("score", "After measuring, judge one more window on one core: CPU seconds and allocations per workload.").Bool()
	memRecentDay := memCmd.Flag("recent-day", "After the hourly windows, learn a day of 5-minute windows, as a running exporter learns every window: what is kept per window (the isolation detectors' day of recent feature rows) is then full, as in a deployment. About 290 more windows to learn.").Bool()
	memShards := memCmd.Flag("shards", "Measure this many replicas of an exporter sharded by namespace (--shard.total) over the --entities workloads, each in a process of its own, one after another: the peak RSS of each, the largest beside the target; 0 or 1: not.").Default("0").Int()
	memShardTotal := memCmd.Flag("shard.total", "Measure one replica of an exporter sharded by namespace into this many (with --shard.index): its detectors learn the rows its engine would hand them.").Default("0").Int()
	memShardIndex := memCmd.Flag("shard.index", "The replica measured, 0 to --shard.total minus 1.").Default("0").Int()

	freshCmd := app.Command("fresh-names", "Peak RSS and heap of an engine fed windows of workload names never seen before, its models bounded per detector.")
	freshWindows := freshCmd.Flag("windows", "Five-minute windows processed.").Default("6").Int()
	freshPer := freshCmd.Flag("per-window", "Fresh workload names in each window.").Default("10000").Int()
	freshMax := freshCmd.Flag("model.max-entities-per-detector", "The bound on each detector's entities (the exporter's flag); 0: none.").Default("50000").Int()
	freshDefault := freshCmd.Flag("default-detectors", "Run only the detectors enabled by default (otherwise every registered one).").Bool()
	freshOnly := freshCmd.Flag("detector", "Run only this detector (repeatable).").Strings()

	sbsCmd := app.Command("side-by-side", "Load one window into Elasticsearch, then time the aggregation path, the raw-document path and Elasticsearch's own took.")
	esURL := sbsCmd.Flag("es.url", "Elasticsearch URL (a test bed's: . .testbed/env; $TESTBED_ES_URL).").Envar("TESTBED_ES_URL").Required().String()
	records := sbsCmd.Flag("records", "Flow records in the window (DNS and L7 records are added in proportion).").Default("10000000").Int()
	cluster := sbsCmd.Flag("cluster", "Calico cluster name of the indices written and read.").Default("bench").String()
	namespaces := sbsCmd.Flag("namespaces", "Namespaces of the simulated cluster.").Default("200").Int()
	deployments := sbsCmd.Flag("deployments", "Deployments per namespace of the simulated cluster.").Default("50").Int()
	reload := sbsCmd.Flag("reload", "Load the records even when the indices already hold them.").Bool()
	pageSize := sbsCmd.Flag("es.page-size", "Buckets per composite aggregation page (the exporter's --es.page-size).").Default(strconv.Itoa(source.DefaultPageSize)).Int()
	rawPage := sbsCmd.Flag("raw.page-size", "Documents per search_after page of the raw path.").Default("10000").Int()
	concurrency := sbsCmd.Flag("source.concurrency", "Queries of the window the aggregation path runs at once (the exporter's --source.concurrency); 0 for the exporter's default.").Default("0").Int()
	aggProfile := sbsCmd.Flag("cpu-profile", "Write a CPU profile of the aggregation path's second run here.").String()
	indexSort := sbsCmd.Flag("index-sort", "Create the flow index sorted on source_namespace, source_name_aggr, source_type (an option for users who control their templates).").Bool()
	shards := sbsCmd.Flag("shards", "Also process the window with this many replicas of a sharded exporter (--shard.total) and compare Elasticsearch's work with one replica's; 0 or 1: not.").Default("0").Int()
	readRuns := sbsCmd.Flag("read-runs", "How often the window is read alone, one request at a time; the run with the least took is kept.").Default("3").Int()
	noRaw := sbsCmd.Flag("no-raw", "Skip the raw-document path and the comparison of rows.").Bool()
	bulkWorkers := sbsCmd.Flag("bulk.workers", "_bulk requests in flight while loading.").Default("3").Int()

	csCmd := app.Command("coldstart", "Load windows of a 10,000-workload cluster's history into Elasticsearch, time the default detectors learning them at start, and scale that to 7 days.")
	csURL := csCmd.Flag("es.url", "Elasticsearch URL (a test bed's: . .testbed/env; $TESTBED_ES_URL).").Envar("TESTBED_ES_URL").Required().String()
	csWindows := csCmd.Flag("windows", "5-minute windows of history loaded and learned (about 134,000 records each at 10,000 workloads).").Default("6").Int()
	csNamespaces := csCmd.Flag("namespaces", "Namespaces of the simulated cluster.").Default("200").Int()
	csDeployments := csCmd.Flag("deployments", "Deployments per namespace of the simulated cluster.").Default("50").Int()
	csCluster := csCmd.Flag("cluster", "Calico cluster name of the indices written and read.").Default("coldstart").String()
	csLookback := csCmd.Flag("lookback", "History the figure is scaled to (the exporter's --train.lookback).").Default("168h").Duration()

	repCmd := app.Command("report", "Print one table of every figure, with targets and ratios.")
	goBench := repCmd.Flag("go-bench", "Output of go test -bench.").ExistingFiles()
	figFiles := repCmd.Flag("figures", "Figures written by memory and side-by-side.").ExistingFiles()
	out := repCmd.Flag("out", "Also write the table to this file.").String()
	commit := repCmd.Flag("commit", "Commit the figures were measured at.").String()

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "calico-anomaly-bench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, a...)...)
	}
	var figs []perf.Figure
	switch cmd {
	case memCmd.FullCommand():
		which := "every detector"
		if *memDefault {
			which = "the default detectors"
		}
		shard := engine.Shard{Total: *memShardTotal, Index: *memShardIndex}
		if err := shard.Validate(); err != nil {
			logf("memory: %v", err)
			return 2
		}
		if *memShards > 1 {
			if len(*memEntities) != 1 || shard.Sharded() || *memScore {
				logf("memory: --shards takes one --entities, and neither --shard.total nor --score")
				return 2
			}
			fs, err := shardedMemory((*memEntities)[0], *memShards, *memWindows, *memDefault, *memRecentDay, logf)
			if err != nil {
				logf("memory: %v", err)
				return 1
			}
			figs = fs
			break
		}
		if len(*memEntities) > 1 {
			fs, err := memoryGrowth(*memEntities, *memWindows, *memProfile, *memDefault, *memScore, *memRecentDay, logf)
			if err != nil {
				logf("memory: %v", err)
				return 1
			}
			figs = fs
			break
		}
		entities := (*memEntities)[0]
		if shard.Sharded() {
			which += fmt.Sprintf(" as replica %s", shard)
		}
		logf("training %s on %d hourly windows of %d workloads", which, *memWindows, entities)
		r, err := perf.MemoryOf(perf.MemoryConfig{Entities: entities, Windows: *memWindows, HeapProfile: *memProfile, DefaultOnly: *memDefault, Score: *memScore, RecentDay: *memRecentDay, Shard: shard})
		if err != nil {
			logf("memory: %v", err)
			return 1
		}
		logf("trained in %s", r.TrainTime.Round(time.Millisecond))
		if r.Scored {
			logf("scored the window that closes the hour in %s of CPU and the next in %s, %d verdicts; still learning: %v",
				r.ScoreCPU.Round(time.Millisecond), r.Within.CPU.Round(time.Millisecond), r.Verdicts, r.NotReady)
		}
		if shard.Sharded() {
			figs = replicaFigures(r, shard)
			break
		}
		figs = memoryFigures(r, *memDefault)
	case freshCmd.FullCommand():
		logf("%d windows of %d fresh workload names, at most %d entities per detector", *freshWindows, *freshPer, *freshMax)
		r, err := perf.FreshNames(*freshWindows, *freshPer, *freshMax, *freshDefault, *freshOnly)
		if err != nil {
			logf("fresh-names: %v", err)
			return 1
		}
		logf("processed in %s; bounded detectors keep %v (evicted %v); not bounded: %s", r.Took.Round(time.Millisecond), r.Entities, r.Evicted, strings.Join(r.Unbounded, ","))
		suffix := fmt.Sprintf(" (%d detectors, bound %d)", r.Detectors, r.MaxEntities)
		if len(*freshOnly) > 0 {
			suffix = fmt.Sprintf(" (%s, bound %d)", strings.Join(*freshOnly, ", "), r.MaxEntities)
		}
		figs = []perf.Figure{
			{Name: fmt.Sprintf("fresh names: peak RSS after %d windows of %d new workloads", r.Windows, r.PerWindow) + suffix, Value: float64(r.PeakRSS) / mib, Unit: "MiB",
				Note: fmt.Sprintf("%d detectors not bounded yet", len(r.Unbounded))},
			{Name: "fresh names: live heap after GC" + suffix, Value: float64(r.HeapAlloc) / mib, Unit: "MiB"},
		}
	case sbsCmd.FullCommand():
		r, err := perf.SideBySide(ctx, perf.SideBySideConfig{
			URL: *esURL, Cluster: *cluster, FlowRecords: *records, Namespaces: *namespaces, DeploymentsPerNamespace: *deployments,
			Reload: *reload, PageSize: *pageSize, RawPage: *rawPage, Concurrency: *concurrency, BulkWorkers: *bulkWorkers, CPUProfile: *aggProfile, IndexSort: *indexSort, NoRaw: *noRaw, Shards: *shards, ReadRuns: *readRuns, Logf: logf,
		})
		if err != nil {
			logf("side-by-side: %v", err)
			return 1
		}
		for _, m := range r.Mismatches {
			logf("paths disagree: %s", m)
		}
		window := fmt.Sprintf("%d flow + %d DNS + %d L7 records", r.Flows, r.DNS, r.L7)
		if r.Loaded {
			figs = append(figs, perf.Figure{Name: fmt.Sprintf("load: %d records with _bulk", r.LoadedRecords), Value: r.LoadRate(), Unit: "records/s", Note: r.LoadTime.Round(time.Second).String()})
		}
		figs = append(figs,
			perf.Figure{Name: "(a) aggregation path, 1 window, " + fmt.Sprint(len(r.Detectors)) + " enabled detectors", Value: r.AggWall.Seconds(), Unit: "s",
				Note: fmt.Sprintf("%s; %d aggregations for %d detector queries, %d at once", window, r.Searches, r.Queries, r.Concurrency)},
			perf.Figure{Name: "(b) raw path: search_after + decode + count in Go", Value: r.RawWall.Seconds(), Unit: "s", Note: fmt.Sprintf("%d documents, %d MiB", r.RawDocs, r.RawBytes/mib)},
			perf.Figure{Name: "(c) Elasticsearch took, aggregation queries", Value: r.AggTook.Seconds(), Unit: "s", Note: "summed over the searches, which overlap when more than one runs at once"},
			perf.Figure{Name: "speed-up (b)/(a)", Value: r.RawWall.Seconds() / r.AggWall.Seconds(), Unit: "x", Op: ">=", Target: 20},
			perf.Figure{Name: "overhead (a)/(c)", Value: r.AggWall.Seconds() / max(r.AggTook.Seconds(), 1e-3), Unit: "x", Op: "<=", Target: 1.3},
			perf.Figure{Name: "(a1) aggregation path, one query at a time", Value: r.SeqWall.Seconds(), Unit: "s", Note: fmt.Sprintf("Elasticsearch took %.1f s", r.SeqTook.Seconds())},
			perf.Figure{Name: "overhead (a1)/(c1), one query at a time", Value: r.SeqWall.Seconds() / max(r.SeqTook.Seconds(), 1e-3), Unit: "x", Op: "<=", Target: 1.3},
		)
		if r.Shards > 1 {
			figs = append(figs, perf.Figure{ID: fmt.Sprintf("shard.%d.es_work", r.Shards), Name: fmt.Sprintf("sharding: %d replicas' Elasticsearch took for the window over one replica's", r.Shards),
				Value: r.ShardsTook.Seconds() / max(r.UnshardedTook.Seconds(), 1e-3), Unit: "x", Op: "<", Target: float64(r.Shards),
				Note: fmt.Sprintf("%.1f s against %.1f s; each replica's aggregations leave out the other replicas' namespaces, but dga's, read whole by every replica", r.ShardsTook.Seconds(), r.UnshardedTook.Seconds())})
		}
		if !*noRaw {
			figs = append(figs,
				perf.Figure{Name: "queries where (a) and (b) agree", Value: float64(r.QueriesEqual), Unit: "of " + fmt.Sprint(r.Queries), Op: ">=", Target: float64(r.Queries)},
				perf.Figure{ID: "es.rows_equal", Name: "detector queries whose rows equal the raw path's", Value: float64(r.QueriesEqual) / float64(max(r.Queries, 1)), Unit: "of all",
					Note: fmt.Sprintf("%d of %d", r.QueriesEqual, r.Queries)})
		}
		// The overhead of all the runs of the reading alone together: the
		// run with the least took may be one whose wall the machine's
		// other users lengthened.
		var readWall, readTook time.Duration
		var runRatios []string
		for _, run := range r.ReadRuns {
			readWall += run[0]
			readTook += run[1]
			runRatios = append(runRatios, fmt.Sprintf("%.2f", run[0].Seconds()/max(run[1].Seconds(), 1e-3)))
		}
		// Each query is one pass of Elasticsearch over the window's
		// records, so its took grows with them: a smaller window's took is
		// scaled to 10 million flow records.
		scale := 10e6 / float64(r.Flows)
		tookNote := fmt.Sprintf("measured at %d flow records", r.Flows)
		if r.Flows != 10000000 {
			tookNote = fmt.Sprintf("%.2f s measured at %d flow records, scaled x%.3g", r.ReadTook.Seconds(), r.Flows, scale)
		}
		figs = append(figs,
			perf.Figure{Name: "(a2) reading the window alone, one request at a time", Value: r.ReadWall.Seconds(), Unit: "s",
				Note: fmt.Sprintf("%d aggregations and %d counts; Elasticsearch took %.2f s; the run of %d with the least took", r.Searches, len(calicolog.LogTypes), r.ReadTook.Seconds(), len(r.ReadRuns))},
			perf.Figure{ID: "es.took.10m", Name: "Elasticsearch took summed over a 10M-record window's queries", Value: r.ReadTook.Seconds() * scale, Unit: "s", Note: tookNote},
			perf.Figure{ID: "es.overhead.sequential", Name: "overhead (a2)/took, reading one request at a time", Value: readWall.Seconds() / max(readTook.Seconds(), 1e-3), Unit: "x",
				Note: fmt.Sprintf("%d flow records; %d runs, their walls over their tooks: %s", r.Flows, len(r.ReadRuns), strings.Join(runRatios, ", "))},
		)
	case csCmd.FullCommand():
		r, err := perf.ColdStart(ctx, perf.ColdStartConfig{URL: *csURL, Cluster: *csCluster, Namespaces: *csNamespaces, DeploymentsPerNamespace: *csDeployments, Windows: *csWindows, Lookback: *csLookback, Logf: logf})
		if err != nil {
			logf("coldstart: %v", err)
			return 1
		}
		if r.Loaded {
			figs = append(figs, perf.Figure{Name: fmt.Sprintf("cold start: loading %d records with _bulk", r.Records), Value: r.LoadTime.Seconds(), Unit: "s"})
		}
		perWindow := r.Learn.Seconds() / float64(r.Windows)
		figs = append(figs,
			perf.Figure{Name: fmt.Sprintf("cold start: learning %d windows of %d workloads", r.Windows, r.Workloads), Value: r.Learn.Seconds(), Unit: "s",
				Note: fmt.Sprintf("%d records; %.2f s a window; Elasticsearch took %.1f s", r.Records, perWindow, r.LearnTook.Seconds())},
			perf.Figure{ID: "coldstart.7d.10k", Name: fmt.Sprintf("cold start: learning %s of history for %d workloads", *csLookback, r.Workloads), Value: r.Scaled.Seconds(), Unit: "s",
				Note: fmt.Sprintf("%d windows measured, scaled to %d", r.Windows, r.LookbackWindow)},
		)
	case repCmd.FullCommand():
		for _, f := range *goBench {
			fh, err := os.Open(f)
			if err != nil {
				logf("%v", err)
				return 1
			}
			bs, err := perf.ParseGoBench(fh)
			fh.Close()
			if err != nil {
				logf("%s: %v", f, err)
				return 1
			}
			figs = append(figs, perf.BenchFigures(bs)...)
		}
		for _, f := range *figFiles {
			fh, err := os.Open(f)
			if err != nil {
				logf("%v", err)
				return 1
			}
			fs, err := perf.ReadFigures(fh)
			fh.Close()
			if err != nil {
				logf("%s: %v", f, err)
				return 1
			}
			figs = append(figs, fs...)
		}
		header := fmt.Sprintf("calico-anomaly-exporter figures, %s, commit %s, %d cores (%s/%s, %s)",
			time.Now().UTC().Format("2006-01-02 15:04 UTC"), *commit, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
		perf.ApplyGoals(figs, perf.Issue23Goals)
		var b strings.Builder
		if err := perf.WriteTable(&b, header, figs); err != nil {
			logf("%v", err)
			return 1
		}
		b.WriteString("\n")
		if err := perf.WriteGoals(&b, "issue 23 targets (each the figure measured for it in this run)", perf.Issue23Goals, figs); err != nil {
			logf("%v", err)
			return 1
		}
		fmt.Print(b.String())
		if *out != "" {
			if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
				logf("%v", err)
				return 1
			}
		}
		return 0
	}
	if err := perf.WriteFigures(os.Stdout, figs); err != nil {
		logf("%v", err)
		return 1
	}
	return 0
}

// Targets of issue 23 for the detectors enabled by default.
const (
	peakRSSTarget10k   = 256  // MiB, models for 10,000 workloads
	liveHeapTarget10k  = 160  // MiB, the same
	peakRSSTarget100k  = 2048 // MiB, models for 100,000 workloads
	scoreCPUTarget100k = 5    // s of CPU on one core, one window of 100,000
	allocsPerEntity    = 20   // allocations per workload judged
	// growthTarget bounds the live heap per workload at one count measured
	// over that at the next smaller one: memory that grows linearly keeps
	// it near 1.
	growthTarget = 1.1
)

// memoryFigures are the figures of one memory run, with the targets that
// apply to its workload count when it trained the default detectors.
func memoryFigures(r perf.MemoryResult, defaultOnly bool) []perf.Figure {
	suffix := fmt.Sprintf(" (%d detectors)", r.Detectors)
	note := fmt.Sprintf("%d windows", r.Windows)
	if r.RecentWindows > 0 {
		note = fmt.Sprintf("%d hourly windows, then %d of 5 minutes", r.Windows, r.RecentWindows)
	}
	peak := perf.Figure{Name: fmt.Sprintf("memory: peak RSS with models for %d workloads", r.Entities) + suffix, Value: float64(r.PeakRSS) / mib, Unit: "MiB", Note: note}
	heap := perf.Figure{Name: fmt.Sprintf("memory: live heap after GC (the models), %d workloads", r.Entities) + suffix, Value: float64(r.HeapAlloc) / mib, Unit: "MiB"}
	if defaultOnly {
		switch r.Entities {
		case 10000:
			peak.ID, peak.Op, peak.Target = "memory.peak_rss.10k", "<=", peakRSSTarget10k
			heap.ID, heap.Op, heap.Target = "memory.live_heap.10k", "<=", liveHeapTarget10k
		case 100000:
			peak.ID, peak.Op, peak.Target = "memory.peak_rss.100k", "<=", peakRSSTarget100k
		}
	}
	figs := []perf.Figure{
		peak,
		{Name: fmt.Sprintf("memory: RSS after training, %d workloads", r.Entities) + suffix, Value: float64(r.RSS) / mib, Unit: "MiB"},
		heap,
		{Name: fmt.Sprintf("memory: live heap per workload, %d workloads", r.Entities) + suffix, Value: float64(r.HeapAlloc) / 1024 / float64(max(r.Entities, 1)), Unit: "KiB"},
		{Name: fmt.Sprintf("memory: saved models, %d workloads", r.Entities) + suffix, Value: float64(r.ModelBytes) / mib, Unit: "MiB"},
	}
	if r.Scored {
		cpu := perf.Figure{Name: fmt.Sprintf("scoring: 1 window that closes the hour, %d workloads, CPU on one core", r.Entities) + suffix, Value: r.ScoreCPU.Seconds(), Unit: "s",
			Note: fmt.Sprintf("every baseline closes its hour in it; %d verdicts, wall %.2f s, after %d more windows", r.Verdicts, r.ScoreWall.Seconds(), r.ExtraWindows)}
		allocs := perf.Figure{Name: fmt.Sprintf("scoring: allocations per workload, the window that closes the hour, %d workloads", r.Entities) + suffix, Value: r.AllocsPerEntity, Unit: "allocs",
			Note: fmt.Sprintf("%.0f B allocated per workload", r.AllocBytesPerEntity)}
		within := perf.Figure{Name: fmt.Sprintf("scoring: 1 window within the hour, %d workloads, CPU on one core", r.Entities) + suffix, Value: r.Within.CPU.Seconds(), Unit: "s",
			Note: fmt.Sprintf("%d verdicts, wall %.2f s", r.Within.Verdicts, r.Within.Wall.Seconds())}
		withinAllocs := perf.Figure{Name: fmt.Sprintf("scoring: allocations per workload, a window within the hour, %d workloads", r.Entities) + suffix, Value: r.Within.AllocsPerEntity, Unit: "allocs",
			Note: fmt.Sprintf("%.0f B allocated per workload", r.Within.AllocBytesPerEntity)}
		if len(r.NotReady) > 0 {
			cpu.Note += "; still learning: " + strings.Join(r.NotReady, ",")
		}
		if defaultOnly {
			// The goals' figures are those of a window within the hour, as
			// eleven of twelve are; the hour's first is shown beside the
			// same targets.
			allocs.Op, allocs.Target = "<=", allocsPerEntity
			withinAllocs.ID, withinAllocs.Op, withinAllocs.Target = "scoring.allocs_per_entity", "<=", allocsPerEntity
			if r.Entities == 100000 {
				cpu.Op, cpu.Target = "<=", scoreCPUTarget100k
				within.ID, within.Op, within.Target = "scoring.cpu.100k", "<=", scoreCPUTarget100k
			}
		}
		figs = append(figs, cpu, allocs, within, withinAllocs,
			perf.Figure{Name: fmt.Sprintf("memory: peak RSS once the window is judged, %d workloads", r.Entities) + suffix, Value: float64(r.PeakRSSAfterScoring) / mib, Unit: "MiB"})
	}
	return figs
}

// shardTarget is the peak RSS target of each of 4 replicas sharing
// 100,000 workloads (issue 23: a quarter of the 100,000-workload target).
const shardTarget = 512 // MiB

// replicaFigures are the figures of one replica's memory run.
func replicaFigures(r perf.MemoryResult, shard engine.Shard) []perf.Figure {
	what := fmt.Sprintf("replica %d of %d sharing %d workloads (%d of them its own)", shard.Index, shard.Total, r.Entities, r.Own)
	return []perf.Figure{
		{Name: "sharding: peak RSS of " + what, Value: float64(r.PeakRSS) / mib, Unit: "MiB", Note: fmt.Sprintf("%d detectors, %d windows", r.Detectors, r.Windows)},
		{Name: "sharding: live heap after GC (the models) of " + what, Value: float64(r.HeapAlloc) / mib, Unit: "MiB"},
		{Name: "sharding: saved models of " + what, Value: float64(r.ModelBytes) / mib, Unit: "MiB"},
	}
}

// shardedMemory measures each of n replicas of an exporter sharded by
// namespace over entities workloads, in a process of its own one after
// another (a peak resident set is a whole process's), passes their
// figures on and adds the largest peak beside its target.
func shardedMemory(entities, n, windows int, defaultOnly, recentDay bool, logf func(string, ...any)) ([]perf.Figure, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var figs []perf.Figure
	var peaks []string
	largest := 0.0
	for i := range n {
		fs, err := memoryProcess(self, defaultOnly, false, recentDay, "--entities", strconv.Itoa(entities), "--windows", strconv.Itoa(windows),
			"--shard.total", strconv.Itoa(n), "--shard.index", strconv.Itoa(i))
		if err != nil {
			return nil, fmt.Errorf("replica %d of %d: %w", i, n, err)
		}
		for _, f := range fs {
			if strings.HasPrefix(f.Name, "sharding: peak RSS of replica") {
				peaks = append(peaks, fmt.Sprintf("%.0f", f.Value))
				largest = max(largest, f.Value)
			}
		}
		figs = append(figs, fs...)
	}
	f := perf.Figure{
		Name:  fmt.Sprintf("sharding: peak RSS of the largest of %d replicas sharing %d workloads by namespace", n, entities),
		Value: largest, Unit: "MiB", Note: fmt.Sprintf("replicas: %s MiB, %d windows", strings.Join(peaks, ", "), windows),
	}
	if defaultOnly {
		f.Op, f.Target = "<=", shardTarget
		if n == 4 && entities == 100000 {
			f.ID = "shard.4.peak_rss"
		}
	}
	logf("measured %d replicas sharing %d workloads", n, entities)
	return append(figs, f), nil
}

// memoryProcess runs this program's memory command with args, and the
// flags named by the booleans, in a process of its own, and reads the
// figures it writes.
func memoryProcess(self string, defaultOnly, score, recentDay bool, args ...string) ([]perf.Figure, error) {
	args = append([]string{"memory"}, args...)
	for _, f := range []struct {
		on   bool
		flag string
	}{{defaultOnly, "--default-detectors"}, {score, "--score"}, {recentDay, "--recent-day"}} {
		if f.on {
			args = append(args, f.flag)
		}
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	return perf.ReadFigures(bytes.NewReader(out))
}

// memoryGrowth runs memory for each workload count in a process of its own
// (a peak resident set is a whole process's), passes their figures on, and
// adds how the live heap per workload grows from the smallest count to the
// largest.
func memoryGrowth(counts []int, windows int, profile string, defaultOnly, score, recentDay bool, logf func(string, ...any)) ([]perf.Figure, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var figs []perf.Figure
	perWorkload := map[int]float64{}
	for _, n := range counts {
		args := []string{"--entities", strconv.Itoa(n), "--windows", strconv.Itoa(windows)}
		if profile != "" {
			args = append(args, "--heap-profile", fmt.Sprintf("%s.%d", profile, n))
		}
		fs, err := memoryProcess(self, defaultOnly, score, recentDay, args...)
		if err != nil {
			return nil, fmt.Errorf("%d workloads: %w", n, err)
		}
		for _, f := range fs {
			if strings.HasPrefix(f.Name, "memory: live heap per workload") {
				perWorkload[n] = f.Value
			}
		}
		figs = append(figs, fs...)
	}
	sorted := slices.Clone(counts)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	for i := 1; i < len(sorted); i++ {
		lo, hi := sorted[i-1], sorted[i]
		if perWorkload[lo] <= 0 {
			continue
		}
		f := perf.Figure{
			Name:  fmt.Sprintf("memory: growth, live heap per workload at %d over at %d", hi, lo),
			Value: perWorkload[hi] / perWorkload[lo], Unit: "x", Op: "<=", Target: growthTarget,
			Note: fmt.Sprintf("%.1f KiB and %.1f KiB a workload", perWorkload[hi], perWorkload[lo]),
		}
		if lo == 10000 && hi == 100000 && defaultOnly {
			f.ID = "memory.growth.100k_over_10k"
		}
		figs = append(figs, f)
	}
	logf("measured %v workloads", counts)
	return figs, nil
}
