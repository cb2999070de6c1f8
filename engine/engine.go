// Package engine owns the schedule: it walks closed windows in order, runs
// every enabled detector's aggregations against the source, asks each
// detector for its verdicts, fetches evidence for the anomalous ones and
// publishes the window to the scoreboard. A window that could not be read is
// retried with backoff, never skipped.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/backoff"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Config tunes the schedule.
type Config struct {
	// Interval is the window length and how often detection runs
	// (AD_search_interval_minutes); a multiple of Bucket.
	Interval time.Duration
	// Bucket is Calico's bucket size (ES_bucket_size_minutes); windows
	// align to it.
	Bucket time.Duration
	// Lag is how long after a window closes the engine waits for its logs
	// to be ingested.
	Lag time.Duration
	// Start is the start of the first window to process; zero means the
	// newest window already closed when Run starts.
	Start time.Time
	// MaxEvidencePerDetector bounds the evidence look-ups of one window.
	MaxEvidencePerDetector int
	// EvidenceRecords is how many sample records each verdict carries.
	EvidenceRecords int
	// BackoffMin and BackoffMax bound the wait before retrying a window
	// that could not be read.
	BackoffMin, BackoffMax time.Duration
	// Sinks receive every window's verdicts (all of them, anomalous or
	// not) once the window is scored, in window order.
	Sinks []Sink
	// StateDir, when set, keeps the next window to process and the
	// detectors' models across restarts: the engine loads the models and
	// resumes there instead of at Start.
	StateDir string
	// TrainLookback is the span of history before the first window that
	// models which are not ready learn from at start, so a new install or
	// a restart without saved models raises no flood of alerts.
	TrainLookback time.Duration
	// Cluster is the cluster this engine's source and detectors watch (the
	// one its detectors were built for, BuildOptions.Cluster). It keys the
	// engine's verdicts and detector health on a scoreboard shared with the
	// engines of other clusters; empty for a lone engine. Engines of
	// different clusters need different StateDirs: New refuses a folder
	// holding another cluster's state.
	Cluster string
	// Shard is this replica's share of the namespaces when several
	// replicas watch one cluster (see Shard): it reads, learns and scores
	// those; the zero value reads and scores every entity. Sharding needs
	// Cluster.
	Shard Shard
	// Periods are detectors' own schedules (a GlobalAlert's spec.period),
	// by detector name: a detector whose period is longer than Interval
	// runs once a period (see period.go). Absent or not longer than
	// Interval: every window.
	Periods map[string]time.Duration
	// Concurrency is how many of a window's source queries run at once
	// (--source.concurrency); 1 runs them one after another, 0 means
	// DefaultConcurrency. Whatever it is, every query of a window is read
	// before any detector judges or learns it.
	Concurrency int
	// Feedback, when set, is what users marked expected: detectors that
	// can learn (detect.ExpectedLearner) learn those incidents' windows,
	// and the entity's later anomalous windows, as normal.
	Feedback Feedback
	// MaxEntitiesPerDetector bounds the entities each detector's model
	// keeps state for (detectors implementing detect.EntityBounded): after
	// every window the least recently seen beyond it are forgotten and
	// counted. 0 means no bound.
	MaxEntitiesPerDetector int
}

// DefaultMaxEntitiesPerDetector is the bound on the entities each
// detector's model keeps unless Config says otherwise.
const DefaultMaxEntitiesPerDetector = 50000

// boundEntities makes d's model forget its least recently seen entities
// beyond the bound, and reports its size.
func (e *Engine) boundEntities(d detect.Detector) {
	b, ok := d.(detect.EntityBounded)
	if !ok {
		return
	}
	evicted := 0
	if max := e.cfg.MaxEntitiesPerDetector; max > 0 && b.LiveEntities() > max {
		evicted = b.ForgetLeastRecent(max)
	}
	e.board.Entities(d.Name(), b.LiveEntities(), uint64(evicted))
}

// DefaultConcurrency is how many queries of a window run at once unless
// Config.Concurrency says otherwise: two keep Elasticsearch's search
// threads busy while one answer is decoded, without crowding out other
// users of the cluster.
const DefaultConcurrency = 2

// Sink receives the verdicts of each scored window: the alert and event
// notifiers are sinks. Deliver is called from the engine's goroutine once
// per window, in window order, and must not block for long: a sink that
// talks to a server queues and returns.
type Sink interface {
	Deliver(ctx context.Context, w source.Window, verdicts []detect.Verdict)
}

func (c *Config) setDefaults() error {
	if err := c.Shard.Validate(); err != nil {
		return err
	}
	if c.Bucket <= 0 {
		c.Bucket = 5 * time.Minute
	}
	if c.Interval <= 0 {
		c.Interval = c.Bucket
	}
	if c.Interval%c.Bucket != 0 {
		return fmt.Errorf("search interval %s is not a multiple of the bucket size %s", c.Interval, c.Bucket)
	}
	if c.MaxEvidencePerDetector <= 0 {
		c.MaxEvidencePerDetector = 20
	}
	if c.EvidenceRecords <= 0 {
		c.EvidenceRecords = 5
	}
	c.BackoffMin, c.BackoffMax = backoff.Bounds(c.BackoffMin, c.BackoffMax, time.Second, time.Minute)
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	return nil
}

// Engine runs detectors over windows. Create it with New.
type Engine struct {
	cfg       Config
	src       source.Source
	detectors []detect.Detector
	board     *scoreboard.Board // the scoreboard of cfg.Cluster
	clock     Clock
	logger    log.Logger
	logTypes  []calicolog.LogType
	plan      *plan          // the queries sent to the source for each window
	book      *namespaceBook // sharded: the cluster's namespaces and their owners
	failures  uint64
	nextMu    sync.Mutex
	next      time.Time // start of the next window to process
	// retrySources reports extra retries done inside the source (HTTP).
	retrySource interface{ Retries() uint64 }
	// schedules are the detectors' periods and what waits for their next
	// run, by detector index.
	schedules []schedule
}

// New builds an engine over the given detectors.
func New(cfg Config, src source.Source, detectors []detect.Detector, board *scoreboard.Scoreboard, clock Clock, logger log.Logger) (*Engine, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if len(detectors) == 0 {
		return nil, errors.New("no detector is enabled")
	}
	if clock == nil {
		clock = RealClock{}
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	e := &Engine{cfg: cfg, src: src, detectors: detectors, board: board.Cluster(cfg.Cluster), clock: clock, logger: logger}
	if cfg.Shard.Sharded() {
		if cfg.Cluster == "" {
			return nil, fmt.Errorf("shard %s needs the cluster's name: namespaces are shared out by cluster/namespace", cfg.Shard)
		}
		e.book = newNamespaceBook(cfg.Shard, cfg.Cluster)
	}
	e.schedules = schedulesOf(detectors, cfg.Periods, cfg.Interval)
	seen := map[calicolog.LogType]bool{}
	for _, d := range detectors {
		for _, q := range d.Queries() {
			if err := q.Validate(); err != nil {
				return nil, fmt.Errorf("detector %s: %w", d.Name(), err)
			}
			if !seen[q.Log] {
				seen[q.Log] = true
				e.logTypes = append(e.logTypes, q.Log)
			}
		}
		e.board.AddDetector(d.Name(), d.Threshold(), d.Ready())
	}
	p, err := newPlan(detectors, true, e.book)
	if err != nil {
		return nil, err
	}
	e.plan = p
	var shared []string
	detectorQueries := 0
	for _, n := range p.shapes {
		detectorQueries += n
	}
	var whole []string
	for _, pq := range p.queries {
		if pq.merged {
			shared = append(shared, pq.query.Name)
		}
		if !pq.sharded {
			whole = append(whole, pq.query.Name)
		}
	}
	kv := []any{"msg", "query plan", "aggregations_per_window", len(p.queries), "detector_queries", detectorQueries,
		"shared", strings.Join(shared, ","), "concurrency", cfg.Concurrency}
	if cfg.Shard.Sharded() {
		kv = append(kv, "shard", cfg.Shard, "read_whole", strings.Join(whole, ","))
	}
	level.Info(logger).Log(kv...)
	if r, ok := src.(interface{ Retries() uint64 }); ok {
		e.retrySource = r
	}
	e.board.SetSource(src.Kind(), true, 0)
	e.next = cfg.Start
	if cfg.StateDir != "" {
		if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
			return nil, fmt.Errorf("storage folder: %w", err)
		}
		st, ok, err := loadState(cfg.StateDir)
		switch {
		case err != nil:
			return nil, err
		case ok && st.Interval != cfg.Interval.String():
			level.Warn(logger).Log("msg", "not resuming: the saved state has another search interval", "saved", st.Interval, "now", cfg.Interval)
		case ok && st.Cluster != "" && cfg.Cluster != "" && st.Cluster != cfg.Cluster:
			return nil, fmt.Errorf("storage folder %s holds the state of cluster %q, not %q: give each cluster's engine its own folder", cfg.StateDir, st.Cluster, cfg.Cluster)
		case ok:
			e.next = st.NextWindowStart
			loaded := e.loadModels(st)
			level.Info(logger).Log("msg", "resuming after the last completed window", "next_window_start", st.NextWindowStart, "models_loaded", loaded)
		}
	}
	return e, nil
}

// Run processes windows as they close until ctx ends. It returns only
// ctx's error: source failures are retried.
func (e *Engine) Run(ctx context.Context) error {
	if e.NextWindowStart().IsZero() {
		end := source.Align(e.clock.Now().Add(-e.cfg.Lag), e.cfg.Bucket)
		e.setNext(end.Add(-e.cfg.Interval))
	}
	if err := e.learnHistory(ctx, e.NextWindowStart()); err != nil {
		return err
	}
	retry := backoff.New(e.cfg.BackoffMin, e.cfg.BackoffMax)
	for {
		next := e.NextWindowStart()
		w := source.Window{Start: next, End: next.Add(e.cfg.Interval)}
		readyAt := w.End.Add(e.cfg.Lag)
		if wait := readyAt.Sub(e.clock.Now()); wait > 0 {
			if err := e.clock.Sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		if err := e.ProcessWindow(ctx, w); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			wait := retry.Next()
			level.Warn(e.logger).Log("msg", "window could not be read; retrying", "window", w, "retry_in", wait, "err", err)
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		retry.Reset()
		e.setNext(w.End)
		if e.cfg.StateDir != "" {
			if err := e.saveSnapshot(w.End); err != nil {
				level.Error(e.logger).Log("msg", "cannot save the models and the last completed window; a restart would rescore windows", "err", err)
			}
		}
	}
}

// Queries are the queries the engine sends to its source for each window,
// after merging those of its detectors that read the same groups (see
// plan): a window costs the source this many aggregations, and one count
// per log type.
func (e *Engine) Queries() []source.Query { return e.plan.Queries() }

// NextWindowStart is the start of the next window Run will process.
func (e *Engine) NextWindowStart() time.Time {
	e.nextMu.Lock()
	defer e.nextMu.Unlock()
	return e.next
}

func (e *Engine) setNext(t time.Time) {
	e.nextMu.Lock()
	defer e.nextMu.Unlock()
	e.next = t
}

type detectorRows struct {
	rows [][]source.Row
	took time.Duration
}

// UnknownLogType is the log_type under which malformed records whose log
// type could not be told are counted.
const UnknownLogType = "unknown"

// ProcessWindow reads window w for every detector and publishes the
// verdicts. It reads everything before any detector judges, so a read
// error leaves every model untouched and the window can be retried whole.
//
// The reads are the record counts of each log type and the plan's
// queries (see plan), Config.Concurrency of them at once. A detector's
// read time (its share of the duration the scoreboard reports) is the
// time of the queries whose rows it reads, a query shared by several
// detectors counted in full for each of them: what that detector would
// cost the source on its own. With a concurrency above 1 the queries
// overlap, so those times add up to more than the window's reading took.
func (e *Engine) ProcessWindow(ctx context.Context, w source.Window) error {
	countTypes := e.logTypes
	if !e.cfg.Shard.countsRecords() {
		countTypes = nil
	}
	counted := make([]source.Counts, len(countTypes))
	countTasks := make([]func(context.Context) error, len(countTypes))
	for i, t := range countTypes {
		countTasks[i] = func(ctx context.Context) error {
			c, err := e.src.Count(ctx, w, t)
			if err != nil {
				return fmt.Errorf("count %s records: %w", t, err)
			}
			counted[i] = c
			return nil
		}
	}
	results, took, err := e.plan.read(ctx, e.src, w, e.cfg.Concurrency, countTasks)
	var rows [][][]source.Row
	if err == nil {
		rows, err = e.plan.split(results, w.End)
	}
	if err != nil {
		if qe, ok := errors.AsType[*queryError](err); ok {
			now := time.Now()
			for _, s := range e.plan.queries[qe.k].serves {
				e.board.Fail(e.plan.names[s.detector], w, err, took[qe.k], now)
			}
			err = e.plan.queryFailed(qe, "")
		}
		return e.sourceFailed(err)
	}
	counts := make(map[calicolog.LogType]source.Counts, len(countTypes))
	for i, t := range countTypes {
		counts[t] = counted[i]
	}
	tookBy := e.plan.tookBy(took)
	read := make([]detectorRows, len(e.detectors))
	for i := range e.detectors {
		read[i] = detectorRows{rows: rows[i], took: tookBy[i]}
	}
	e.board.SetSource(e.src.Kind(), true, e.retries())
	var unknownType int64
	for _, t := range countTypes {
		c := counts[t]
		e.board.AddRecords(string(t), uint64(c.Records), uint64(c.Malformed))
		if c.Malformed > 0 {
			level.Warn(e.logger).Log("msg", "malformed records skipped", "log_type", t, "window", w, "malformed", c.Malformed)
		}
		unknownType += c.UnknownType
	}
	if unknownType > 0 {
		// Counted under their own log_type, so the metric sums to what the
		// source skipped.
		e.board.AddRecords(UnknownLogType, uint64(unknownType), uint64(unknownType))
	}
	e.learnExpectedIncidents(ctx)
	var all []detect.Verdict
	for i, d := range e.detectors {
		sc := &e.schedules[i]
		if d.Ready() && !sc.due(w) {
			// Not this detector's time: its windows wait for its next
			// run, and its last verdicts stand.
			sc.pending = append(sc.pending, pendingWindow{w: w, rows: read[i].rows, took: read[i].took})
			all = append(all, sc.held...)
			continue
		}
		runs := append(sc.pending, pendingWindow{w: w, rows: read[i].rows, took: read[i].took})
		sc.pending = nil
		var verdicts []detect.Verdict
		for _, r := range runs {
			verdicts = append(verdicts, e.runDetector(ctx, d, r)...)
		}
		if sc.period > 0 {
			sc.held = verdicts
		}
		all = append(all, verdicts...)
	}
	for _, s := range e.cfg.Sinks {
		s.Deliver(ctx, w, all)
	}
	e.board.WindowDone(w)
	kv := []interface{}{"msg", "window processed", "window", w, "records", totalRecords(counts)}
	if e.cfg.Cluster != "" {
		kv = append(kv, "cluster", e.cfg.Cluster)
	}
	if e.cfg.Shard.Sharded() {
		kv = append(kv, "shard", e.cfg.Shard)
	}
	level.Info(e.logger).Log(kv...)
	return nil
}

// runDetector judges (or, before it is ready, learns) one window's rows
// for d, fetches evidence for its anomalies and publishes its verdicts.
func (e *Engine) runDetector(ctx context.Context, d detect.Detector, r pendingWindow) []detect.Verdict {
	w := r.w
	start := time.Now()
	var verdicts []detect.Verdict
	if d.Ready() {
		verdicts = e.cfg.Shard.ownVerdicts(d.Judge(w, r.rows))
		e.learnExpected(d, w, r.rows, verdicts)
	} else if l, ok := d.(detect.Learner); ok {
		l.Learn(w, r.rows)
		e.board.Trained(d.Name(), d.Ready())
	}
	e.boundEntities(d)
	e.attachEvidence(ctx, w, verdicts)
	took := r.took + time.Since(start)
	e.board.Publish(d.Name(), w, verdicts, d.Ready(), took, time.Now())
	anomalies := 0
	for _, v := range verdicts {
		if v.Anomalous() {
			anomalies++
			level.Warn(e.logger).Log("msg", "anomaly", "detector", v.Detector, "cluster", v.Entity.Cluster,
				"namespace", v.Entity.Namespace, "workload", v.Entity.Workload, "type", v.Entity.Type,
				"score", fmt.Sprintf("%.3f", v.Score), "threshold", v.Threshold, "window", w, "summary", v.Summary)
		}
	}
	level.Debug(e.logger).Log("msg", "detector ran", "detector", d.Name(), "cluster", e.cfg.Cluster, "window", w, "entities", len(verdicts), "anomalies", anomalies, "took", took)
	return verdicts
}

func totalRecords(counts map[calicolog.LogType]source.Counts) int64 {
	var n int64
	for _, c := range counts {
		n += c.Records
	}
	return n
}

func (e *Engine) retries() uint64 {
	n := e.failures
	if e.retrySource != nil {
		n += e.retrySource.Retries()
	}
	return n
}

func (e *Engine) sourceFailed(err error) error {
	e.failures++
	e.board.SetSource(e.src.Kind(), false, e.retries())
	return err
}

// attachEvidence fetches sample records for the highest-scoring anomalous
// verdicts. A failed look-up leaves that verdict without evidence.
func (e *Engine) attachEvidence(ctx context.Context, w source.Window, verdicts []detect.Verdict) {
	detect.SortVerdicts(verdicts)
	fetched := 0
	for i := range verdicts {
		v := &verdicts[i]
		if !v.Anomalous() || fetched >= e.cfg.MaxEvidencePerDetector {
			continue
		}
		fetched++
		for _, q := range v.EvidenceQuery {
			limit := q.Limit
			if limit <= 0 || limit > e.cfg.EvidenceRecords {
				limit = e.cfg.EvidenceRecords
			}
			docs, err := e.src.Samples(ctx, w, calicolog.LogType(q.Log), q.Filters, limit)
			if err != nil {
				level.Warn(e.logger).Log("msg", "evidence look-up failed", "detector", v.Detector, "err", err)
				continue
			}
			if v.Evidence == nil {
				v.Evidence = map[string][]json.RawMessage{}
			}
			v.Evidence[q.Log] = append(v.Evidence[q.Log], docs...)
		}
	}
}
