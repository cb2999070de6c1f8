package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/config"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane"
)

// sourceFlags are the flags that choose and reach the log source.
type sourceFlags struct {
	kind string
	// settings are the effective configuration: Elasticsearch's address,
	// credentials and index naming, and the clusters (--es.cluster: names
	// or glob patterns), merged with Calico's environment and the files.
	settings     *config.Config
	esCluster    string // the cluster being built
	shardTotal   int
	shardIndex   int
	esTimeout    time.Duration
	esPageSize   int
	esMaxAnswer  units.Base2Bytes
	concurrency  int
	simSeed      uint64
	simSpeed     float64
	simAttackGap time.Duration
	simScenario  []string
	simLife      bool
	filePaths    []string
	fileLogType  string
	goldmane     *goldmaneFlags
	// bucket, lag and lookback are the schedule's (--source.bucket,
	// --source.lag, --train.lookback), which a Goldmane source follows.
	bucket, lag, lookback time.Duration
	fileMaxRec            units.Base2Bytes
	fileMaxSize           units.Base2Bytes
	fileMaxAge            time.Duration
	fileMaxSkew           time.Duration
}

func addSourceFlags(app *kingpin.Application) *sourceFlags {
	f := &sourceFlags{}
	app.Flag("source", "Where logs come from: elasticsearch, simulated (the built-in simulated cluster), file (NDJSON files of Calico log documents, see --file.path), goldmane (Calico Open Source: Goldmane's gRPC flow stream, see --goldmane.address), goldmane-emitter (the NDJSON pushes of Goldmane's emitter to "+goldmane.EmitterPath+") or goldmane-simulated (the simulated cluster served by an in-process Goldmane).").
		Default("elasticsearch").EnumVar(&f.kind, "elasticsearch", "simulated", "file", "goldmane", "goldmane-emitter", "goldmane-simulated")
	f.goldmane = addGoldmaneFlags(app)
	app.Flag("file.path", "With --source=file: an NDJSON file (optionally gzip) of Calico documents, _search hits or answers, a folder of them, or a glob; repeatable.").StringsVar(&f.filePaths)
	app.Flag("file.log-type", "With --source=file: the log type of plain documents (flows, dns or l7); by default each file's name tells it.").Default("").EnumVar(&f.fileLogType, "", "flows", "dns", "l7")
	app.Flag("file.max-record-size", "With --source=file: the largest record read; a larger one (a field of megabytes) is counted malformed and skipped.").Default("1MiB").BytesVar(&f.fileMaxRec)
	app.Flag("file.max-size", "With --source=file: the most read of one file, decompressed; a file that goes on (a gzip bomb) is refused.").Default("64GiB").BytesVar(&f.fileMaxSize)
	app.Flag("file.max-age", "With --source=file: a record whose end_time is further back than this is counted malformed and moves no window.").Default(source.DefaultMaxAge.String()).DurationVar(&f.fileMaxAge)
	app.Flag("file.max-clock-skew", "With --source=file: a record whose end_time is further ahead of now than this is counted malformed and moves no window.").Default(source.DefaultMaxClockSkew.String()).DurationVar(&f.fileMaxSkew)
	app.Flag("shard.total", "Replicas sharing the work by namespace: each reads, learns and scores the namespaces whose stable hash of cluster/namespace (FNV-1a mixed by MurmurHash3's finalizer) falls in its shard; 0 or 1 for none.").Default("0").IntVar(&f.shardTotal)
	app.Flag("shard.index", "This replica's shard, 0 to --shard.total minus 1.").Default("0").IntVar(&f.shardIndex)
	app.Flag("es.timeout", "Timeout of one Elasticsearch request.").Default("30s").DurationVar(&f.esTimeout)
	app.Flag("es.page-size", "Buckets per page of a composite aggregation; Elasticsearch reads the whole window once a page, so fewer, larger pages are faster. A cluster whose search.max_buckets is lower makes the exporter halve it until pages pass.").Default(strconv.Itoa(source.DefaultPageSize)).IntVar(&f.esPageSize)
	app.Flag("es.max-response-size", "Largest Elasticsearch answer read (a page of --es.page-size groups is about 30MB at the default); a larger one is an error, not read whole.").Default("256MiB").BytesVar(&f.esMaxAnswer)
	app.Flag("source.concurrency", "How many of a window's aggregations (and record counts) the source is asked at once, per watched cluster; 1 asks one after another. Every one is read before any detector judges the window.").Default(strconv.Itoa(engine.DefaultConcurrency)).IntVar(&f.concurrency)
	app.Flag("simulate.seed", "Seed of the simulated cluster; the same seed gives the same traffic.").Default("1").Uint64Var(&f.simSeed)
	app.Flag("simulate.speed", "How many times faster than real time the simulated cluster runs.").Default("60").Float64Var(&f.simSpeed)
	app.Flag("simulate.scenario", "With --source=simulated: also play these attacks of the scenario library, one every two simulated hours from the start (repeatable; \"all\" for every one; backtest --scenario lists them).").StringsVar(&f.simScenario)
	app.Flag("simulate.attack-every", "Simulated time between two rounds of attacks (a port scan, then an IP sweep).").Default("1h").DurationVar(&f.simAttackGap)
	app.Flag("simulate.life", "Give the simulated cluster normal life: a weekly pattern, rollouts and pod restarts, a nightly backup, a morning load and a weekly batch job (none labelled).").BoolVar(&f.simLife)
	return f
}

func (f *sourceFlags) clusterName() string { return f.esCluster }

// engineConcurrency is --source.concurrency, checked.
func (f *sourceFlags) engineConcurrency() (int, error) {
	if f.concurrency < 1 {
		return 0, fmt.Errorf("--source.concurrency must be at least 1 (1 asks the source one query at a time), got %d", f.concurrency)
	}
	return f.concurrency, nil
}

// resolveClusters expands --es.cluster into cluster names: globs are
// resolved against the indices Elasticsearch holds.
func (f *sourceFlags) resolveClusters(ctx context.Context, logger log.Logger) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, c := range f.settings.Clusters {
		names := []string{c}
		if strings.Contains(c, "*") {
			if f.kind != "elasticsearch" {
				return nil, fmt.Errorf("--es.cluster=%s: a pattern needs --source=elasticsearch", c)
			}
			one := *f
			one.esCluster = "cluster"
			built, err := one.buildElasticsearch(logger)
			if err != nil {
				return nil, err
			}
			found, err := built.source.(*source.Elasticsearch).DiscoverClusters(ctx, f.settings.Elasticsearch.IndexLayout, c)
			if err != nil {
				return nil, fmt.Errorf("--es.cluster=%s: %w", c, err)
			}
			level.Info(logger).Log("msg", "clusters found", "pattern", c, "clusters", strings.Join(found, ","))
			names = found
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--es.cluster %s: no cluster found", strings.Join(f.settings.Clusters, ","))
	}
	if len(out) > 1 && f.kind != "elasticsearch" {
		return nil, fmt.Errorf("--es.cluster: several clusters need --source=elasticsearch")
	}
	return out, nil
}

// builtSource is a ready source with the clock it runs on.
type builtSource struct {
	source source.Source
	clock  engine.Clock
	start  time.Time // first window to process; zero for "the newest closed one"
	// run, when set, keeps the source fed until ctx ends (Goldmane's stream).
	run func(context.Context) error
	// collectors are the source's own metrics; routes its HTTP endpoints.
	collectors []prometheus.Collector
	routes     map[string]http.Handler
}

func (f *sourceFlags) build(ctx context.Context, logger log.Logger) (builtSource, error) {
	switch f.kind {
	case "simulated":
		return f.buildSimulated()
	case "file":
		return f.buildFile(ctx, logger)
	case "goldmane":
		return f.buildGoldmane(logger)
	case "goldmane-emitter":
		return f.buildGoldmaneEmitter(logger)
	case "goldmane-simulated":
		return f.buildGoldmaneSimulated(ctx, logger)
	default:
		return f.buildElasticsearch(logger)
	}
}

func readSecret(path, what string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (f *sourceFlags) buildElasticsearch(logger log.Logger) (builtSource, error) {
	es := f.settings.Elasticsearch
	naming := f.indexNaming()
	if err := naming.Validate(); err != nil {
		return builtSource{}, err
	}
	pass, err := readSecret(es.PasswordFile, "--es.password-file")
	if err != nil {
		return builtSource{}, err
	}
	if pass == "" {
		pass = es.Password.Reveal()
	}
	apiKey, err := readSecret(es.APIKeyFile, "--es.api-key-file")
	if err != nil {
		return builtSource{}, err
	}
	var ca []byte
	if es.CAFile != "" {
		if ca, err = os.ReadFile(es.CAFile); err != nil {
			return builtSource{}, fmt.Errorf("read --es.ca-file: %w", err)
		}
	}
	client, err := source.NewElasticsearch(source.ElasticsearchConfig{
		URLs: es.URLs, Username: es.Username, Password: pass, APIKey: apiKey, CACert: ca,
		Naming: naming, PageSize: f.esPageSize, RequestTimeout: f.esTimeout, MaxResponseBytes: int64(f.esMaxAnswer),
	}, log.With(logger, "component", "elasticsearch"))
	if err != nil {
		return builtSource{}, err
	}
	return builtSource{source: client, clock: engine.RealClock{}}, nil
}

// indexNaming names the indices of the cluster being built.
func (f *sourceFlags) indexNaming() calicolog.IndexNaming {
	es := f.settings.Elasticsearch
	return calicolog.IndexNaming{Layout: es.IndexLayout, Cluster: f.esCluster, Tenant: es.Tenant}
}

func (f *sourceFlags) buildSimulated() (builtSource, error) {
	if f.simSpeed <= 0 {
		return builtSource{}, fmt.Errorf("--simulate.speed must be positive, got %v", f.simSpeed)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	opts := simulate.Options{Seed: f.simSeed, Cluster: f.esCluster, Life: f.simLife}
	attacks := simulate.DemoAttacks(now, f.simAttackGap, 24)
	if len(f.simScenario) > 0 {
		// Each library entry in its own two hours, after the demo's first
		// round of scans.
		from := now.Truncate(5 * time.Minute).Add(30 * time.Minute)
		n := len(f.simScenario)
		if n == 1 && f.simScenario[0] == "all" {
			n = len(simulate.ScenarioLibrary())
		}
		more, err := libraryScenarios(f.simScenario, simulate.New(opts), from, from.Add(time.Duration(n)*2*time.Hour+time.Hour))
		if err != nil {
			return builtSource{}, fmt.Errorf("--simulate.scenario: %w", err)
		}
		attacks = append(attacks, more...)
	}
	cluster := simulate.New(opts, attacks...)
	return builtSource{
		source: simulate.NewSource(cluster),
		clock:  engine.NewScaledClock(now, f.simSpeed),
		start:  now.Truncate(5 * time.Minute).Add(-time.Hour),
	}, nil
}

// buildFile loads the files; the engine starts at their first window and
// catches up to now (served) or replays their span (backtest).
func (f *sourceFlags) buildFile(ctx context.Context, logger log.Logger) (builtSource, error) {
	if len(f.filePaths) == 0 {
		return builtSource{}, fmt.Errorf("--source=file needs --file.path")
	}
	level.Info(logger).Log("msg", "loading log files", "paths", strings.Join(f.filePaths, ","))
	files, err := source.OpenFiles(ctx, source.FileOptions{Paths: f.filePaths, LogType: calicolog.LogType(f.fileLogType),
		MaxRecordBytes: int(f.fileMaxRec), MaxFileBytes: int64(f.fileMaxSize), MaxAge: f.fileMaxAge, MaxClockSkew: f.fileMaxSkew})
	if err != nil {
		return builtSource{}, err
	}
	st := files.Stats()
	level.Info(logger).Log("msg", "log files loaded", "files", len(st.Files), "records", st.Records(), "malformed", st.MalformedRecords())
	if err := st.Err(); err != nil {
		level.Warn(logger).Log("msg", "malformed records skipped", "err", err)
	}
	first, _, ok := files.Span()
	if !ok {
		return builtSource{}, fmt.Errorf("--file.path %s: no record loaded", strings.Join(f.filePaths, ","))
	}
	return builtSource{source: files, clock: engine.RealClock{}, start: first.Truncate(5 * time.Minute)}, nil
}
