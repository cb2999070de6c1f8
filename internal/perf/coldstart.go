package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/elastic"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// ColdStartConfig says what the cold-start measurement loads and learns.
type ColdStartConfig struct {
	URL string
	// Cluster is the Calico cluster name of the indices written; its own,
	// so nothing else is touched.
	Cluster string
	// Namespaces and DeploymentsPerNamespace size the simulated cluster
	// (their product is the workloads).
	Namespaces, DeploymentsPerNamespace int
	// Windows is how many 5-minute windows of history are loaded and
	// learned; Lookback the history the figure is scaled to (7 days).
	Windows  int
	Lookback time.Duration
	// End is where the history ends (the first window the engine would
	// judge).
	End time.Time
	// BulkDocs is the documents of one _bulk request.
	BulkDocs int
	Logf     func(format string, args ...any)
}

func (c *ColdStartConfig) defaults() {
	if c.Cluster == "" {
		c.Cluster = "coldstart"
	}
	if c.Namespaces <= 0 {
		c.Namespaces = 200
	}
	if c.DeploymentsPerNamespace <= 0 {
		c.DeploymentsPerNamespace = 50
	}
	if c.Windows <= 0 {
		c.Windows = 6
	}
	if c.Lookback <= 0 {
		c.Lookback = 7 * 24 * time.Hour
	}
	if c.End.IsZero() {
		c.End = time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	}
	if c.BulkDocs <= 0 {
		c.BulkDocs = 5000
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// ColdStartResult is what learning history from Elasticsearch cost.
type ColdStartResult struct {
	Workloads, Windows int
	Records            int64 // flow, DNS and L7 records of the windows learned
	Loaded             bool
	LoadTime           time.Duration
	// Learn is the engine's learning of the windows (reading them from
	// Elasticsearch and teaching every default detector), LearnTook
	// Elasticsearch's took over it.
	Learn, LearnTook time.Duration
	// Scaled is Learn scaled to the whole lookback (per window, times the
	// lookback's windows).
	Scaled         time.Duration
	LookbackWindow int
}

// ColdStart loads cfg.Windows windows of the simulated cluster's history
// into Elasticsearch (unless they are there), then times an engine with
// the default detectors learning them at start, as the exporter does with
// --train.lookback, and scales that to cfg.Lookback.
func ColdStart(ctx context.Context, cfg ColdStartConfig) (ColdStartResult, error) {
	cfg.defaults()
	res := ColdStartResult{Workloads: cfg.Namespaces * cfg.DeploymentsPerNamespace, Windows: cfg.Windows}
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: cfg.Cluster}
	es, err := source.NewElasticsearch(source.ElasticsearchConfig{URLs: []string{cfg.URL}, Naming: naming, RequestTimeout: 10 * time.Minute}, log.NewNopLogger())
	if err != nil {
		return res, err
	}
	client, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{cfg.URL}, DisableMetaHeader: true})
	if err != nil {
		return res, err
	}
	raw := &rawClient{client: client}
	const bucket = 5 * time.Minute
	span := source.Window{Start: cfg.End.Add(-time.Duration(cfg.Windows) * bucket), End: cfg.End}

	// The windows as the simulated cluster logs them.
	c := simulate.New(simulate.Options{Seed: 11, Cluster: cfg.Cluster, Namespaces: cfg.Namespaces, DeploymentsPerNamespace: cfg.DeploymentsPerNamespace})
	batches := make([]simulate.Batch, cfg.Windows)
	var want int64
	for i := range batches {
		w := source.Window{Start: span.Start.Add(time.Duration(i) * bucket)}
		w.End = w.Start.Add(bucket)
		batches[i] = c.Window(w)
		want += int64(len(batches[i].Flows) + len(batches[i].DNS) + len(batches[i].L7))
	}
	res.Records = want
	var have int64
	for _, t := range calicolog.LogTypes {
		n, err := es.Count(ctx, span, t)
		if err != nil {
			return res, err
		}
		have += n.Records
	}
	if have != want {
		cfg.Logf("loading %d windows of %d workloads: %d records (the indices held %d)", cfg.Windows, res.Workloads, want, have)
		for _, t := range calicolog.LogTypes {
			if err := raw.do(ctx, esapi.IndicesDeleteRequest{Index: []string{naming.SearchIndex(t)}}, nil); err != nil {
				return res, err
			}
		}
		if err := es.EnsureTemplates(ctx); err != nil {
			return res, err
		}
		start := time.Now()
		var ops []elastic.BulkOp
		flush := func() error {
			if len(ops) == 0 {
				return nil
			}
			_, err := es.Bulk(ctx, ops)
			ops = ops[:0]
			return err
		}
		add := func(t calicolog.LogType, at time.Time, doc any) error {
			b, err := json.Marshal(doc)
			if err != nil {
				return err
			}
			ops = append(ops, elastic.BulkOp{Index: naming.WriteIndex(t, at), Doc: json.RawMessage(b)})
			if len(ops) >= cfg.BulkDocs {
				return flush()
			}
			return nil
		}
		for i, b := range batches {
			at := span.Start.Add(time.Duration(i) * bucket)
			for j := range b.Flows {
				if err := add(calicolog.Flows, at, &b.Flows[j]); err != nil {
					return res, err
				}
			}
			for j := range b.DNS {
				if err := add(calicolog.DNS, at, &b.DNS[j]); err != nil {
					return res, err
				}
			}
			for j := range b.L7 {
				if err := add(calicolog.L7, at, &b.L7[j]); err != nil {
					return res, err
				}
			}
			cfg.Logf("loaded window %d of %d", i+1, cfg.Windows)
		}
		if err := flush(); err != nil {
			return res, err
		}
		pattern := naming.SearchIndex(calicolog.Flows) + "," + naming.SearchIndex(calicolog.DNS) + "," + naming.SearchIndex(calicolog.L7)
		if err := es.Refresh(ctx, pattern); err != nil {
			return res, err
		}
		res.Loaded, res.LoadTime = true, time.Since(start)
	}

	if err := raw.clearCache(ctx, naming); err != nil {
		return res, err
	}
	ds, err := engine.BuildWith(defaultDetectors(), engine.BuildOptions{Cluster: cfg.Cluster, Bucket: bucket, Seed: 1, Getenv: noEnv})
	if err != nil {
		return res, err
	}
	eng, err := engine.New(engine.Config{Start: cfg.End, Bucket: bucket, TrainLookback: time.Duration(cfg.Windows) * bucket}, es, ds, scoreboard.New(0), nil, nil)
	if err != nil {
		return res, err
	}
	took0 := es.Took()
	start := time.Now()
	if err := eng.Replay(ctx, cfg.End, cfg.End); err != nil {
		return res, fmt.Errorf("learning history: %w", err)
	}
	res.Learn, res.LearnTook = time.Since(start), es.Took()-took0
	res.LookbackWindow = int(cfg.Lookback / bucket)
	res.Scaled = res.Learn / time.Duration(cfg.Windows) * time.Duration(res.LookbackWindow)
	cfg.Logf("learned %d windows of %d workloads in %s (Elasticsearch took %s)", cfg.Windows, res.Workloads, res.Learn.Round(time.Millisecond), res.LearnTook)
	return res, nil
}

// defaultDetectors names the detectors enabled by default.
func defaultDetectors() []string {
	var out []string
	for _, info := range detect.Registered() {
		if info.DefaultEnabled {
			out = append(out, info.Name)
		}
	}
	return out
}
