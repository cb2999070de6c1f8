package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// sourceFlags are the flags that choose and reach the log source.
type sourceFlags struct {
	kind         string
	esURLs       []string
	esUser       string
	esPassFile   string
	esAPIKeyFile string
	esCAFile     string
	esCluster    string
	esTenant     string
	esLayout     string
	esTimeout    time.Duration
	esPageSize   int
	simSeed      uint64
	simSpeed     float64
	simAttackGap time.Duration
}

func addSourceFlags(app *kingpin.Application) *sourceFlags {
	f := &sourceFlags{}
	app.Flag("source", "Where logs come from: elasticsearch, or simulated (the built-in simulated cluster).").
		Default("elasticsearch").EnumVar(&f.kind, "elasticsearch", "simulated")
	app.Flag("es.url", "Elasticsearch URL; repeat for several nodes.").Default("http://localhost:9200").StringsVar(&f.esURLs)
	app.Flag("es.username", "Elasticsearch user for basic auth.").Envar("ELASTIC_USER").StringVar(&f.esUser)
	app.Flag("es.password-file", "File holding the Elasticsearch password.").StringVar(&f.esPassFile)
	app.Flag("es.api-key-file", "File holding an Elasticsearch API key (base64 id:key).").StringVar(&f.esAPIKeyFile)
	app.Flag("es.ca-file", "PEM file of the CA that signed Elasticsearch's certificate.").Envar("ES_CA_CERT").StringVar(&f.esCAFile)
	app.Flag("es.cluster", "Calico cluster name, as in index names (tigera_secure_ee_flows.<cluster>.*).").Envar("CLUSTER_NAME").Default("cluster").StringVar(&f.esCluster)
	app.Flag("es.tenant", "Calico tenant id in legacy index names, if any.").StringVar(&f.esTenant)
	app.Flag("es.index-layout", "Index layout: legacy (tigera_secure_ee_*) or single (calico_flowlogs with a cluster field).").Default("legacy").EnumVar(&f.esLayout, "legacy", "single")
	app.Flag("es.timeout", "Timeout of one Elasticsearch request.").Default("30s").DurationVar(&f.esTimeout)
	app.Flag("es.page-size", "Buckets per page of a composite aggregation; Elasticsearch reads the whole window once a page, so fewer, larger pages are faster (at most search.max_buckets).").Default("10000").IntVar(&f.esPageSize)
	app.Flag("simulate.seed", "Seed of the simulated cluster; the same seed gives the same traffic.").Default("1").Uint64Var(&f.simSeed)
	app.Flag("simulate.speed", "How many times faster than real time the simulated cluster runs.").Default("60").Float64Var(&f.simSpeed)
	app.Flag("simulate.attack-every", "Simulated time between two rounds of attacks (a port scan, then an IP sweep).").Default("1h").DurationVar(&f.simAttackGap)
	return f
}

func (f *sourceFlags) clusterName() string { return f.esCluster }

// builtSource is a ready source with the clock it runs on.
type builtSource struct {
	source source.Source
	clock  engine.Clock
	start  time.Time // first window to process; zero for "the newest closed one"
}

func (f *sourceFlags) build(ctx context.Context, logger log.Logger) (builtSource, error) {
	switch f.kind {
	case "simulated":
		return f.buildSimulated()
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
	naming := calicolog.IndexNaming{Layout: calicolog.Layout(f.esLayout), Cluster: f.esCluster, Tenant: f.esTenant}
	if err := naming.Validate(); err != nil {
		return builtSource{}, err
	}
	pass, err := readSecret(f.esPassFile, "--es.password-file")
	if err != nil {
		return builtSource{}, err
	}
	if pass == "" {
		pass = os.Getenv("ELASTIC_PASSWORD")
	}
	apiKey, err := readSecret(f.esAPIKeyFile, "--es.api-key-file")
	if err != nil {
		return builtSource{}, err
	}
	var ca []byte
	if f.esCAFile != "" {
		if ca, err = os.ReadFile(f.esCAFile); err != nil {
			return builtSource{}, fmt.Errorf("read --es.ca-file: %w", err)
		}
	}
	es, err := source.NewElasticsearch(source.ElasticsearchConfig{
		URLs: f.esURLs, Username: f.esUser, Password: pass, APIKey: apiKey, CACert: ca,
		Naming: naming, PageSize: f.esPageSize, RequestTimeout: f.esTimeout,
	}, log.With(logger, "component", "elasticsearch"))
	if err != nil {
		return builtSource{}, err
	}
	return builtSource{source: es, clock: engine.RealClock{}}, nil
}

func (f *sourceFlags) buildSimulated() (builtSource, error) {
	if f.simSpeed <= 0 {
		return builtSource{}, fmt.Errorf("--simulate.speed must be positive, got %v", f.simSpeed)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	cluster := simulate.New(simulate.Options{Seed: f.simSeed, Cluster: f.esCluster}, simulate.DemoAttacks(now, f.simAttackGap, 24)...)
	return builtSource{
		source: simulate.NewSource(cluster),
		clock:  engine.NewScaledClock(now, f.simSpeed),
		start:  now.Truncate(5 * time.Minute).Add(-time.Hour),
	}, nil
}
