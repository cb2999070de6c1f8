package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
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

// SideBySideConfig says what the side-by-side loads and measures.
type SideBySideConfig struct {
	URL string
	// Cluster is the Calico cluster name of the indices written
	// (tigera_secure_ee_flows.<cluster>.*); its own, so nothing else is
	// touched.
	Cluster string
	// FlowRecords is how many flow records the window holds; DNS and L7
	// records are added in the proportion the simulated cluster logs them.
	FlowRecords int
	// Namespaces and DeploymentsPerNamespace size the simulated cluster.
	Namespaces, DeploymentsPerNamespace int
	// Window is the 5-minute window loaded and read.
	Window source.Window
	// Reload deletes and loads the indices even when they already hold the
	// window's records.
	Reload bool
	// BulkDocs is the documents of one _bulk request, BulkWorkers how many
	// requests are in flight at once.
	BulkDocs, BulkWorkers int
	// PageSize is the composite aggregation's page (the exporter's
	// --es.page-size); RawPage the documents of one search_after page.
	PageSize, RawPage int
	// Concurrency is how many of the window's queries the aggregation
	// path runs at once (the exporter's --source.concurrency); 0 is the
	// engine's default.
	Concurrency int
	// IndexSort creates the flow index sorted on the fields the flow
	// queries group by first (source_namespace, source_name_aggr,
	// source_type), the option of users who control their templates.
	IndexSort bool
	// NoRaw skips the raw path and the comparison of rows: the aggregation
	// path's figures only.
	NoRaw bool
	// ReadRuns is how often the reading alone is measured (default 3).
	ReadRuns int
	// Shards, above 1, also runs that many replicas of the engine over the
	// window, each with its share (engine.Shard), one after another, and
	// sums their Elasticsearch took.
	Shards int
	// CPUProfile, when set, is where a CPU profile of the aggregation
	// path's last run is written (the Go side: decoding pages, learning).
	CPUProfile string
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

// SideBySideResult holds the figures of one run.
type SideBySideResult struct {
	Flows, DNS, L7 int // records in the window
	Loaded         bool
	LoadedRecords  int // records written by this run
	LoadTime       time.Duration
	Detectors      []string
	// AggWall is the exporter's aggregation path (engine.ProcessWindow over
	// source.Elasticsearch, all enabled detectors), AggTook Elasticsearch's
	// own took for its searches, summed (with a concurrency above 1 they
	// overlap, so the sum can exceed the wall time); both for the best of
	// the runs.
	AggWall, AggTook time.Duration
	AggRuns          []time.Duration
	// SeqWall and SeqTook are the same for a run one query at a time.
	SeqWall, SeqTook time.Duration
	// ReadWall and ReadTook are the source's reading of the window alone,
	// one request at a time: the planned aggregations and the counts,
	// without the detectors' learning and judging. ReadWall over ReadTook
	// is the per-request overhead (network, Elasticsearch's serialising,
	// decoding), ReadTook Elasticsearch's work for the window.
	ReadWall, ReadTook time.Duration
	// ReadRuns holds every run's wall and took.
	ReadRuns [][2]time.Duration
	// ShardsTook is Elasticsearch's took summed over Shards replicas
	// processing the window, each one query at a time, UnshardedTook an
	// unsharded engine's (the mean of one run before each replica's).
	ShardsTook, UnshardedTook time.Duration
	Shards                    int
	// Searches is the aggregations the engine sends for the window after
	// merging the detectors' queries (see engine.Engine.Queries), besides
	// one count per log type; Concurrency how many run at once.
	Searches, Concurrency int
	// RawWall is the raw path: search_after with a point in time through
	// the window's documents, decoded and counted in Go; RawDocs the
	// documents it read and RawBytes the size of the answers.
	RawWall  time.Duration
	RawDocs  int
	RawBytes int64
	// Queries and QueriesEqual: how many of the detectors' queries gave
	// the same rows on both paths (Elasticsearch's distinct counts are
	// estimates above their precision threshold).
	Queries, QueriesEqual int
	Mismatches            []string
}

// LoadRate is records loaded a second.
func (r SideBySideResult) LoadRate() float64 {
	if r.LoadTime <= 0 {
		return 0
	}
	return float64(r.LoadedRecords) / r.LoadTime.Seconds()
}

func (c *SideBySideConfig) defaults() {
	if c.Cluster == "" {
		c.Cluster = "bench"
	}
	if c.FlowRecords <= 0 {
		c.FlowRecords = 200000
	}
	if c.Namespaces <= 0 {
		c.Namespaces = 200
	}
	if c.DeploymentsPerNamespace <= 0 {
		c.DeploymentsPerNamespace = 50
	}
	if c.Window.Start.IsZero() {
		at := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
		c.Window = source.Window{Start: at, End: at.Add(5 * time.Minute)}
	}
	if c.BulkDocs <= 0 {
		c.BulkDocs = 5000
	}
	if c.BulkWorkers <= 0 {
		c.BulkWorkers = 3
	}
	if c.PageSize <= 0 {
		c.PageSize = 1000
	}
	if c.RawPage <= 0 {
		c.RawPage = 10000
	}
	if c.ReadRuns <= 0 {
		c.ReadRuns = 3
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// SideBySide loads (unless already there) cfg.FlowRecords flow records
// and their DNS and L7 records for one window into Elasticsearch, then
// times the exporter's aggregation path against the raw-document path on
// them.
func SideBySide(ctx context.Context, cfg SideBySideConfig) (SideBySideResult, error) {
	cfg.defaults()
	var res SideBySideResult
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: cfg.Cluster}
	es, err := source.NewElasticsearch(source.ElasticsearchConfig{
		URLs: []string{cfg.URL}, Naming: naming, PageSize: cfg.PageSize, RequestTimeout: 10 * time.Minute,
	}, log.NewNopLogger())
	if err != nil {
		return res, err
	}
	client, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{cfg.URL}, DisableMetaHeader: true})
	if err != nil {
		return res, err
	}
	raw := &rawClient{client: client}

	c := simulate.New(simulate.Options{Seed: 11, Cluster: cfg.Cluster, Namespaces: cfg.Namespaces, DeploymentsPerNamespace: cfg.DeploymentsPerNamespace})
	base := c.Window(cfg.Window)
	if len(base.Flows) == 0 {
		return res, fmt.Errorf("the simulated cluster logged no flow in %s", cfg.Window)
	}
	want := plan(base, cfg.FlowRecords)
	have := map[calicolog.LogType]int64{}
	for _, t := range calicolog.LogTypes {
		n, err := es.Count(ctx, cfg.Window, t)
		if err != nil {
			return res, err
		}
		have[t] = n.Records
	}
	from := counts{flows: int(have[calicolog.Flows]), dns: int(have[calicolog.DNS]), l7: int(have[calicolog.L7])}
	if cfg.Reload || from != want {
		// A smaller window of the same records is extended with the
		// records it lacks (the copies are the same whatever the count);
		// anything else is loaded afresh.
		if cfg.Reload || from.flows == 0 || from.flows > want.flows || from.dns > want.dns || from.l7 > want.l7 {
			from = counts{}
			for _, t := range calicolog.LogTypes {
				if err := raw.do(ctx, esapi.IndicesDeleteRequest{Index: []string{naming.SearchIndex(t)}}, nil); err != nil {
					return res, err
				}
			}
			if err := es.EnsureTemplates(ctx); err != nil {
				return res, err
			}
		}
		cfg.Logf("loading %d flow, %d DNS and %d L7 records for %s (the indices held %d, %d, %d)",
			want.flows-from.flows, want.dns-from.dns, want.l7-from.l7, cfg.Window, have[calicolog.Flows], have[calicolog.DNS], have[calicolog.L7])
		start := time.Now()
		if err := load(ctx, es, raw, naming, base, from, want, cfg); err != nil {
			return res, err
		}
		res.LoadTime = time.Since(start)
		res.LoadedRecords = want.flows + want.dns + want.l7 - from.flows - from.dns - from.l7
		res.Loaded = true
	}
	res.Flows, res.DNS, res.L7 = want.flows, want.dns, want.l7

	var enabled []string
	for _, info := range detect.Registered() {
		if info.DefaultEnabled {
			enabled = append(enabled, info.Name)
		}
	}
	res.Detectors = enabled
	detectors, err := engine.BuildWith(enabled, engine.BuildOptions{Cluster: cfg.Cluster, Bucket: 5 * time.Minute, Seed: 1, Getenv: noEnv})
	if err != nil {
		return res, err
	}
	var queries []source.Query
	for _, d := range detectors {
		queries = append(queries, d.Queries()...)
	}

	// (a) the aggregation path, twice, each after clearing the request
	// cache (a window is read once in production, never from that cache),
	// then once more one query at a time: that run's wall against its
	// Elasticsearch took is the exporter's own overhead, which overlapping
	// searches would hide.
	var planned []source.Query
	for run := 0; run < 3; run++ {
		concurrency := cfg.Concurrency
		if run == 2 {
			concurrency = 1
		}
		if err := raw.clearCache(ctx, naming); err != nil {
			return res, err
		}
		ds, err := engine.BuildWith(enabled, engine.BuildOptions{Cluster: cfg.Cluster, Bucket: 5 * time.Minute, Seed: 1, Getenv: noEnv})
		if err != nil {
			return res, err
		}
		eng, err := engine.New(engine.Config{Start: cfg.Window.Start, Concurrency: concurrency}, es, ds, scoreboard.New(0), nil, nil)
		if err != nil {
			return res, err
		}
		planned = eng.Queries()
		res.Searches = len(planned)
		res.Concurrency = cfg.Concurrency
		if res.Concurrency <= 0 {
			res.Concurrency = engine.DefaultConcurrency
		}
		var prof *os.File
		if cfg.CPUProfile != "" && run == 1 {
			if prof, err = os.Create(cfg.CPUProfile); err != nil {
				return res, err
			}
			if err := pprof.StartCPUProfile(prof); err != nil {
				return res, err
			}
		}
		took0 := es.Took()
		start := time.Now()
		err = eng.ProcessWindow(ctx, cfg.Window)
		wall := time.Since(start)
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
		}
		if err != nil {
			return res, fmt.Errorf("aggregation path: %w", err)
		}
		took := es.Took() - took0
		atOnce := concurrency
		if atOnce <= 0 {
			atOnce = engine.DefaultConcurrency
		}
		res.AggRuns = append(res.AggRuns, wall)
		cfg.Logf("aggregation path run %d: %s (Elasticsearch took %s; %d aggregations for %d detector queries, %d at once)",
			run+1, wall.Round(time.Millisecond), took, res.Searches, len(queries), atOnce)
		if run == 2 {
			res.SeqWall, res.SeqTook = wall, took
			continue
		}
		if res.AggWall == 0 || wall < res.AggWall {
			res.AggWall, res.AggTook = wall, took
		}
	}

	// (a2) the source's reading alone, one request at a time, ReadRuns
	// times: the run Elasticsearch took least for is kept (on a shared
	// machine the others measure its neighbours as well).
	for run := 0; run < max(cfg.ReadRuns, 1); run++ {
		if err := raw.clearCache(ctx, naming); err != nil {
			return res, err
		}
		took0 := es.Took()
		readStart := time.Now()
		for _, t := range calicolog.LogTypes {
			if _, err := es.Count(ctx, cfg.Window, t); err != nil {
				return res, err
			}
		}
		for _, q := range planned {
			if _, err := es.Aggregate(ctx, cfg.Window, q); err != nil {
				return res, fmt.Errorf("aggregation path: %w", err)
			}
		}
		wall, took := time.Since(readStart), es.Took()-took0
		cfg.Logf("reading alone, one request at a time, run %d: %s (Elasticsearch took %s)", run+1, wall.Round(time.Millisecond), took)
		res.ReadRuns = append(res.ReadRuns, [2]time.Duration{wall, took})
		if res.ReadTook == 0 || took < res.ReadTook {
			res.ReadWall, res.ReadTook = wall, took
		}
	}
	// (a3) the replicas of a sharded exporter, each processing the window,
	// each run after an unsharded engine's run, so both see the same load
	// on a shared machine. Each engine processes the window once before
	// it is measured, as a running replica has processed the windows
	// before: a sharded one then knows the other replicas' namespaces and
	// leaves them out of its queries.
	process := func(shard engine.Shard) (time.Duration, error) {
		ds, err := engine.BuildWith(enabled, engine.BuildOptions{Cluster: cfg.Cluster, Bucket: 5 * time.Minute, Seed: 1, Getenv: noEnv})
		if err != nil {
			return 0, err
		}
		eng, err := engine.New(engine.Config{Start: cfg.Window.Start, Concurrency: 1, Cluster: cfg.Cluster, Shard: shard}, es, ds, scoreboard.New(0), nil, nil)
		if err != nil {
			return 0, err
		}
		if err := eng.ProcessWindow(ctx, cfg.Window); err != nil {
			return 0, fmt.Errorf("replica %s: %w", shard, err)
		}
		if err := raw.clearCache(ctx, naming); err != nil {
			return 0, err
		}
		took0 := es.Took()
		if err := eng.ProcessWindow(ctx, cfg.Window); err != nil {
			return 0, fmt.Errorf("replica %s: %w", shard, err)
		}
		return es.Took() - took0, nil
	}
	for i := 0; cfg.Shards > 1 && i < cfg.Shards; i++ {
		one, err := process(engine.Shard{})
		if err != nil {
			return res, err
		}
		part, err := process(engine.Shard{Total: cfg.Shards, Index: i})
		if err != nil {
			return res, err
		}
		res.UnshardedTook += one
		res.ShardsTook += part
		cfg.Logf("replica %d of %d: Elasticsearch took %s; an unsharded engine just before: %s", i, cfg.Shards, part, one)
	}
	if cfg.Shards > 1 {
		res.Shards = cfg.Shards
		res.UnshardedTook /= time.Duration(cfg.Shards)
		cfg.Logf("%d replicas: Elasticsearch took %s in all, against %s for one unsharded engine (the mean of %d runs)", cfg.Shards, res.ShardsTook, res.UnshardedTook, cfg.Shards)
	}
	if cfg.NoRaw {
		return res, nil
	}
	// (b) the raw path.
	stream, err := source.NewStream(cfg.Window, queries)
	if err != nil {
		return res, err
	}
	start := time.Now()
	for _, t := range calicolog.LogTypes {
		n, size, err := raw.scan(ctx, naming.SearchIndex(t), cfg.Window, cfg.RawPage, func(doc []byte) error {
			switch t {
			case calicolog.Flows:
				f, err := calicolog.DecodeFlowLog(doc)
				if err == nil {
					stream.AddFlow(&f)
				}
			case calicolog.DNS:
				d, err := calicolog.DecodeDNSLog(doc)
				if err == nil {
					stream.AddDNS(&d)
				}
			case calicolog.L7:
				l, err := calicolog.DecodeL7Log(doc)
				if err == nil {
					stream.AddL7(&l)
				}
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("raw path: %w", err)
		}
		res.RawDocs += n
		res.RawBytes += size
	}
	rawRows := make([][]source.Row, len(queries))
	for i := range queries {
		rawRows[i] = stream.Rows(i)
	}
	res.RawWall = time.Since(start)
	cfg.Logf("raw path: %d documents (%d MiB of answers) in %s", res.RawDocs, res.RawBytes>>20, res.RawWall.Round(time.Millisecond))

	// Both paths must have counted the same thing.
	for i, q := range queries {
		rows, err := es.Aggregate(ctx, cfg.Window, q)
		if err != nil {
			return res, err
		}
		res.Queries++
		if msg := compareRows(rows, rawRows[i], q); msg != "" {
			res.Mismatches = append(res.Mismatches, q.Name+": "+msg)
		} else {
			res.QueriesEqual++
		}
	}
	return res, nil
}

// compareRows says how the aggregation's rows differ from the raw path's,
// "" when they agree: the same keys, exact counts and sums, averages to
// 1e-9, distinct counts within Elasticsearch's HyperLogLog error (1%).
func compareRows(agg, raw []source.Row, q source.Query) string {
	if len(agg) != len(raw) {
		return fmt.Sprintf("%d rows from the aggregation, %d from the raw documents", len(agg), len(raw))
	}
	for i := range agg {
		if strings.Join(agg[i].Key, "\x00") != strings.Join(raw[i].Key, "\x00") {
			return fmt.Sprintf("row %d: key %v against %v", i, agg[i].Key, raw[i].Key)
		}
		for j, m := range q.Metrics {
			a, r := agg[i].Values[j], raw[i].Values[j]
			tol := 1e-9 * math.Max(1, math.Abs(r))
			if m.Kind == source.Cardinality {
				tol = 0.01 * math.Max(1, r)
			}
			if math.Abs(a-r) > tol {
				return fmt.Sprintf("row %v metric %s: %v against %v", agg[i].Key, m.Name, a, r)
			}
		}
	}
	return ""
}

// counts is how many records of each type the window gets.
type counts struct{ flows, dns, l7 int }

// plan scales the simulated window to flows flow records, DNS and L7 in
// the proportion the cluster logged them.
func plan(b simulate.Batch, flows int) counts {
	ratio := float64(flows) / float64(len(b.Flows))
	return counts{flows: flows, dns: int(math.Round(float64(len(b.DNS)) * ratio)), l7: int(math.Round(float64(len(b.L7)) * ratio))}
}

// load writes want's records beyond from's (the indices hold from's): copies of the simulated window's records,
// each copy one more client connection (its own source port, as
// simulate.Options.Scale splits records), so distinct destinations per
// source stay as the cluster has them.
func load(ctx context.Context, es *source.Elasticsearch, raw *rawClient, naming calicolog.IndexNaming, base simulate.Batch, from, want counts, cfg SideBySideConfig) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []elastic.BulkOp, cfg.BulkWorkers)
	var (
		written atomic.Int64
		errOnce sync.Once
		loadErr error
		wg      sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { loadErr = err; cancel() })
	}
	total := want.flows + want.dns + want.l7 - from.flows - from.dns - from.l7
	start := time.Now()
	for range cfg.BulkWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ops := range batches {
				if _, err := es.Bulk(ctx, ops); err != nil {
					fail(err)
					continue
				}
				n := written.Add(int64(len(ops)))
				prev := n - int64(len(ops))
				if step := int64(total/20 + 1); n/step != prev/step {
					cfg.Logf("loaded %d of %d records (%.0f records/s)", n, total, float64(n)/time.Since(start).Seconds())
				}
			}
		}()
	}
	idx := map[calicolog.LogType]string{}
	for _, t := range calicolog.LogTypes {
		idx[t] = naming.WriteIndex(t, cfg.Window.Start)
	}
	// The indices exist before the workers write, with refreshes off while
	// they load.
	for _, t := range calicolog.LogTypes {
		if from == (counts{}) {
			req := esapi.IndicesCreateRequest{Index: idx[t]}
			if cfg.IndexSort && t == calicolog.Flows {
				req.Body = strings.NewReader(`{"settings":{"index":{"sort.field":["source_namespace","source_name_aggr","source_type"],"sort.order":["asc","asc","asc"]}}}`)
			}
			if err := raw.do(ctx, req, nil); err != nil {
				return err
			}
		}
		if err := raw.settings(ctx, idx[t], `{"index":{"refresh_interval":"-1"}}`); err != nil {
			return err
		}
	}
	gen := func() error {
		var ops []elastic.BulkOp
		emit := func(t calicolog.LogType, doc any) error {
			b, err := json.Marshal(doc)
			if err != nil {
				return err
			}
			ops = append(ops, elastic.BulkOp{Index: idx[t], Doc: json.RawMessage(b)})
			if len(ops) >= cfg.BulkDocs {
				select {
				case batches <- ops:
				case <-ctx.Done():
					return ctx.Err()
				}
				ops = nil
			}
			return nil
		}
		for i := from.flows; i < want.flows; i++ {
			f := base.Flows[i%len(base.Flows)]
			if k := i / len(base.Flows); k > 0 {
				port := int64(32768 + (k*7919+i)%28232)
				f.SourcePort = &port
			}
			if err := emit(calicolog.Flows, &f); err != nil {
				return err
			}
		}
		for i := from.dns; i < want.dns && len(base.DNS) > 0; i++ {
			if err := emit(calicolog.DNS, &base.DNS[i%len(base.DNS)]); err != nil {
				return err
			}
		}
		for i := from.l7; i < want.l7 && len(base.L7) > 0; i++ {
			if err := emit(calicolog.L7, &base.L7[i%len(base.L7)]); err != nil {
				return err
			}
		}
		if len(ops) > 0 {
			select {
			case batches <- ops:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	if err := gen(); err != nil {
		fail(err)
	}
	close(batches)
	wg.Wait()
	if loadErr != nil {
		return fmt.Errorf("load: %w", loadErr)
	}
	for _, t := range calicolog.LogTypes {
		if err := raw.settings(ctx, idx[t], `{"index":{"refresh_interval":null}}`); err != nil {
			return err
		}
	}
	return es.Refresh(ctx, naming.SearchIndex(calicolog.Flows)+","+naming.SearchIndex(calicolog.DNS)+","+naming.SearchIndex(calicolog.L7))
}

// rawClient makes the requests the Source has no call for.
type rawClient struct {
	client *elasticsearch.Client
}

func (r *rawClient) do(ctx context.Context, req esapi.Request, out any) error {
	res, err := req.Do(ctx, r.client)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.IsError() && res.StatusCode != http.StatusNotFound {
		return fmt.Errorf("%T: HTTP %d: %s", req, res.StatusCode, truncate(body))
	}
	if out != nil && !res.IsError() {
		return json.Unmarshal(body, out)
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "…"
	}
	return string(b)
}

func (r *rawClient) settings(ctx context.Context, index, body string) error {
	return r.do(ctx, esapi.IndicesPutSettingsRequest{Index: []string{index}, Body: strings.NewReader(body)}, nil)
}

func (r *rawClient) clearCache(ctx context.Context, n calicolog.IndexNaming) error {
	yes := true
	var idx []string
	for _, t := range calicolog.LogTypes {
		idx = append(idx, n.SearchIndex(t))
	}
	return r.do(ctx, esapi.IndicesClearCacheRequest{Index: idx, Request: &yes, Query: &yes}, nil)
}

// scan reads every document of index whose end_time is in w, as Calico's
// jobs did: a point in time, then pages of size documents sorted by
// _shard_doc, each after the last one's sort values. fn gets each
// document's _source. It returns the documents read and the bytes of the
// answers.
func (r *rawClient) scan(ctx context.Context, index string, w source.Window, size int, fn func(doc []byte) error) (int, int64, error) {
	var pit struct {
		ID string `json:"id"`
	}
	if err := r.do(ctx, esapi.OpenPointInTimeRequest{Index: []string{index}, KeepAlive: "2m"}, &pit); err != nil {
		return 0, 0, err
	}
	if pit.ID == "" {
		return 0, 0, nil // no such index
	}
	defer func() {
		// A point in time left open expires after its keep-alive anyway.
		_ = r.do(context.Background(), esapi.ClosePointInTimeRequest{Body: strings.NewReader(`{"id":"` + pit.ID + `"}`)}, nil)
	}()
	var (
		docs  int
		bytes int64
		after []any
	)
	for {
		body := map[string]any{
			"size":             size,
			"track_total_hits": false,
			"pit":              map[string]any{"id": pit.ID, "keep_alive": "2m"},
			"sort":             []any{map[string]any{"_shard_doc": "asc"}},
			"query": map[string]any{"bool": map[string]any{"filter": []any{
				map[string]any{"range": map[string]any{"end_time": map[string]any{"gte": w.Start.Unix(), "lt": w.End.Unix(), "format": "epoch_second"}}},
			}}},
		}
		if after != nil {
			body["search_after"] = after
		}
		b, err := json.Marshal(body)
		if err != nil {
			return docs, bytes, err
		}
		res, err := esapi.SearchRequest{Body: newReader(b)}.Do(ctx, r.client)
		if err != nil {
			return docs, bytes, err
		}
		raw, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return docs, bytes, err
		}
		if res.IsError() {
			return docs, bytes, fmt.Errorf("search_after page of %s: HTTP %d: %s", index, res.StatusCode, truncate(raw))
		}
		bytes += int64(len(raw))
		var page struct {
			PitID string `json:"pit_id"`
			Hits  struct {
				Hits []struct {
					Source json.RawMessage `json:"_source"`
					Sort   []any           `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return docs, bytes, fmt.Errorf("search_after page of %s: %w", index, err)
		}
		hits := page.Hits.Hits
		for i := range hits {
			if err := fn(hits[i].Source); err != nil {
				return docs, bytes, err
			}
		}
		docs += len(hits)
		if len(hits) < size {
			return docs, bytes, nil
		}
		after = hits[len(hits)-1].Sort
		if page.PitID != "" {
			pit.ID = page.PitID
		}
	}
}

func newReader(b []byte) io.Reader { return bytes.NewReader(b) }

// noEnv reads no AD_* variable, so the figures do not depend on the shell.
func noEnv(string) string { return "" }
