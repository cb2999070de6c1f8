// Package life measures the detectors' false alerts on the simulated
// cluster's normal life (simulate.Options.Life: weekends, rollouts, pod
// restarts, the nightly backup, the morning load, the weekly job; nothing
// labelled): the models learn a span of history first, as a new install
// with a few days in Elasticsearch does, then judge several days, and
// every alert is a false one. Alerts are counted per detector and entity,
// anomalous windows less than nab.MergeGap apart counting once, per 100
// workloads per day and by day since judging began, so a first judged day
// worse than the later ones shows.
package life

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/evaluate/nab"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// DefaultFrom is when judging begins unless told: a Wednesday, so the two
// learned days are a Monday and a Tuesday and the judged days hold a
// weekend.
var DefaultFrom = time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)

// Config is one evaluation.
type Config struct {
	// Detectors are the detectors judged.
	Detectors []string
	Params    map[string]map[string]string
	Getenv    func(string) string
	// Seed is the simulated cluster's; ModelSeed the randomised models'.
	Seed      uint64
	ModelSeed int64
	// From is the start of judging; Learn is learned before it (48 h
	// when 0); Days are judged (5 when 0).
	From          time.Time
	Learn         time.Duration
	Days          int
	Bucket        time.Duration
	TrainInterval time.Duration
	Concurrency   int
	Logger        log.Logger
}

// Report is what the detectors did on normal life.
type Report struct {
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	LearnedHours float64   `json:"learned_hours"`
	// Workloads is the simulated cluster's workload count, the
	// denominator of the rates.
	Workloads int `json:"workloads"`
	// Detectors holds each detector's result, by name, and Total their
	// sum.
	Detectors []Result `json:"detectors"`
	Total     Result   `json:"total"`
}

// Result is one detector's false alerts.
type Result struct {
	Detector string `json:"detector"`
	// Anomalies counts anomalous verdicts (entity windows); Alerts the
	// alerts they make (per entity, less than nab.MergeGap apart counting
	// once); AlertsByDay the same by judged day, by the day an alert
	// began.
	Anomalies   int   `json:"anomalies"`
	Alerts      int   `json:"alerts"`
	AlertsByDay []int `json:"alerts_by_day"`
	// PerDayPer100 is alerts per day per 100 workloads over the judged
	// span, and ByDayPer100 the same for each day.
	PerDayPer100 float64   `json:"alerts_per_day_per_100_workloads"`
	ByDayPer100  []float64 `json:"alerts_per_100_workloads_by_day"`
	// Examples are the first alerts' summaries.
	Examples []string `json:"examples,omitempty"`
}

const maxExamples = 5

// Run plays the simulated cluster's normal life and counts the alerts.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Learn <= 0 {
		cfg.Learn = 48 * time.Hour
	}
	if cfg.Days <= 0 {
		cfg.Days = 5
	}
	if cfg.Bucket <= 0 {
		cfg.Bucket = simulate.DefaultBucket
	}
	if cfg.From.IsZero() {
		cfg.From = DefaultFrom
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	if len(cfg.Detectors) == 0 {
		return nil, fmt.Errorf("no detector to judge")
	}
	from := source.Align(cfg.From, cfg.Bucket)
	to := from.Add(time.Duration(cfg.Days) * 24 * time.Hour)
	c := simulate.New(simulate.Options{Seed: cfg.Seed, Life: true, Bucket: cfg.Bucket})
	detectors, err := engine.BuildWith(cfg.Detectors, engine.BuildOptions{
		Cluster: c.Name(), Getenv: cfg.Getenv, Logger: cfg.Logger, Params: cfg.Params,
		Bucket: cfg.Bucket, TrainInterval: cfg.TrainInterval, Seed: cfg.ModelSeed,
	})
	if err != nil {
		return nil, err
	}
	sink := &alertSink{from: from, days: cfg.Days, last: map[string]time.Time{}, results: map[string]*Result{}}
	for _, d := range cfg.Detectors {
		sink.results[d] = &Result{Detector: d, AlertsByDay: make([]int, cfg.Days)}
	}
	eng, err := engine.New(engine.Config{Interval: cfg.Bucket, Bucket: cfg.Bucket, TrainLookback: cfg.Learn, Sinks: []engine.Sink{sink}, Concurrency: cfg.Concurrency},
		simulate.NewSource(c), detectors, scoreboard.New(0), nil, log.NewNopLogger())
	if err != nil {
		return nil, err
	}
	if err := eng.Replay(ctx, from, to); err != nil {
		return nil, err
	}
	r := &Report{From: from, To: to, LearnedHours: cfg.Learn.Hours(), Workloads: len(c.Workloads())}
	r.Total = Result{Detector: "all", AlertsByDay: make([]int, cfg.Days)}
	for _, d := range cfg.Detectors {
		res := *sink.results[d]
		res.rates(r.Workloads, cfg.Days)
		r.Detectors = append(r.Detectors, res)
		r.Total.Anomalies += res.Anomalies
		r.Total.Alerts += res.Alerts
		for i, n := range res.AlertsByDay {
			r.Total.AlertsByDay[i] += n
		}
	}
	sort.Slice(r.Detectors, func(i, j int) bool { return r.Detectors[i].Detector < r.Detectors[j].Detector })
	r.Total.rates(r.Workloads, cfg.Days)
	return r, nil
}

func (res *Result) rates(workloads, days int) {
	per100 := func(n int, d float64) float64 {
		if workloads == 0 || d == 0 {
			return 0
		}
		return float64(n) / d / (float64(workloads) / 100)
	}
	res.PerDayPer100 = per100(res.Alerts, float64(days))
	res.ByDayPer100 = make([]float64, len(res.AlertsByDay))
	for i, n := range res.AlertsByDay {
		res.ByDayPer100[i] = per100(n, 1)
	}
}

// alertSink counts alerts as they are delivered, in window order.
type alertSink struct {
	from    time.Time
	days    int
	last    map[string]time.Time // detector and entity → its last anomalous window
	results map[string]*Result
}

func (s *alertSink) Deliver(_ context.Context, w source.Window, verdicts []detect.Verdict) {
	for _, v := range verdicts {
		res := s.results[v.Detector]
		if res == nil || !v.Anomalous() {
			continue
		}
		res.Anomalies++
		key := v.Detector + "\x00" + v.Entity.Key()
		last, seen := s.last[key]
		s.last[key] = w.Start
		if seen && w.Start.Sub(last) < nab.MergeGap {
			continue
		}
		res.Alerts++
		day := int(w.Start.Sub(s.from) / (24 * time.Hour))
		if day >= 0 && day < s.days {
			res.AlertsByDay[day]++
		}
		if len(res.Examples) < maxExamples {
			res.Examples = append(res.Examples, fmt.Sprintf("%s %s: %s", w.Start.UTC().Format("Mon 15:04"), v.Entity.Key(), v.Summary))
		}
	}
}

// WriteTable prints alerts per day per 100 workloads, per detector, by
// day since judging began and in all, then the first alerts of each
// detector that raised any.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "simulated normal life: %d workloads, %.0f h learned, judged %s to %s\n",
		r.Workloads, r.LearnedHours, r.From.Format("Mon 2006-01-02"), r.To.Add(-time.Second).Format("Mon 2006-01-02"))
	fmt.Fprintln(w, "false alerts per 100 workloads per day (anomalous windows of one detector and entity less than 30 min apart count once)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"detector", "anomalies", "alerts"}
	for d := range r.Total.AlertsByDay {
		header = append(header, fmt.Sprintf("day %d (%s)", d+1, r.From.Add(time.Duration(d)*24*time.Hour).Format("Mon")))
	}
	header = append(header, "all days")
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, res := range append(append([]Result(nil), r.Detectors...), r.Total) {
		cells := []string{res.Detector, fmt.Sprint(res.Anomalies), fmt.Sprint(res.Alerts)}
		for _, x := range res.ByDayPer100 {
			cells = append(cells, fmt.Sprintf("%.1f", x))
		}
		cells = append(cells, fmt.Sprintf("%.1f", res.PerDayPer100))
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, res := range r.Detectors {
		for _, e := range res.Examples {
			fmt.Fprintf(w, "%s: %s\n", res.Detector, e)
		}
	}
	return nil
}
