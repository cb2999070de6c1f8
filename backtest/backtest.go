// Package backtest owns judging replayed windows: it collects every
// detector's verdicts as the engine scores past windows, matches the
// anomalous ones against ground truth when the simulated cluster provides
// it, writes them as JSON lines, and sums them up per detector: windows
// judged, anomalies, precision, recall, and alerts per day per 100
// workloads.
package backtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Truth returns the ground-truth labels of the buckets inside a window.
type Truth func(w source.Window) []simulate.Label

// SimulatedTruth is the ground truth of a simulated cluster, bucket by
// bucket over a window of any length.
func SimulatedTruth(c *simulate.Cluster) Truth {
	return func(w source.Window) []simulate.Label {
		var out []simulate.Label
		for t := w.Start; t.Before(w.End); t = t.Add(c.Bucket()) {
			out = append(out, c.Truth(source.Window{Start: t, End: t.Add(c.Bucket())})...)
		}
		return out
	}
}

// Result is what one detector did over the replay.
type Result struct {
	Detector string
	// Windows counts windows in which the detector judged at least one
	// entity (it was ready).
	Windows   int
	Verdicts  int
	Anomalies int
	// TP, FP and FN count against the labels naming the detector: an
	// anomalous verdict on a labelled entity in the label's window, one on
	// anything else, and a label with no anomalous verdict.
	TP, FP, FN int
	// Related counts anomalous verdicts on an entity under attack in that
	// window that the labels do not name the detector for: a port scan
	// also multiplies its source's flows, and the flow baselines see it.
	// They are neither true nor false positives.
	Related int
	// Missed holds the labels with no anomalous verdict (FN).
	Missed []simulate.Label
	// False holds the first false positives, for a report.
	False []detect.Verdict
}

// Precision is TP/(TP+FP), 1 with no anomaly.
func (r Result) Precision() float64 { return ratio(r.TP, r.TP+r.FP) }

// Recall is TP/(TP+FN), 1 with no label.
func (r Result) Recall() float64 { return ratio(r.TP, r.TP+r.FN) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// maxFalseKept bounds Result.False.
const maxFalseKept = 20

// Recorder is an engine sink that keeps the tally of a replay. It is safe
// for concurrent use.
type Recorder struct {
	truth     Truth
	detectors []string
	lines     io.Writer
	all       bool

	mu        sync.Mutex
	results   map[string]*Result
	entities  map[string]bool
	first     time.Time
	last      time.Time
	lineError error
}

// NewRecorder tallies the verdicts of the named detectors. truth may be
// nil (no labels: every anomaly counts as an alert, none as false or
// true). Anomalous verdicts are written to lines as JSON, one per line,
// and every verdict when all is set; lines may be nil.
func NewRecorder(detectors []string, truth Truth, lines io.Writer, all bool) *Recorder {
	r := &Recorder{truth: truth, detectors: append([]string(nil), detectors...), lines: lines, all: all,
		results: map[string]*Result{}, entities: map[string]bool{}}
	for _, d := range detectors {
		r.results[d] = &Result{Detector: d}
	}
	return r
}

// Line is one verdict as the backtest writes it.
type Line struct {
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Detector    string    `json:"detector"`
	Cluster     string    `json:"cluster"`
	Namespace   string    `json:"namespace"`
	Workload    string    `json:"workload"`
	Type        string    `json:"type"`
	Score       float64   `json:"score"`
	Threshold   float64   `json:"threshold"`
	Observed    float64   `json:"observed"`
	Expected    float64   `json:"expected"`
	Anomalous   bool      `json:"anomalous"`
	// Truth is "true_positive", "related" (an entity under attack, flagged
	// by a detector the labels do not name) or "false_positive" for
	// anomalous verdicts when labels exist.
	Truth   string `json:"truth,omitempty"`
	Summary string `json:"summary"`
}

// Deliver tallies one window's verdicts.
func (r *Recorder) Deliver(ctx context.Context, w source.Window, verdicts []detect.Verdict) {
	var labels []simulate.Label
	if r.truth != nil {
		labels = r.truth(w)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first.IsZero() || w.Start.Before(r.first) {
		r.first = w.Start
	}
	if w.End.After(r.last) {
		r.last = w.End
	}
	judged := map[string]bool{}
	found := map[int]bool{}
	for _, v := range verdicts {
		res := r.results[v.Detector]
		if res == nil {
			continue
		}
		judged[v.Detector] = true
		res.Verdicts++
		r.entities[v.Entity.Key()] = true
		truth := ""
		if v.Anomalous() {
			res.Anomalies++
			if r.truth != nil {
				if i := match(labels, v); i >= 0 {
					res.TP++
					found[i] = true
					truth = "true_positive"
				} else if related(labels, v) {
					res.Related++
					truth = "related"
				} else {
					res.FP++
					truth = "false_positive"
					if len(res.False) < maxFalseKept {
						res.False = append(res.False, v)
					}
				}
			}
		}
		if r.lines != nil && (v.Anomalous() || r.all) {
			r.write(Line{WindowStart: w.Start, WindowEnd: w.End, Detector: v.Detector, Cluster: v.Entity.Cluster,
				Namespace: v.Entity.Namespace, Workload: v.Entity.Workload, Type: v.Entity.Type, Score: v.Score,
				Threshold: v.Threshold, Observed: v.Observed, Expected: v.Expected, Anomalous: v.Anomalous(),
				Truth: truth, Summary: v.Summary})
		}
	}
	for d := range judged {
		r.results[d].Windows++
	}
	for i, l := range labels {
		if found[i] {
			continue
		}
		for _, d := range l.Detectors {
			if res := r.results[d]; res != nil {
				res.FN++
				res.Missed = append(res.Missed, l)
			}
		}
	}
}

// match returns the label that an anomalous verdict confirms, or -1.
func match(labels []simulate.Label, v detect.Verdict) int {
	for i, l := range labels {
		if l.Namespace != v.Entity.Namespace || l.Workload != v.Entity.Workload || l.Type != v.Entity.Type {
			continue
		}
		if l.Cluster != "" && v.Entity.Cluster != "" && l.Cluster != v.Entity.Cluster {
			continue
		}
		for _, d := range l.Detectors {
			if d == v.Detector {
				return i
			}
		}
	}
	return -1
}

// related reports whether an anomalous verdict is about an entity under
// attack in the window (or, for a namespace-wide verdict, its namespace),
// whichever detector the label names.
func related(labels []simulate.Label, v detect.Verdict) bool {
	for _, l := range labels {
		if l.Namespace != v.Entity.Namespace {
			continue
		}
		if v.Entity.Type == simulate.NamespaceType || (l.Workload == v.Entity.Workload && l.Type == v.Entity.Type) {
			return true
		}
	}
	return false
}

func (r *Recorder) write(l Line) {
	if r.lineError != nil {
		return
	}
	b, err := json.Marshal(l)
	if err == nil {
		b = append(b, '\n')
		_, err = r.lines.Write(b)
	}
	r.lineError = err
}

// Summary is the tally of a replay.
type Summary struct {
	From, To time.Time
	// Workloads counts the distinct entities any detector judged.
	Workloads int
	Labelled  bool
	Results   []Result // by detector name
	// WriteError is the first error writing JSON lines, if any.
	WriteError error
}

// Summary returns the tally so far.
func (r *Recorder) Summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Summary{From: r.first, To: r.last, Workloads: len(r.entities), Labelled: r.truth != nil, WriteError: r.lineError}
	for _, d := range r.detectors {
		res := *r.results[d]
		res.Missed = append([]simulate.Label(nil), res.Missed...)
		res.False = append([]detect.Verdict(nil), res.False...)
		s.Results = append(s.Results, res)
	}
	sort.Slice(s.Results, func(i, j int) bool { return s.Results[i].Detector < s.Results[j].Detector })
	return s
}

// Days is the span replayed, in days.
func (s Summary) Days() float64 { return s.To.Sub(s.From).Hours() / 24 }

// AlertsPerDayPer100 is how many alerts a detector would have raised per
// day per 100 workloads: false positives when labels exist (the alert
// load that is noise), every anomaly otherwise.
func (s Summary) AlertsPerDayPer100(r Result) float64 {
	n := r.Anomalies
	if s.Labelled {
		n = r.FP
	}
	if s.Workloads == 0 || s.Days() <= 0 {
		return 0
	}
	return float64(n) / s.Days() / (float64(s.Workloads) / 100)
}

// Total sums every detector's result.
func (s Summary) Total() Result {
	t := Result{Detector: "all"}
	for _, r := range s.Results {
		t.Windows = max(t.Windows, r.Windows)
		t.Verdicts += r.Verdicts
		t.Anomalies += r.Anomalies
		t.TP += r.TP
		t.FP += r.FP
		t.FN += r.FN
		t.Related += r.Related
	}
	return t
}

// WriteTable prints the summary as an aligned table, one row per detector
// and a total.
func (s Summary) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "backtest %s to %s: %.1f days, %d workloads judged\n",
		s.From.UTC().Format(time.RFC3339), s.To.UTC().Format(time.RFC3339), s.Days(), s.Workloads)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if s.Labelled {
		fmt.Fprintln(tw, "detector\twindows\tverdicts\tanomalies\ttrue pos\trelated\tfalse pos\tmissed\tprecision\trecall\tfalse alerts/day/100 wl\t")
	} else {
		fmt.Fprintln(tw, "detector\twindows\tverdicts\tanomalies\talerts/day/100 wl\t")
	}
	rows := append(append([]Result(nil), s.Results...), s.Total())
	for _, r := range rows {
		if s.Labelled {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\t\n", r.Detector, r.Windows, r.Verdicts, r.Anomalies,
				r.TP, r.Related, r.FP, r.FN, r.Precision(), r.Recall(), s.AlertsPerDayPer100(r))
		} else {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.3f\t\n", r.Detector, r.Windows, r.Verdicts, r.Anomalies, s.AlertsPerDayPer100(r))
		}
	}
	return tw.Flush()
}
