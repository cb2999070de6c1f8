package testkit

import (
	"slices"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Judgement is what the quality harness reads of one verdict.
type Judgement struct {
	// Entity is the entity's key: the distinct keys are the workloads
	// judged.
	Entity                    string
	Namespace, Workload, Type string
	Anomalous                 bool
}

// Names reports whether a ground-truth label names the detector: only a
// detector it names is expected to find it.
func Names(l simulate.Label, detector string) bool {
	return slices.Contains(l.Detectors, detector)
}

// Match returns the index of the label that a verdict of detector about
// j's entity confirms (the last such label), or -1 when none does.
func Match(detector string, labels []simulate.Label, j Judgement) int {
	match := -1
	for i, l := range labels {
		if Names(l, detector) && l.Namespace == j.Namespace && l.Workload == j.Workload && l.Type == j.Type {
			match = i
		}
	}
	return match
}

// Quality is one detector's detection quality over a replay of simulated
// windows against their ground-truth labels. V is the detector's verdict
// type; the false positives are kept as verdicts for the report.
type Quality[V any] struct {
	Detector string
	read     func(V) Judgement

	// JudgedWindows counts the windows the detector judged (it was ready).
	JudgedWindows int
	// FirstVerdict is the start of the first window with a verdict.
	FirstVerdict time.Time
	// Entities holds the key of every entity judged.
	Entities map[string]bool
	// TP counts labels naming the detector that an anomalous verdict on
	// their entity in their window found, FN those it did not (learning
	// windows included), FP anomalous verdicts no label confirms.
	TP, FP, FN int
	// Missed holds the labels counted in FN, False the verdicts in FP.
	Missed []simulate.Label
	False  []V
}

// NewQuality starts the tally of detector, reading its verdicts with read.
func NewQuality[V any](detector string, read func(V) Judgement) *Quality[V] {
	return &Quality[V]{Detector: detector, read: read, Entities: map[string]bool{}}
}

// Learned tallies a window the detector learned from without judging it:
// every label naming the detector there is missed.
func (q *Quality[V]) Learned(labels []simulate.Label) {
	for _, l := range labels {
		if Names(l, q.Detector) {
			q.FN++
			q.Missed = append(q.Missed, l)
		}
	}
}

// Judged tallies the verdicts of a window the detector judged. It returns,
// verdict by verdict, the index of the label the verdict's entity matches
// (Match), anomalous or not, or -1.
func (q *Quality[V]) Judged(w source.Window, labels []simulate.Label, verdicts []V) []int {
	q.JudgedWindows++
	if len(verdicts) > 0 && q.FirstVerdict.IsZero() {
		q.FirstVerdict = w.Start
	}
	matches := make([]int, len(verdicts))
	found := map[int]bool{}
	for i, v := range verdicts {
		j := q.read(v)
		q.Entities[j.Entity] = true
		matches[i] = Match(q.Detector, labels, j)
		if !j.Anomalous {
			continue
		}
		if matches[i] < 0 {
			q.FP++
			q.False = append(q.False, v)
			continue
		}
		found[matches[i]] = true
	}
	for i, l := range labels {
		if !Names(l, q.Detector) {
			continue
		}
		if found[i] {
			q.TP++
		} else {
			q.FN++
			q.Missed = append(q.Missed, l)
		}
	}
	return matches
}

// Precision is TP/(TP+FP), 1 with no anomalous verdict.
func (q *Quality[V]) Precision() float64 { return ratio(q.TP, q.TP+q.FP) }

// Recall is TP/(TP+FN), 1 with no label.
func (q *Quality[V]) Recall() float64 { return ratio(q.TP, q.TP+q.FN) }

// JudgedDays is how many days the detector judged, from its first verdict
// to end; 0 when it gave none.
func (q *Quality[V]) JudgedDays(end time.Time) float64 {
	if q.FirstVerdict.IsZero() {
		return 0
	}
	return end.Sub(q.FirstVerdict).Hours() / 24
}

// FalseAlertsPer100WorkloadsPerDay is the detector's false positives per
// 100 entities it judged per day it judged, up to end.
func (q *Quality[V]) FalseAlertsPer100WorkloadsPerDay(end time.Time) float64 {
	return FalseAlertRate{FalseAlerts: q.FP, Workloads: len(q.Entities), Days: q.JudgedDays(end)}.Per100WorkloadsPerDay()
}

// FalseAlertRate is the false alert load of one or more detectors judged
// over the same replay.
type FalseAlertRate struct {
	FalseAlerts int
	Workloads   int     // distinct entities judged
	Days        float64 // the longest any of the detectors judged
}

// Combined is the false alert load of several detectors together up to
// end: their false positives summed over the entities any of them judged
// and the longest time any of them judged.
func Combined[V any](end time.Time, qs ...*Quality[V]) FalseAlertRate {
	var r FalseAlertRate
	workloads := map[string]bool{}
	for _, q := range qs {
		r.FalseAlerts += q.FP
		for e := range q.Entities {
			workloads[e] = true
		}
		r.Days = max(r.Days, q.JudgedDays(end))
	}
	r.Workloads = len(workloads)
	return r
}

// Per100WorkloadsPerDay is the false alerts per 100 workloads per day, the
// unit of the project's false alert targets; 0 with no workload or no day
// judged.
func (r FalseAlertRate) Per100WorkloadsPerDay() float64 {
	if r.Workloads == 0 || r.Days <= 0 {
		return 0
	}
	return float64(r.FalseAlerts) / (float64(r.Workloads) / 100) / r.Days
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
