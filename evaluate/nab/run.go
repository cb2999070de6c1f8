// Package nab measures the detectors on NAB-format labelled series (the
// Numenta Anomaly Benchmark's layout: a folder of timestamp,value CSVs and
// combined_windows.json): each series becomes one workload's Calico flow
// logs, replayed through the engine as the backtest does (a learned span
// first, then every window judged), and is scored per labelled window
// (found, minutes to the first alert, rise or drop), by false alerts per
// series-day and by NAB's standard-profile score, beside simple baselines
// (rolling z-scores, a same-hour median/MAD band) that judge the same
// values after the same learned span.
package nab

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// DefaultDetectors are the detectors that read flow logs and judge a
// learned baseline of a workload's or a namespace's counters.
var DefaultDetectors = []string{"generic_flows", "time_series_flows", "multivariable_flow", "bytes_in", "bytes_out"}

// DefaultLearn is the span learned before judging begins.
const DefaultLearn = 48 * time.Hour

// DefaultBaselines are the yardsticks: the rolling 24 h z-score at 3 and
// at 5 standard deviations, the one at 3 flagging only values beyond
// anything of the 48 hours before (at least 12 samples in the day: an
// hour's at 5 minutes, half a day's at an hour), and the same-hour band
// at 5 robust spreads over the week before, from at least 5 samples of
// the hour: from the first judged day at 5 and 30 minutes, from the sixth
// day of a series sampled hourly, which holds one sample of the hour a
// day.
func DefaultBaselines() []Baseline {
	return []Baseline{
		ZScore{Threshold: 3, Span: 24 * time.Hour, MinRows: 12},
		ZScore{Threshold: 5, Span: 24 * time.Hour, MinRows: 12},
		ZScore{Threshold: 3, Span: 24 * time.Hour, MinRows: 12, NewOver: 48 * time.Hour},
		HourBand{Width: 5, Days: 7, MinRows: 5},
	}
}

// Config is one evaluation.
type Config struct {
	// Detectors are the detectors judged (DefaultDetectors when empty).
	Detectors []string
	// Params and Getenv set the detectors as the exporter's configuration
	// does (engine.BuildOptions).
	Params map[string]map[string]string
	Getenv func(string) string
	// Learn is the span learned before judging (DefaultLearn when 0);
	// Bucket the window (5 minutes when 0).
	Learn, Bucket time.Duration
	TrainInterval time.Duration
	Seed          int64
	// Baselines are judged beside the detectors (DefaultBaselines when
	// nil).
	Baselines []Baseline
	// Workers is how many series replay at once (GOMAXPROCS when 0).
	Workers int
	Logger  log.Logger
}

func (c *Config) setDefaults() {
	if len(c.Detectors) == 0 {
		c.Detectors = DefaultDetectors
	}
	if c.Learn <= 0 {
		c.Learn = DefaultLearn
	}
	if c.Bucket <= 0 {
		c.Bucket = 5 * time.Minute
	}
	if c.Baselines == nil {
		c.Baselines = DefaultBaselines()
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = log.NewNopLogger()
	}
}

// Ours names the union of the judged detectors in a report.
const Ours = "ours"

// SeriesResult is one series' evaluation.
type SeriesResult struct {
	Name      string `json:"name"`
	Rows      int    `json:"rows"`
	Malformed int    `json:"malformed_rows"`
	// Days is the judged span; Unjudged counts the windows that lie
	// wholly in the learned span (not scored).
	Days     float64 `json:"judged_days"`
	Unjudged int     `json:"unjudged_windows"`
	// Outcomes holds the outcome of Ours, of each detector and of each
	// baseline, by name.
	Outcomes map[string]Outcome `json:"outcomes"`
	// Neighbours counts the anomalous verdicts on the steady workloads
	// beside the series, by detector: none is expected.
	Neighbours map[string]int `json:"neighbour_anomalies,omitempty"`
	// Judged is the scored series (rows, windows), for tests.
	Judged *Judged `json:"-"`
}

// Evaluate replays and scores every series of c, cfg.Workers at a time.
func Evaluate(ctx context.Context, c *Corpus, cfg Config) (*Report, error) {
	cfg.setDefaults()
	for _, name := range cfg.Detectors {
		if _, ok := detect.Lookup(name); !ok {
			return nil, fmt.Errorf("unknown detector %q", name)
		}
	}
	results := make([]SeriesResult, len(c.Series))
	errs := make([]error, len(c.Series))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(cfg.Workers, len(c.Series)) {
		wg.Go(func() {
			for i := range jobs {
				results[i], errs[i] = evaluateSeries(ctx, c.Series[i], cfg)
			}
		})
	}
	for i := range c.Series {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &Report{Detectors: cfg.Detectors, Skipped: c.Skipped, LearnedHours: cfg.Learn.Hours()}
	for _, b := range cfg.Baselines {
		r.Baselines = append(r.Baselines, b.Name())
	}
	for i, res := range results {
		if errs[i] != nil {
			r.Skipped = append(r.Skipped, errs[i].Error())
			continue
		}
		r.Series = append(r.Series, res)
	}
	if len(r.Series) == 0 {
		return r, fmt.Errorf("no series could be evaluated: %v", r.Skipped)
	}
	r.total()
	return r, nil
}

// evaluateSeries replays one series and scores it.
func evaluateSeries(ctx context.Context, s *Series, cfg Config) (SeriesResult, error) {
	l := newLayout(s, cfg.Bucket, cfg.Learn)
	judgeIndex := int(cfg.Learn / cfg.Bucket)
	if judgeIndex >= l.windows {
		return SeriesResult{}, fmt.Errorf("%s: %s of data, no longer than the %s learned", s.Name,
			time.Duration(l.windows)*cfg.Bucket, cfg.Learn)
	}
	judgeFrom, to := l.window(judgeIndex).Start, l.end()
	mem := source.NewMemory("file")
	mem.AddFlows(l.flowLogs(uint64(cfg.Seed))...)
	detectors, err := engine.BuildWith(cfg.Detectors, engine.BuildOptions{
		Cluster: "cluster", Getenv: cfg.Getenv, Logger: cfg.Logger, Params: cfg.Params,
		Bucket: cfg.Bucket, TrainInterval: cfg.TrainInterval, Seed: cfg.Seed,
	})
	if err != nil {
		return SeriesResult{}, err
	}
	sink := &verdictSink{layout: l, hits: map[string][]bool{}, neighbours: map[string]int{}}
	for _, d := range cfg.Detectors {
		sink.hits[d] = make([]bool, l.windows)
	}
	eng, err := engine.New(engine.Config{Interval: cfg.Bucket, Bucket: cfg.Bucket, TrainLookback: cfg.Learn, Sinks: []engine.Sink{sink}, Concurrency: 1},
		mem, detectors, scoreboard.New(0), nil, log.NewNopLogger())
	if err != nil {
		return SeriesResult{}, err
	}
	if err := eng.Replay(ctx, judgeFrom, to); err != nil {
		return SeriesResult{}, fmt.Errorf("%s: %w", s.Name, err)
	}

	times := make([]time.Time, len(s.Rows))
	for i, row := range s.Rows {
		times[i] = row.Time
	}
	from := sort.SearchInts(l.index, judgeIndex)
	j := newJudged(times, l.values, s.Windows, classify(s, l.values), from, judgeFrom, to)
	res := SeriesResult{Name: s.Name, Rows: len(s.Rows), Malformed: s.Malformed, Days: j.Days(),
		Outcomes: map[string]Outcome{}, Neighbours: sink.neighbours, Judged: j}
	for k := range s.Windows {
		if !j.judgedWindow(k) {
			res.Unjudged++
		}
	}
	ours := make([]bool, len(times))
	for _, d := range cfg.Detectors {
		flags := l.rowFlags(sink.hits[d], from)
		for i, f := range flags {
			ours[i] = ours[i] || f
		}
		res.Outcomes[d] = j.Score(flags)
	}
	res.Outcomes[Ours] = j.Score(ours)
	for _, b := range cfg.Baselines {
		res.Outcomes[b.Name()] = j.Score(b.Flags(times, l.values, from))
	}
	if len(res.Neighbours) == 0 {
		res.Neighbours = nil
	}
	return res, nil
}

// verdictSink keeps, per detector, the windows with an anomalous verdict
// on the series' workload or namespace, and counts those on the steady
// neighbours. The engine delivers from one goroutine.
type verdictSink struct {
	layout     *layout
	hits       map[string][]bool
	neighbours map[string]int
}

func (s *verdictSink) Deliver(_ context.Context, w source.Window, verdicts []detect.Verdict) {
	k := int(w.Start.Sub(s.layout.base) / s.layout.bucket)
	for _, v := range verdicts {
		if !v.Anomalous() {
			continue
		}
		if v.Entity.Namespace != SeriesNamespace {
			s.neighbours[v.Detector]++
			continue
		}
		if hits := s.hits[v.Detector]; hits != nil && k >= 0 && k < len(hits) {
			hits[k] = true
		}
	}
}

// classify says, per window of s, whether it is a drop: whether the value
// at its first labelled point (its middle when it has none) is below the
// series' level at that time of day in the 24 hours before the window
// (the median of the values within 30 minutes of that time, on the last
// day before the window starts). A window with nothing before it is not
// a drop.
func classify(s *Series, values []float64) []bool {
	drops := make([]bool, len(s.Windows))
	for k, w := range s.Windows {
		at := w.Start.Add(w.End.Sub(w.Start) / 2)
		for _, l := range s.Labels {
			if w.Contains(l) {
				at = l
				break
			}
		}
		i := sort.Search(len(s.Rows), func(i int) bool { return !s.Rows[i].Time.Before(at) })
		if i == len(s.Rows) {
			continue
		}
		days := max(1, int(math.Ceil(at.Sub(w.Start).Hours()/24)))
		ref := at.Add(-time.Duration(days) * 24 * time.Hour)
		var before []float64
		for r, row := range s.Rows {
			if d := row.Time.Sub(ref); d >= -30*time.Minute && d <= 30*time.Minute {
				before = append(before, values[r])
			}
		}
		drops[k] = len(before) > 0 && values[i] < median(before)
	}
	return drops
}
