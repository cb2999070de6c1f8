// Package scoreboard owns the one state the exporter shares: each detector's
// verdicts for its latest window, the detection counters, and the health of
// the scheduler and the source. Writers publish whole windows; readers
// (the collector, notifiers, the status page) take immutable snapshots.
//
// One exporter may watch several clusters, one engine per cluster sharing
// one scoreboard: each engine writes through its cluster's Board
// (Scoreboard.Cluster), so the clusters' verdicts and detector health are
// kept apart, keyed by (cluster, detector). The methods of Scoreboard
// itself write the state of the unnamed cluster "", for a lone engine.
package scoreboard

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/redact"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Run results, the values of the result label.
const (
	ResultSuccess = "success"
	ResultError   = "error"
)

// DetectorState is one detector's health as the scheduler last saw it.
type DetectorState struct {
	Name string
	// Cluster is the engine's cluster in Snapshot.ClusterDetectors; empty
	// in Snapshot.Detectors, which sums up every cluster.
	Cluster       string
	Threshold     float64
	Ready         bool
	Runs          map[string]uint64 // by result
	LastRun       time.Time
	LastDuration  time.Duration
	LastError     string
	LastWindow    source.Window
	SeriesDropped uint64
	// Entities is how many entities the detector's model keeps state for
	// (-1: the model does not say); EntitiesEvicted counts those forgotten
	// because of the bound on them.
	Entities        int
	EntitiesEvicted uint64
	// DetectionsFolded counts detections counted under OtherNamespace
	// because the detector's detection counters reached the series bound.
	DetectionsFolded uint64
	// TrainedWindows counts windows the model learned without judging
	// them: history read at start, and windows before the model was ready.
	TrainedWindows uint64
	// ModelLoadErrors counts saved models that could not be used and were
	// replaced by a model learned afresh.
	ModelLoadErrors uint64
}

// DetectorKey identifies one detector's state in one cluster.
type DetectorKey struct {
	Cluster, Detector string
}

// DetectionKey identifies a detections counter.
type DetectionKey struct {
	Cluster, Detector, Namespace string
}

// Snapshot is a consistent, read-only copy of the scoreboard.
type Snapshot struct {
	// Verdicts holds each detector's verdicts of its latest window, highest
	// score first: those of every cluster, at most MaxSeriesPerDetector per
	// cluster.
	Verdicts map[string][]detect.Verdict
	// ClusterVerdicts holds the same by cluster and detector.
	ClusterVerdicts map[DetectorKey][]detect.Verdict
	// Detectors sums up each detector's health over every cluster: ready
	// when ready in all of them, runs and counters summed, the last run
	// (its time, duration and window) the latest of any cluster, the last
	// error that of each cluster whose latest run failed, the threshold
	// the highest. With one cluster it is that cluster's state.
	Detectors map[string]DetectorState
	// ClusterDetectors holds each detector's health by cluster.
	ClusterDetectors map[DetectorKey]DetectorState
	// Clusters lists the clusters written to, sorted.
	Clusters   []string
	Detections map[DetectionKey]uint64
	// NewestWindowEnd is the end of the newest window processed; with
	// several clusters, that of the cluster furthest behind (among those
	// that processed a window), so the lag shows the slowest one.
	NewestWindowEnd time.Time
	Records         map[string]uint64 // by log type, every cluster's
	Malformed       map[string]uint64 // by log type, every cluster's
	// SourceKind is the sources' kind ("elasticsearch" when any cluster
	// reads it); SourceUp is true when every cluster's last read
	// succeeded; SourceRetries sums their retries.
	SourceKind    string
	SourceUp      bool
	SourceRetries uint64
	// ModelsSaved is when the models and the last completed window were
	// last written to the model folder (zero: never).
	ModelsSaved time.Time
}

// clusterState is what the scoreboard keeps of one cluster's engine beyond
// its detectors.
type clusterState struct {
	newestEnd  time.Time
	sourceKind string
	sourceUp   bool
	retries    uint64
	hasSource  bool
}

// Scoreboard is safe for concurrent use.
type Scoreboard struct {
	mu         sync.RWMutex
	maxSeries  int
	verdicts   map[DetectorKey][]detect.Verdict
	detectors  map[DetectorKey]*DetectorState
	clusters   map[string]*clusterState
	detections map[DetectionKey]uint64
	// namespaces counts the detection series of each cluster and
	// detector.
	namespaces map[DetectorKey]int
	records    map[string]uint64
	malformed  map[string]uint64
	saved      time.Time
}

// New returns an empty scoreboard keeping at most maxSeriesPerDetector
// verdicts, and detection counters of as many namespaces (more are counted
// under OtherNamespace), per detector and cluster (0 means no bound): an
// exporter watching n clusters exports up to n times that many series per
// detector.
func New(maxSeriesPerDetector int) *Scoreboard {
	return &Scoreboard{
		maxSeries:  maxSeriesPerDetector,
		verdicts:   map[DetectorKey][]detect.Verdict{},
		detectors:  map[DetectorKey]*DetectorState{},
		clusters:   map[string]*clusterState{},
		detections: map[DetectionKey]uint64{},
		namespaces: map[DetectorKey]int{},
		records:    map[string]uint64{},
		malformed:  map[string]uint64{},
	}
}

// Board writes one cluster's state on a shared scoreboard. Create it with
// Scoreboard.Cluster; it is safe for concurrent use.
type Board struct {
	s       *Scoreboard
	cluster string
}

// Cluster returns the writer of cluster's state: the engine of each
// cluster publishes through its own.
func (s *Scoreboard) Cluster(cluster string) *Board {
	return &Board{s: s, cluster: cluster}
}

func (s *Scoreboard) unnamed() *Board { return &Board{s: s} }

// Name is the board's cluster.
func (b *Board) Name() string { return b.cluster }

// cstate returns the cluster's state; s.mu is held for writing.
func (b *Board) cstate() *clusterState {
	cs, ok := b.s.clusters[b.cluster]
	if !ok {
		cs = &clusterState{sourceUp: true}
		b.s.clusters[b.cluster] = cs
	}
	return cs
}

// state returns a detector's state; s.mu is held for writing.
func (b *Board) state(name string) *DetectorState {
	b.cstate()
	k := DetectorKey{Cluster: b.cluster, Detector: name}
	st, ok := b.s.detectors[k]
	if !ok {
		st = &DetectorState{Name: name, Cluster: b.cluster, Runs: map[string]uint64{}, Entities: -1}
		b.s.detectors[k] = st
	}
	return st
}

// AddDetector declares a detector so its health is exported before its
// first run.
func (b *Board) AddDetector(name string, threshold float64, ready bool) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	b.cstate()
	b.s.detectors[DetectorKey{Cluster: b.cluster, Detector: name}] = &DetectorState{Name: name, Cluster: b.cluster, Threshold: threshold, Ready: ready, Runs: map[string]uint64{}, Entities: -1}
}

// Publish replaces a detector's verdicts in this cluster with those of
// window w, counts the anomalous ones as detections, and records a
// successful run. Verdicts beyond the series bound (lowest scores first)
// are dropped and counted.
func (b *Board) Publish(name string, w source.Window, verdicts []detect.Verdict, ready bool, took time.Duration, now time.Time) {
	vs := append([]detect.Verdict(nil), verdicts...)
	detect.SortVerdicts(vs)
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	st := b.state(name)
	for _, v := range vs {
		if v.Anomalous() {
			b.s.countDetection(DetectionKey{Cluster: v.Entity.Cluster, Detector: name, Namespace: v.Entity.Namespace}, st)
		}
	}
	if b.s.maxSeries > 0 && len(vs) > b.s.maxSeries {
		st.SeriesDropped += uint64(len(vs) - b.s.maxSeries)
		vs = vs[:b.s.maxSeries]
	}
	b.s.verdicts[DetectorKey{Cluster: b.cluster, Detector: name}] = vs
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

// OtherNamespace is the namespace under which detections are counted once
// a detector's counters in a cluster reach the series bound: no
// Kubernetes namespace can be named so, and sums over namespaces stay
// right.
const OtherNamespace = "_other"

// countDetection counts one detection under k, or under OtherNamespace
// (and in st.DetectionsFolded) when k would be a new series beyond the
// bound. The caller holds s.mu.
func (s *Scoreboard) countDetection(k DetectionKey, st *DetectorState) {
	if _, ok := s.detections[k]; !ok && s.maxSeries > 0 && k.Namespace != OtherNamespace {
		bound := DetectorKey{Cluster: k.Cluster, Detector: k.Detector}
		if s.namespaces[bound] >= s.maxSeries {
			k.Namespace = OtherNamespace
			st.DetectionsFolded++
		} else {
			s.namespaces[bound]++
		}
	}
	s.detections[k]++
}

// Fail records a failed run of a detector over w; its previous verdicts
// stay until a window succeeds.
func (b *Board) Fail(name string, w source.Window, err error, took time.Duration, now time.Time) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	st := b.state(name)
	st.Runs[ResultError]++
	st.LastRun = now
	st.LastDuration = took
	st.LastError = redact.Text(err.Error())
}

// Entities records how many entities a detector's model keeps state for,
// and how many more it forgot because of the bound on them.
func (b *Board) Entities(name string, live int, evicted uint64) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	st := b.state(name)
	st.Entities = live
	st.EntitiesEvicted += evicted
}

// Trained records that a detector's model learned one window without
// judging it, and whether it is ready now.
func (b *Board) Trained(name string, ready bool) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	st := b.state(name)
	st.TrainedWindows++
	st.Ready = ready
}

// ModelLoadFailed records that a detector's saved model could not be used.
func (b *Board) ModelLoadFailed(name string) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	b.state(name).ModelLoadErrors++
}

// SetReady records whether a detector's model is ready (after loading a
// saved model, before any window).
func (b *Board) SetReady(name string, ready bool) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	b.state(name).Ready = ready
}

// WindowDone records that every detector of this cluster has processed
// window w.
func (b *Board) WindowDone(w source.Window) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	cs := b.cstate()
	if w.End.After(cs.newestEnd) {
		cs.newestEnd = w.End
	}
}

// AddRecords counts the records read and the malformed records skipped for
// a log type.
func (b *Board) AddRecords(logType string, records, malformed uint64) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	b.cstate()
	b.s.records[logType] += records
	b.s.malformed[logType] += malformed
}

// SetSource records this cluster's source's kind, reachability and retry
// count.
func (b *Board) SetSource(kind string, up bool, retries uint64) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	cs := b.cstate()
	cs.sourceKind, cs.sourceUp, cs.retries, cs.hasSource = kind, up, retries, true
}

// ModelsSaved records when the models were last saved.
func (b *Board) ModelsSaved(t time.Time) { b.s.ModelsSaved(t) }

// AddDetector declares a detector of the unnamed cluster (see Board).
func (s *Scoreboard) AddDetector(name string, threshold float64, ready bool) {
	s.unnamed().AddDetector(name, threshold, ready)
}

// Publish publishes a window of the unnamed cluster (see Board.Publish).
func (s *Scoreboard) Publish(name string, w source.Window, verdicts []detect.Verdict, ready bool, took time.Duration, now time.Time) {
	s.unnamed().Publish(name, w, verdicts, ready, took, now)
}

// Fail records a failed run in the unnamed cluster (see Board.Fail).
func (s *Scoreboard) Fail(name string, w source.Window, err error, took time.Duration, now time.Time) {
	s.unnamed().Fail(name, w, err, took, now)
}

// Trained records a window learned in the unnamed cluster (see
// Board.Trained).
func (s *Scoreboard) Trained(name string, ready bool) { s.unnamed().Trained(name, ready) }

// ModelLoadFailed records an unusable model in the unnamed cluster.
func (s *Scoreboard) ModelLoadFailed(name string) { s.unnamed().ModelLoadFailed(name) }

// SetReady records readiness in the unnamed cluster.
func (s *Scoreboard) SetReady(name string, ready bool) { s.unnamed().SetReady(name, ready) }

// WindowDone records a window done in the unnamed cluster.
func (s *Scoreboard) WindowDone(w source.Window) { s.unnamed().WindowDone(w) }

// AddRecords counts the records read and the malformed records skipped for a
// log type.
func (s *Scoreboard) AddRecords(logType string, records, malformed uint64) {
	s.unnamed().AddRecords(logType, records, malformed)
}

// SetSource records the unnamed cluster's source's kind, reachability and
// retry count.
func (s *Scoreboard) SetSource(kind string, up bool, retries uint64) {
	s.unnamed().SetSource(kind, up, retries)
}

// ModelsSaved records when the models were last saved.
func (s *Scoreboard) ModelsSaved(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.After(s.saved) {
		s.saved = t
	}
}

// Snapshot copies the current state.
func (s *Scoreboard) Snapshot() Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := Snapshot{
		Verdicts:         make(map[string][]detect.Verdict, len(s.verdicts)),
		ClusterVerdicts:  make(map[DetectorKey][]detect.Verdict, len(s.verdicts)),
		Detectors:        make(map[string]DetectorState, len(s.detectors)),
		ClusterDetectors: make(map[DetectorKey]DetectorState, len(s.detectors)),
		Detections:       make(map[DetectionKey]uint64, len(s.detections)),
		Records:          make(map[string]uint64, len(s.records)),
		Malformed:        make(map[string]uint64, len(s.malformed)),
		SourceUp:         true,
		ModelsSaved:      s.saved,
	}
	for c, cs := range s.clusters {
		snap.Clusters = append(snap.Clusters, c)
		if !cs.newestEnd.IsZero() && (snap.NewestWindowEnd.IsZero() || cs.newestEnd.Before(snap.NewestWindowEnd)) {
			snap.NewestWindowEnd = cs.newestEnd
		}
		if !cs.hasSource {
			continue
		}
		snap.SourceUp = snap.SourceUp && cs.sourceUp
		snap.SourceRetries += cs.retries
		if snap.SourceKind == "" || cs.sourceKind == "elasticsearch" {
			snap.SourceKind = cs.sourceKind
		}
	}
	sort.Strings(snap.Clusters)
	vkeys := make([]DetectorKey, 0, len(s.verdicts))
	for k, v := range s.verdicts {
		snap.ClusterVerdicts[k] = v // published slices are never modified
		vkeys = append(vkeys, k)
	}
	sortKeys(vkeys)
	for _, k := range vkeys {
		v := s.verdicts[k]
		if prev, ok := snap.Verdicts[k.Detector]; ok {
			snap.Verdicts[k.Detector] = mergeVerdicts(prev, v)
		} else {
			snap.Verdicts[k.Detector] = v
		}
	}
	// Summing up in cluster order keeps the result independent of map
	// order (the last error's order, ties of the last run).
	keys := make([]DetectorKey, 0, len(s.detectors))
	for k := range s.detectors {
		keys = append(keys, k)
	}
	sortKeys(keys)
	for _, k := range keys {
		c := copyState(s.detectors[k])
		snap.ClusterDetectors[k] = c
		sum, ok := snap.Detectors[k.Detector]
		if !ok {
			sum = copyState(&c)
			sum.Cluster = ""
			if sum.LastError != "" && len(s.clusters) > 1 {
				sum.LastError = clusterError(k.Cluster, sum.LastError)
			}
			snap.Detectors[k.Detector] = sum
			continue
		}
		sum.Ready = sum.Ready && c.Ready
		sum.Threshold = max(sum.Threshold, c.Threshold)
		for r, n := range c.Runs {
			sum.Runs[r] += n
		}
		if c.LastRun.After(sum.LastRun) {
			sum.LastRun, sum.LastDuration, sum.LastWindow = c.LastRun, c.LastDuration, c.LastWindow
		}
		if c.LastError != "" {
			sum.LastError = strings.TrimPrefix(sum.LastError+"; "+clusterError(k.Cluster, c.LastError), "; ")
		}
		sum.SeriesDropped += c.SeriesDropped
		sum.DetectionsFolded += c.DetectionsFolded
		sum.EntitiesEvicted += c.EntitiesEvicted
		if c.Entities >= 0 {
			sum.Entities = max(sum.Entities, 0) + c.Entities
		}
		sum.TrainedWindows += c.TrainedWindows
		sum.ModelLoadErrors += c.ModelLoadErrors
		snap.Detectors[k.Detector] = sum
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

// sortKeys orders keys by detector, then cluster.
func sortKeys(keys []DetectorKey) {
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Detector != keys[j].Detector {
			return keys[i].Detector < keys[j].Detector
		}
		return keys[i].Cluster < keys[j].Cluster
	})
}

// mergeVerdicts merges two slices sorted highest score first into a new
// one; on equal scores a's come first (the clusters are merged in name
// order), so the result does not depend on map order.
func mergeVerdicts(a, b []detect.Verdict) []detect.Verdict {
	out := make([]detect.Verdict, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if b[0].Score > a[0].Score {
			out = append(out, b[0])
			b = b[1:]
		} else {
			out = append(out, a[0])
			a = a[1:]
		}
	}
	out = append(out, a...)
	return append(out, b...)
}

func copyState(st *DetectorState) DetectorState {
	c := *st
	c.Runs = make(map[string]uint64, len(st.Runs))
	for r, n := range st.Runs {
		c.Runs[r] = n
	}
	return c
}

func clusterError(cluster, err string) string {
	if cluster == "" {
		return err
	}
	return "cluster " + cluster + ": " + err
}
