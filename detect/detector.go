// Package detect owns the detectors: the Detector interface, the registry
// that names and enables them, the verdicts they produce, and one file per
// detector. A detector declares the aggregations it needs, judges one closed
// window's rows per entity, and explains its verdicts.
package detect

import (
	"encoding/json"
	"io"
	"sort"
	"strings"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Verdict is a detector's judgement of one entity in one window.
type Verdict struct {
	Detector  string
	Entity    Entity
	Window    source.Window
	Score     float64 // 0..1, comparable across detectors
	Threshold float64 // the score at or above which the detector alerts
	Observed  float64 // the quantity the detector looked at
	Expected  float64 // what the model expected of it
	// Unit is the unit of Observed and Expected ("bytes", "ns", …), set
	// where it varies with the field judged (the field baselines); ""
	// leaves it to the detector's name.
	Unit string
	// Summary is a one-line human explanation.
	Summary string
	// Evidence holds sample records grouped by log name (flows, dns, l7),
	// filled by the engine for anomalous verdicts.
	Evidence map[string][]json.RawMessage
	// EvidenceQuery says which records explain this verdict; the engine
	// fetches samples with it for anomalous verdicts.
	EvidenceQuery []EvidenceQuery
}

// Anomalous reports whether the verdict is at or above its threshold.
func (v Verdict) Anomalous() bool { return v.Score >= v.Threshold }

// EvidenceQuery selects the raw records that explain a verdict.
type EvidenceQuery struct {
	Log     string // "flows", "dns" or "l7"
	Filters []source.Term
	Limit   int
}

// Detector judges windows. Implementations need not be safe for concurrent
// use: the engine calls one detector from one goroutine at a time.
type Detector interface {
	// Name is the Calico detector id, e.g. "port_scan".
	Name() string
	// Queries are the aggregations the detector needs for every window.
	Queries() []source.Query
	// Judge scores every entity in the window from the rows of each query,
	// in the order of Queries.
	Judge(w source.Window, rows [][]source.Row) []Verdict
	// Threshold is the score at or above which the detector alerts.
	Threshold() float64
	// Ready reports whether the model has learned enough to judge; a
	// detector that is not ready returns no verdicts.
	Ready() bool
}

// Learner is a detector with a model learned from the cluster's own
// windows. The engine calls Learn for every window while the detector is
// not Ready (training from history at start, and until the model has
// enough data); once Ready, Judge scores a window against the model as it
// was and then learns from that window itself, keeping anomalous entities
// out of the model where that would teach it the attack.
type Learner interface {
	Detector
	// Learn updates the model with one window's rows, in the order of
	// Queries, without judging them.
	Learn(w source.Window, rows [][]source.Row)
}

// HistoryLearner is a Learner that is Ready at once, judging by settings
// that need no history (Calico's thresholds), and still learns from the
// history the engine reads at start while its model is empty, so what it
// learns (a prober that always reaches many addresses) is known before the
// first window is judged.
type HistoryLearner interface {
	Learner
	// WantsHistory reports whether the model is empty: nothing learned,
	// nothing loaded.
	WantsHistory() bool
}

// Persistent is a detector whose model survives restarts: the engine saves
// it beside the last completed window and loads it back at start.
type Persistent interface {
	// SaveModel writes the model; the format is the detector's own and
	// should carry a version so an old file can be refused, not misread.
	SaveModel(w io.Writer) error
	// LoadModel replaces the model with one written by SaveModel. On error
	// (a corrupt file, another format version) the model must be left as
	// it was, so the detector learns afresh.
	LoadModel(r io.Reader) error
}

// SortVerdicts orders verdicts by score, highest first, then by entity key,
// so output is deterministic.
func SortVerdicts(vs []Verdict) {
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].Score != vs[j].Score {
			return vs[i].Score > vs[j].Score
		}
		return entityKeyCompare(vs[i].Entity, vs[j].Entity) < 0
	})
}

// FlagName is the detector's name as it appears in flags: port_scan → port-scan.
func FlagName(name string) string { return strings.ReplaceAll(name, "_", "-") }
