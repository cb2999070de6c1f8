// Package incident owns incidents: the alerting verdicts of one entity, by
// any detector, over consecutive windows, as one thing an engineer looks
// at. An incident opens with the first window in which a detector's
// verdict on the entity alerts, stays open while every following window
// has one, and is resolved by the first window with none. It keeps its
// start, when it was last seen, its end, its peak score, its severity and
// the detectors that saw it; its id is stable (the entity and the first
// window), so two replicas name it alike, and the incidents are kept in a
// file across restarts. Metrics stay per window; the Alertmanager alert,
// the Calico event and the status page speak of incidents.
package incident

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/atomicfile"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Incident is one entity's anomaly over consecutive windows.
type Incident struct {
	ID     string        `json:"id"`
	Entity detect.Entity `json:"entity"`
	// Start is the start of the first anomalous window; LastSeen the end
	// of the latest one; End the end of the window that resolved the
	// incident (zero while open).
	Start    time.Time `json:"start"`
	LastSeen time.Time `json:"last_seen"`
	End      time.Time `json:"end,omitzero"`
	// Windows counts the anomalous windows.
	Windows int `json:"windows"`
	// Peak is the highest score of any alerting verdict, PeakDetector the
	// detector that gave it.
	Peak         float64 `json:"peak"`
	PeakDetector string  `json:"peak_detector"`
	// Severity is Calico's 0..100 severity, the highest of its detectors'.
	Severity int `json:"severity"`
	// Detectors lists every detector that alerted on the entity during
	// the incident, in the order they first did.
	Detectors []string `json:"detectors"`
	// Verdicts holds, per detector, its highest-scoring alerting verdict
	// of the incident, with its evidence.
	Verdicts map[string]detect.Verdict `json:"verdicts"`
	// AnomalousWindows are the incident's anomalous windows (the newest
	// maxWindowsKept), per detector: what feedback teaches the models.
	AnomalousWindows map[string][]source.Window `json:"anomalous_windows"`
}

// Open reports whether the incident is not resolved.
func (i Incident) Open() bool { return i.End.IsZero() }

// Duration is how long the incident lasted, or has lasted so far.
func (i Incident) Duration() time.Duration { return i.LastSeen.Sub(i.Start) }

// SeverityLabel is the severity as Prometheus alerts carry it.
func (i Incident) SeverityLabel() string { return notify.SeverityLabel(i.Severity) }

// PeakVerdict is the verdict that gave the incident its peak.
func (i Incident) PeakVerdict() detect.Verdict { return i.Verdicts[i.PeakDetector] }

// maxWindowsKept bounds the windows an incident keeps per detector.
const maxWindowsKept = 24

// ID is the id of the incident of entity e that opened with window start.
func ID(e detect.Entity, start time.Time) string {
	h := sha256.New()
	for _, part := range []string{e.Cluster, e.Namespace, e.Workload, e.Type, fmt.Sprint(start.Unix())} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%x", h.Sum(nil)[:8])
}

// Config tunes a Tracker.
type Config struct {
	// Path is the file the incidents are kept in across restarts ("":
	// memory only).
	Path string
	// Policy is the alert policy in force: only verdicts that alert under
	// it (threshold, silences, feedback) open or extend an incident.
	Policy func() notify.Policy
	// Keep is how long a resolved incident is kept, counted from its end
	// in window time (default 24h); MaxResolved bounds them (default 500).
	Keep        time.Duration
	MaxResolved int
}

// Tracker turns each window's verdicts into incidents. It is an engine
// sink and safe for concurrent use; place it before the notifiers among
// the engine's sinks, so they find the window's incidents.
type Tracker struct {
	cfg Config

	mu        sync.RWMutex
	incidents map[string]*Incident // by id
	open      map[string]string    // entity key → id of its open incident
	clusters  map[string]bool      // clusters seen in a delivered window
	saveErr   error
}

// fileVersion is the format of the incidents file.
const fileVersion = 1

type file struct {
	Version   int        `json:"version"`
	Incidents []Incident `json:"incidents"`
}

// New returns a tracker, loading the incidents kept in cfg.Path. A file
// that cannot be read is an error naming it.
func New(cfg Config) (*Tracker, error) {
	if cfg.Keep <= 0 {
		cfg.Keep = 24 * time.Hour
	}
	if cfg.MaxResolved <= 0 {
		cfg.MaxResolved = 500
	}
	if cfg.Policy == nil {
		cfg.Policy = func() notify.Policy { return notify.Policy{} }
	}
	t := &Tracker{cfg: cfg, incidents: map[string]*Incident{}, open: map[string]string{}, clusters: map[string]bool{}}
	if cfg.Path == "" {
		return t, nil
	}
	raw, err := os.ReadFile(cfg.Path)
	if os.IsNotExist(err) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("incidents file: %w", err)
	}
	var f file
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("incidents file %s: %w (move it away to start without incidents)", cfg.Path, err)
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("incidents file %s: format version %d, want %d", cfg.Path, f.Version, fileVersion)
	}
	for i := range f.Incidents {
		in := f.Incidents[i]
		if in.ID == "" {
			continue
		}
		t.incidents[in.ID] = &in
		t.clusters[in.Entity.Cluster] = true
		if in.Open() {
			t.open[in.Entity.Key()] = in.ID
		}
	}
	return t, nil
}

// Deliver takes one window's verdicts: alerting verdicts open or extend
// their entity's incident, and open incidents of the clusters the window
// judged whose entity no longer alerts are resolved at the window's end.
func (t *Tracker) Deliver(_ context.Context, w source.Window, verdicts []detect.Verdict) {
	p := t.cfg.Policy()
	byEntity := map[string][]detect.Verdict{}
	judged := map[string]bool{}
	for _, v := range verdicts {
		judged[v.Entity.Cluster] = true
		if p.Alerts(v) {
			byEntity[v.Entity.Key()] = append(byEntity[v.Entity.Key()], v)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range judged {
		t.clusters[c] = true
	}
	single := len(t.clusters) <= 1
	keys := make([]string, 0, len(byEntity))
	for k := range byEntity {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := byEntity[k]
		detect.SortVerdicts(vs)
		in := t.incidents[t.open[k]]
		if in == nil {
			e := vs[0].Entity
			in = &Incident{ID: ID(e, w.Start), Entity: e, Start: w.Start, Verdicts: map[string]detect.Verdict{},
				AnomalousWindows: map[string][]source.Window{}}
			if old, ok := t.incidents[in.ID]; ok && !old.Open() {
				// The window was judged again (a replay): reopen it.
				in = old
				in.End = time.Time{}
			}
			t.incidents[in.ID] = in
			t.open[k] = in.ID
		}
		if w.End.After(in.LastSeen) {
			in.LastSeen = w.End
			in.Windows++
		}
		for _, v := range vs {
			if _, seen := in.Verdicts[v.Detector]; !seen {
				in.Detectors = append(in.Detectors, v.Detector)
			}
			if prev, ok := in.Verdicts[v.Detector]; !ok || v.Score >= prev.Score {
				in.Verdicts[v.Detector] = v
			}
			ws := append(in.AnomalousWindows[v.Detector], v.Window)
			if len(ws) > maxWindowsKept {
				ws = ws[len(ws)-maxWindowsKept:]
			}
			in.AnomalousWindows[v.Detector] = ws
			if v.Score > in.Peak || in.PeakDetector == "" {
				in.Peak, in.PeakDetector = v.Score, v.Detector
			}
			in.Severity = max(in.Severity, p.SeverityOf(v.Detector))
		}
	}
	for k, id := range t.open {
		in := t.incidents[id]
		if _, still := byEntity[k]; still || (!single && !judged[in.Entity.Cluster]) || !w.End.After(in.LastSeen) {
			continue
		}
		in.End = w.End
		delete(t.open, k)
	}
	t.trim(w.End)
	t.saveErr = t.saveLocked()
}

// trim drops resolved incidents older than Keep, then the oldest beyond
// MaxResolved; t.mu is held.
func (t *Tracker) trim(now time.Time) {
	var resolved []*Incident
	for id, in := range t.incidents {
		if in.Open() {
			continue
		}
		if now.Sub(in.End) > t.cfg.Keep {
			delete(t.incidents, id)
			continue
		}
		resolved = append(resolved, in)
	}
	if len(resolved) <= t.cfg.MaxResolved {
		return
	}
	sort.Slice(resolved, func(i, j int) bool { return resolved[i].End.After(resolved[j].End) })
	for _, in := range resolved[t.cfg.MaxResolved:] {
		delete(t.incidents, in.ID)
	}
}

// saveLocked writes the incidents atomically; t.mu is held.
func (t *Tracker) saveLocked() error {
	if t.cfg.Path == "" {
		return nil
	}
	f := file{Version: fileVersion}
	for _, in := range t.incidents {
		f.Incidents = append(f.Incidents, *in)
	}
	sort.Slice(f.Incidents, func(i, j int) bool { return f.Incidents[i].ID < f.Incidents[j].ID })
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return atomicfile.Write(t.cfg.Path, raw)
}

// SaveError is the error of the last write of the incidents file, if any.
func (t *Tracker) SaveError() error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.saveErr
}

// ErrNotFound is returned for an incident the tracker does not hold.
var ErrNotFound = errors.New("no such incident")

// Get returns a copy of incident id.
func (t *Tracker) Get(id string) (Incident, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	in, ok := t.incidents[id]
	if !ok {
		return Incident{}, fmt.Errorf("incident %q: %w", id, ErrNotFound)
	}
	return in.clone(), nil
}

// OpenFor returns the open incident of entity e, if any.
func (t *Tracker) OpenFor(e detect.Entity) (Incident, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	id, ok := t.open[e.Key()]
	if !ok {
		return Incident{}, false
	}
	return t.incidents[id].clone(), true
}

// LatestFor returns the newest incident of entity e, open or resolved.
func (t *Tracker) LatestFor(e detect.Entity) (Incident, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var best *Incident
	for _, in := range t.incidents {
		if in.Entity == e && (best == nil || in.Start.After(best.Start)) {
			best = in
		}
	}
	if best == nil {
		return Incident{}, false
	}
	return best.clone(), true
}

// List returns the open incidents, highest severity first, then highest
// peak, then the newest; and the resolved ones, the most recently ended
// first.
func (t *Tracker) List() (open, resolved []Incident) {
	t.mu.RLock()
	for _, in := range t.incidents {
		if in.Open() {
			open = append(open, in.clone())
		} else {
			resolved = append(resolved, in.clone())
		}
	}
	t.mu.RUnlock()
	sort.Slice(open, func(i, j int) bool { return Less(open[i], open[j]) })
	sort.Slice(resolved, func(i, j int) bool {
		if !resolved[i].End.Equal(resolved[j].End) {
			return resolved[i].End.After(resolved[j].End)
		}
		return Less(resolved[i], resolved[j])
	})
	return open, resolved
}

// Less ranks a before b: higher severity, then higher peak, then the
// newer start, then the id.
func Less(a, b Incident) bool {
	if a.Severity != b.Severity {
		return a.Severity > b.Severity
	}
	if a.Peak != b.Peak {
		return a.Peak > b.Peak
	}
	if !a.Start.Equal(b.Start) {
		return a.Start.After(b.Start)
	}
	return a.ID < b.ID
}

func (i *Incident) clone() Incident {
	c := *i
	c.Detectors = append([]string(nil), i.Detectors...)
	c.Verdicts = make(map[string]detect.Verdict, len(i.Verdicts))
	for k, v := range i.Verdicts {
		c.Verdicts[k] = v
	}
	c.AnomalousWindows = make(map[string][]source.Window, len(i.AnomalousWindows))
	for k, v := range i.AnomalousWindows {
		c.AnomalousWindows[k] = append([]source.Window(nil), v...)
	}
	return c
}

// AnomalousWindowList lists the incident's anomalous windows of every
// detector once each, oldest first.
func (i Incident) AnomalousWindowList() []source.Window {
	seen := map[int64]bool{}
	var out []source.Window
	for _, ws := range i.AnomalousWindows {
		for _, w := range ws {
			if !seen[w.Start.UnixNano()] {
				seen[w.Start.UnixNano()] = true
				out = append(out, w)
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Start.Before(out[b].Start) })
	return out
}
