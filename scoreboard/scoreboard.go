// Package scoreboard owns the one state the exporter shares: each detector's
// verdicts for its latest window, the detection counters, and the health of
// the scheduler and the source. Writers publish whole windows; readers
// (the collector, notifiers, the status page) take immutable snapshots.
package scoreboard

import (
	"sync"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Run results, the values of the result label.
const (
	ResultSuccess = "success"
	ResultError   = "error"
)

// DetectorState is one detector's health as the scheduler last saw it.
type DetectorState struct {
	Name          string
	Threshold     float64
	Ready         bool
	Runs          map[string]uint64 // by result
	LastRun       time.Time
	LastDuration  time.Duration
	LastError     string
	LastWindow    source.Window
	SeriesDropped uint64
	// TrainedWindows counts windows the model learned without judging
	// them: history read at start, and windows before the model was ready.
	TrainedWindows uint64
	// ModelLoadErrors counts saved models that could not be used and were
	// replaced by a model learned afresh.
	ModelLoadErrors uint64
}

// DetectionKey identifies a detections counter.
type DetectionKey struct {
	Cluster, Detector, Namespace string
}

// Snapshot is a consistent, read-only copy of the scoreboard.
type Snapshot struct {
	// Verdicts holds each detector's verdicts of its latest window, highest
	// score first, at most MaxSeriesPerDetector each.
	Verdicts   map[string][]detect.Verdict
	Detectors  map[string]DetectorState
	Detections map[DetectionKey]uint64
	// NewestWindowEnd is the end of the newest window processed.
	NewestWindowEnd time.Time
	Records         map[string]uint64 // by log type
	Malformed       map[string]uint64 // by log type
	SourceKind      string
	SourceUp        bool
	SourceRetries   uint64
	// ModelsSaved is when the models and the last completed window were
	// last written to the model folder (zero: never).
	ModelsSaved time.Time
}

// Scoreboard is safe for concurrent use.
type Scoreboard struct {
	mu         sync.RWMutex
	maxSeries  int
	verdicts   map[string][]detect.Verdict
	detectors  map[string]*DetectorState
	detections map[DetectionKey]uint64
	newestEnd  time.Time
	records    map[string]uint64
	malformed  map[string]uint64
	sourceKind string
	sourceUp   bool
	retries    uint64
	saved      time.Time
}

// New returns an empty scoreboard keeping at most maxSeriesPerDetector
// verdicts per detector (0 means no bound).
func New(maxSeriesPerDetector int) *Scoreboard {
	return &Scoreboard{
		maxSeries:  maxSeriesPerDetector,
		verdicts:   map[string][]detect.Verdict{},
		detectors:  map[string]*DetectorState{},
		detections: map[DetectionKey]uint64{},
		records:    map[string]uint64{},
		malformed:  map[string]uint64{},
		sourceUp:   true,
	}
}

// AddDetector declares a detector so its health is exported before its
// first run.
func (s *Scoreboard) AddDetector(name string, threshold float64, ready bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.detectors[name] = &DetectorState{Name: name, Threshold: threshold, Ready: ready, Runs: map[string]uint64{}}
}

func (s *Scoreboard) state(name string) *DetectorState {
	st, ok := s.detectors[name]
	if !ok {
		st = &DetectorState{Name: name, Runs: map[string]uint64{}}
		s.detectors[name] = st
	}
	return st
}

// Publish replaces a detector's verdicts with those of window w, counts the
// anomalous ones as detections, and records a successful run. Verdicts
// beyond the series bound (lowest scores first) are dropped and counted.
func (s *Scoreboard) Publish(name string, w source.Window, verdicts []detect.Verdict, ready bool, took time.Duration, now time.Time) {
	vs := append([]detect.Verdict(nil), verdicts...)
	detect.SortVerdicts(vs)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(name)
	for _, v := range vs {
		if v.Anomalous() {
			s.detections[DetectionKey{Cluster: v.Entity.Cluster, Detector: name, Namespace: v.Entity.Namespace}]++
		}
	}
	if s.maxSeries > 0 && len(vs) > s.maxSeries {
		st.SeriesDropped += uint64(len(vs) - s.maxSeries)
		vs = vs[:s.maxSeries]
	}
	s.verdicts[name] = vs
	st.Ready = ready
	st.Runs[ResultSuccess]++
	st.LastRun = now
	st.LastDuration = took
	st.LastError = ""
	st.LastWindow = w
	if len(vs) > 0 {
		st.Threshold = vs[0].Threshold
	}
}

// Fail records a failed run of a detector over w; its previous verdicts
// stay until a window succeeds.
func (s *Scoreboard) Fail(name string, w source.Window, err error, took time.Duration, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(name)
	st.Runs[ResultError]++
	st.LastRun = now
	st.LastDuration = took
	st.LastError = err.Error()
}

// Trained records that a detector's model learned one window without
// judging it, and whether it is ready now.
func (s *Scoreboard) Trained(name string, ready bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(name)
	st.TrainedWindows++
	st.Ready = ready
}

// ModelLoadFailed records that a detector's saved model could not be used.
func (s *Scoreboard) ModelLoadFailed(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state(name).ModelLoadErrors++
}

// SetReady records whether a detector's model is ready (after loading a
// saved model, before any window).
func (s *Scoreboard) SetReady(name string, ready bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state(name).Ready = ready
}

// ModelsSaved records when the models were last saved.
func (s *Scoreboard) ModelsSaved(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saved = t
}

// WindowDone records that every detector has processed window w.
func (s *Scoreboard) WindowDone(w source.Window) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.End.After(s.newestEnd) {
		s.newestEnd = w.End
	}
}

// AddRecords counts the records read and the malformed records skipped for a
// log type.
func (s *Scoreboard) AddRecords(logType string, records, malformed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[logType] += records
	s.malformed[logType] += malformed
}

// SetSource records the source's kind, reachability and retry count.
func (s *Scoreboard) SetSource(kind string, up bool, retries uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sourceKind, s.sourceUp, s.retries = kind, up, retries
}

// Snapshot copies the current state.
func (s *Scoreboard) Snapshot() Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := Snapshot{
		Verdicts:        make(map[string][]detect.Verdict, len(s.verdicts)),
		Detectors:       make(map[string]DetectorState, len(s.detectors)),
		Detections:      make(map[DetectionKey]uint64, len(s.detections)),
		NewestWindowEnd: s.newestEnd,
		Records:         make(map[string]uint64, len(s.records)),
		Malformed:       make(map[string]uint64, len(s.malformed)),
		SourceKind:      s.sourceKind,
		SourceUp:        s.sourceUp,
		SourceRetries:   s.retries,
		ModelsSaved:     s.saved,
	}
	for k, v := range s.verdicts {
		snap.Verdicts[k] = v // published slices are never modified
	}
	for k, v := range s.detectors {
		c := *v
		c.Runs = make(map[string]uint64, len(v.Runs))
		for r, n := range v.Runs {
			c.Runs[r] = n
		}
		snap.Detectors[k] = c
	}
	for k, v := range s.detections {
		snap.Detections[k] = v
	}
	for k, v := range s.records {
		snap.Records[k] = v
	}
	for k, v := range s.malformed {
		snap.Malformed[k] = v
	}
	return snap
}
