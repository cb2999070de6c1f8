// Command calico-anomaly-exporter turns Calico flow, DNS and L7 logs into
// anomaly score metrics per workload and detector.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	toolkitweb "github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/collector"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/config"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/redact"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/logging"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/web"
)

const exporterName = "calico-anomaly-exporter"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	app := kingpin.New(exporterName, "Turns Calico flow, DNS and L7 logs into anomaly score metrics per workload and detector.")
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	logCfg := logging.AddFlags(app)
	webFlags := kingpinflag.AddFlags(app, ":9925")
	metricsPath := app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
	cfgFlags := config.AddFlags(app)
	src := addSourceFlags(app)
	sched := addScheduleFlags(app)
	enablePprof := addPprofFlag(app)
	memLimit := addMemLimitFlags(app)
	grafanaURL := app.Flag("web.grafana-url", "Grafana's base URL, for links from the status page and alerts to the shipped dashboards.").Default("").String()
	alerts := addNotifyFlags(app)
	incFlags := addIncidentFlags(app)
	serveCmd := app.Command("serve", "Score every window as it closes and serve metrics, alerts and the status page (the default).").Default()
	backtestCmd := addBacktestCommand(app)
	simulateCmd := addSimulateCommand(app)
	evaluateNABCmd, evaluateLifeCmd := addEvaluateNABCommand(app), addEvaluateLifeCommand(app)
	evaluateDGACmd := addEvaluateDGACommand(app)

	command, err := cfgFlags.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", exporterName, err)
		return 2
	}
	if path := *webFlags.WebConfigFile; path != "" {
		if err := toolkitweb.Validate(path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: --web.config.file=%s: %v\n", exporterName, path, err)
			return 2
		}
	}
	if err := checkTelemetryPath(*metricsPath); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", exporterName, err)
		return 2
	}
	if err := checkRanges(flagRanges(src, sched, memLimit, alerts)); err != nil {
		fmt.Fprintf(os.Stderr, "%s: flags out of range:\n%v\n", exporterName, err)
		return 2
	}
	load := func() (*config.Config, error) { return cfgFlags.Load(os.Getenv) }
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: configuration refused:\n%v\n", exporterName, redact.Error(err))
		return 1
	}
	if cfgFlags.Check {
		fmt.Fprintf(os.Stdout, "configuration valid\n\n%s", cfg.Text())
		return 0
	}
	if cfg.Debug && !cfgFlags.SetByUser("log.level") {
		logCfg.Level = "debug" // Calico's AD_debug
	}
	src.settings, sched.settings = cfg, cfg
	src.esCluster = cfg.Cluster
	src.bucket, src.lag, src.lookback = cfg.Bucket, sched.lag, sched.lookback
	enabled := cfg.EnabledDetectors()
	logger, err := logging.New(*logCfg, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", exporterName, err)
		return 2
	}
	if kv, set, err := memLimit.apply(os.Getenv, cgroupRoot, debug.SetMemoryLimit); err != nil {
		level.Error(logger).Log("msg", "cannot set the Go memory limit", "err", err)
		return 1
	} else if set {
		level.Info(logger).Log(append([]any{"msg", "Go memory limit set from the container's"}, kv...)...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch command {
	case backtestCmd.cmd.FullCommand():
		return runBacktest(ctx, backtestCmd, src, sched, enabled, cfg.Params(), logger, os.Stdout, os.Stderr)
	case simulateCmd.cmd.FullCommand():
		return runSimulate(ctx, simulateCmd, src, sched.settings.Bucket, logger, os.Stderr)
	case evaluateNABCmd.cmd.FullCommand():
		return runEvaluateNAB(ctx, evaluateNABCmd, sched, cfg.Params(), logger, os.Stdout)
	case evaluateLifeCmd.cmd.FullCommand():
		return runEvaluateLife(ctx, evaluateLifeCmd, src, sched, enabled, cfg.Params(), logger, os.Stdout)
	case evaluateDGACmd.cmd.FullCommand():
		return runEvaluateDGA(evaluateDGACmd, os.Stdout, os.Stderr)
	case serveCmd.FullCommand():
	}
	level.Info(logger).Log("msg", "starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())
	level.Info(logger).Log(append([]interface{}{"msg", "configuration"}, cfg.LogKeyvals()...)...)
	for _, ig := range cfg.Ignored {
		level.Info(logger).Log("msg", "GlobalAlert ignored", "name", ig.Name, "reason", ig.Reason, "at", ig.Pos)
	}
	for _, w := range cfg.Warnings() {
		level.Warn(logger).Log("msg", "configuration accepted with a warning", "warning", w)
	}
	if unknown := config.UnknownEnv(os.Environ()); len(unknown) > 0 {
		level.Warn(logger).Log("msg", "environment variables that no setting reads (misspelt?)", "variables", strings.Join(unknown, ","))
	}

	clusters, err := src.resolveClusters(ctx, logger)
	if err != nil {
		level.Error(logger).Log("msg", "cannot resolve the clusters", "err", err)
		return 1
	}
	shard := engine.Shard{Total: src.shardTotal, Index: src.shardIndex}
	if err := shard.Validate(); err != nil {
		level.Error(logger).Log("msg", "bad --shard.total/--shard.index", "err", err)
		return 1
	}
	concurrency, err := src.engineConcurrency()
	if err != nil {
		level.Error(logger).Log("msg", "bad --source.concurrency", "err", err)
		return 1
	}
	// One source, set of detectors and engine per cluster, sharing the
	// scoreboard, the status page's history and the notifiers.
	type clusterRun struct {
		name   string
		built  builtSource
		engine *engine.Engine
	}
	runs := make([]*clusterRun, len(clusters))
	for i, name := range clusters {
		one := *src
		one.esCluster = name
		built, err := one.build(ctx, logger)
		if err != nil {
			level.Error(logger).Log("msg", "cannot set up the log source", "cluster", name, "err", err)
			return 1
		}
		runs[i] = &clusterRun{name: name, built: built}
	}
	// Links carry no credentials: a user or password in the Grafana or
	// external URL would reach every alert, event and page.
	*grafanaURL, _, _ = redact.SplitURL(*grafanaURL)
	alerts.externalURL, _, _ = redact.SplitURL(alerts.externalURL)
	board := scoreboard.New(cfg.MaxSeriesPerDetector)
	history := web.NewHistory(48, 0)
	basePolicy, err := alerts.policy()
	if err != nil {
		level.Error(logger).Log("msg", "cannot set up alerts", "err", err)
		return 1
	}
	policy := notify.NewLivePolicy(policyFrom(basePolicy, cfg))
	inc, err := incFlags.build(sched.storage, policy, runs[0].built.clock.Now)
	if err != nil {
		level.Error(logger).Log("msg", "cannot set up incidents", "err", err)
		return 1
	}
	basePolicy.Expected = inc.store.Expected
	policy.Set(policyFrom(basePolicy, cfg))
	live := &liveConfig{safe: config.NewSafeConfig(cfg, load, logger), apply: func(c *config.Config) { policy.Set(policyFrom(basePolicy, c)) }}
	notifiers, err := alerts.build(runs[0].built.source, *grafanaURL, policy, inc, logger)
	if err != nil {
		level.Error(logger).Log("msg", "cannot set up alerts", "err", err)
		return 1
	}
	ready := newReadiness(len(runs))
	var running runningSettings
	var periods *prometheus.GaugeVec
	for _, r := range runs {
		build := engine.BuildOptions{
			Cluster: r.name, Getenv: noEnv, Logger: log.With(logger, "cluster", r.name), Params: cfg.Params(),
			Bucket: sched.settings.Bucket, TrainInterval: sched.settings.TrainInterval, Seed: sched.seed,
		}
		detectors, err := engine.BuildWith(enabled, build)
		if err != nil {
			level.Error(logger).Log("msg", "cannot set up detectors", "err", err)
			return 1
		}
		detectors = availableFrom(r.built.source, detectors, log.With(logger, "cluster", r.name))
		if r == runs[0] {
			enabled = enabled[:0:0]
			for _, d := range detectors {
				enabled = append(enabled, d.Name())
			}
		}
		engCfg, err := sched.config(r.built.start)
		if err != nil {
			level.Error(logger).Log("msg", "bad schedule", "err", err)
			return 1
		}
		engCfg.Shard = shard
		engCfg.Concurrency = concurrency
		engCfg.Periods = detectorPeriods(cfg, engCfg.Interval, logger)
		periods = periodGauge(enabled, engCfg.Periods, engCfg.Interval)
		// Every engine is named after its cluster, a lone one too: its
		// detector health is exported under that cluster label, and the
		// feedback on the cluster's entities is handed to it to learn.
		engCfg.Cluster = r.name
		if len(runs) > 1 && engCfg.StateDir != "" {
			engCfg.StateDir = filepath.Join(engCfg.StateDir, r.name)
		}
		engCfg.Sinks = append(engCfg.Sinks, history, ready.sink(), inc.tracker)
		engCfg.Feedback = inc.store
		engCfg.Sinks = append(engCfg.Sinks, notifiers.sinks...)
		engLogger := log.With(logger, "component", "engine")
		if len(runs) > 1 {
			engLogger = log.With(engLogger, "cluster", r.name)
		}
		if r.engine, err = engine.New(engCfg, r.built.source, detectors, board, r.built.clock, engLogger); err != nil {
			level.Error(logger).Log("msg", "cannot start the engine", "cluster", r.name, "err", err)
			return 1
		}
		running = runningSettings{app: app, flags: cfgFlags, start: cfg, engine: engCfg, build: build, detectors: detectors, policy: policy}
	}
	live.running = &running
	built := runs[0].built
	level.Info(logger).Log("msg", "detectors enabled", "detectors", fmt.Sprint(enabled), "source", built.source.Kind(),
		"clusters", strings.Join(clusters, ","), "shard", shard)

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collector.New(board, built.clock.Now),
		versioncollector.NewCollector("calico_anomaly_exporter"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	reg.MustRegister(notifiers.collectors...)
	reg.MustRegister(inc.store, inc.tracker)
	reg.MustRegister(live.safe, periods, searchIntervalGauge(running.engine.Interval))
	mux := http.NewServeMux()
	for _, r := range runs {
		reg.MustRegister(r.built.collectors...)
		for path, h := range r.built.routes {
			mux.Handle(path, h)
		}
	}
	mux.Handle(*metricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: promErrorLogger{logger}}))
	pages := web.New(web.Config{Name: exporterName, Version: version.Info(), MetricsPath: *metricsPath, ConfigPath: "/config", GrafanaURL: *grafanaURL, Now: built.clock.Now, Extras: notifiers.extras,
		Incidents: inc.tracker, Feedback: inc.store}, board, history)
	mux.Handle("/", pages)
	live.page = pages.Config
	mux.HandleFunc("/config", live.configHandler)
	mux.HandleFunc("/-/reload", live.reloadHandler)
	mux.HandleFunc("/-/healthy", healthy)
	mux.HandleFunc("/-/ready", ready.ready)
	live.watchSIGHUP(ctx)
	if *enablePprof {
		servePprof(mux)
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 1+len(runs))
	notifiers.run(ctx)
	if notifiers.am != nil {
		go notifiers.am.WatchSilences(ctx, incFlags.silenceWord, incFlags.silencePoll, inc.fromSilence(log.With(logger, "component", "feedback")))
	}
	for _, r := range runs {
		go func() { errc <- r.engine.Run(ctx) }()
		if r.built.run != nil {
			go func() { errc <- r.built.run(ctx) }()
		}
	}
	go func() { errc <- toolkitweb.ListenAndServe(server, webFlags, logging.Slog(logger, *logCfg)) }()
	select {
	case <-ctx.Done():
		level.Info(logger).Log("msg", "shutting down")
	case err := <-errc:
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
			level.Error(logger).Log("msg", "stopped", "err", err)
			return 1
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = server.Shutdown(shutdownCtx)
	return 0
}

// noEnv reads no environment variable: the configuration read Calico's,
// detector settings included (Config.Params), once.
func noEnv(string) string { return "" }

type promErrorLogger struct{ l log.Logger }

func (p promErrorLogger) Println(v ...interface{}) {
	level.Error(p.l).Log("msg", "metrics handler", "err", fmt.Sprint(v...))
}
