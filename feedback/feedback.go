// Package feedback owns what users tell the exporter about its incidents:
// "this is expected". A decision names an entity and the detectors that
// flagged it; while it stands, those detectors' verdicts on the entity
// raise no alert, and detectors whose model can learn (detect.ExpectedLearner)
// learn the incident's windows and the entity's later anomalous windows as
// normal, so the model keeps the behaviour after the decision expires.
// Decisions carry who made them and when, are kept in a file across
// restarts, and can be undone.
package feedback

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/atomicfile"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Actions, the values of the action label of calico_anomaly_feedback_total.
const (
	ActionExpected = "expected"
	ActionUndo     = "undo"
)

// Origins of a decision, the values of the origin label.
const (
	OriginWeb          = "web"
	OriginAlertmanager = "alertmanager"
	OriginReplay       = "replay"
)

// Decision is one "this is expected" about an entity.
type Decision struct {
	// ID is the decision's own id (stable for a given incident, origin
	// and time, so a silence seen twice records one decision).
	ID string `json:"id"`
	// Incident is the id of the incident the user marked.
	Incident string        `json:"incident"`
	Entity   detect.Entity `json:"entity"`
	// Detectors are the detectors whose verdicts on the entity the
	// decision covers.
	Detectors []string `json:"detectors"`
	// Windows are the incident's windows, learned as normal by detectors
	// that can learn.
	Windows []source.Window `json:"windows,omitempty"`
	By      string          `json:"by"`
	Origin  string          `json:"origin"`
	Comment string          `json:"comment,omitempty"`
	// At is when the decision was made (the exporter's clock: the
	// simulated one on the simulated cluster), Until when it expires.
	At    time.Time `json:"at"`
	Until time.Time `json:"until"`
	// UndoneBy and UndoneAt say who took the decision back, and when.
	UndoneBy string    `json:"undone_by,omitempty"`
	UndoneAt time.Time `json:"undone_at,omitzero"`
}

// Active reports whether the decision stands at t.
func (d Decision) Active(t time.Time) bool {
	return d.UndoneAt.IsZero() && t.Before(d.Until)
}

// covers reports whether the decision is about detector's verdicts on e:
// the entity or the same workload after a rollout (the same
// detect.Entity.ModelKey: a Deployment's new ReplicaSet keeps the
// decision, as it keeps what its models learned).
func (d Decision) covers(detector string, e detect.Entity) bool {
	if d.Entity != e && d.Entity.ModelKey() != e.ModelKey() {
		return false
	}
	for _, n := range d.Detectors {
		if n == detector {
			return true
		}
	}
	return false
}

// Request is what a user asks: mark an incident's entity expected.
type Request struct {
	Incident  string
	Entity    detect.Entity
	Detectors []string
	Windows   []source.Window
	By        string
	Origin    string
	Comment   string
	// Key, when set, makes the decision idempotent: a second request with
	// the same key returns the first decision (an Alertmanager silence
	// seen at every poll).
	Key string
}

// fileVersion is the format of the decisions file.
const fileVersion = 1

type file struct {
	Version   int        `json:"version"`
	Decisions []Decision `json:"decisions"`
}

// Store holds the decisions. It is safe for concurrent use.
type Store struct {
	path string
	ttl  time.Duration
	now  func() time.Time

	mu        sync.Mutex
	decisions []Decision
	pending   []detect.ExpectedWindows

	total *prometheus.CounterVec
}

// DefaultExpiry is how long a decision mutes its entity's detectors
// unless the store is told otherwise.
const DefaultExpiry = 7 * 24 * time.Hour

// maxDecisions bounds the decisions kept: the oldest undone or expired go
// first.
const maxDecisions = 10000

// New returns a store keeping its decisions in path ("" keeps them in
// memory only); decisions expire ttl after they are made. now is the
// exporter's clock. A file that cannot be read is an error naming it: the
// exporter refuses to start rather than forget users' decisions.
func New(path string, ttl time.Duration, now func() time.Time) (*Store, error) {
	if ttl <= 0 {
		ttl = DefaultExpiry
	}
	if now == nil {
		now = time.Now
	}
	s := &Store{path: path, ttl: ttl, now: now}
	s.total = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "calico_anomaly_feedback_total",
		Help: "Feedback decisions taken on incidents, by action (expected, undo) and origin (web, alertmanager, replay).",
	}, []string{"action", "origin"})
	for _, a := range []string{ActionExpected, ActionUndo} {
		for _, o := range []string{OriginWeb, OriginAlertmanager} {
			s.total.WithLabelValues(a, o)
		}
	}
	if path == "" {
		return s, nil
	}
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("feedback file: %w", err)
	}
	var f file
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("feedback file %s: %w (move it away to start without decisions)", path, err)
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("feedback file %s: format version %d, want %d", path, f.Version, fileVersion)
	}
	s.decisions = f.Decisions
	return s, nil
}

// Describe implements prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) { s.total.Describe(ch) }

// Collect implements prometheus.Collector.
func (s *Store) Collect(ch chan<- prometheus.Metric) { s.total.Collect(ch) }

// Expiry is how long a decision stands.
func (s *Store) Expiry() time.Duration { return s.ttl }

// Mark records that the request's entity is expected for its detectors,
// and queues the incident's windows for the detectors to learn.
func (s *Store) Mark(r Request) (Decision, error) {
	if r.Incident == "" || len(r.Detectors) == 0 {
		return Decision{}, errors.New("feedback: an incident and its detectors are needed")
	}
	if r.By == "" {
		r.By = "anonymous"
	}
	if r.Origin == "" {
		r.Origin = OriginWeb
	}
	now := s.now()
	id := decisionID(r, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.decisions {
		if d.ID == id {
			return d, nil
		}
	}
	dets := append([]string(nil), r.Detectors...)
	sort.Strings(dets)
	d := Decision{ID: id, Incident: r.Incident, Entity: r.Entity, Detectors: dets, Windows: r.Windows,
		By: r.By, Origin: r.Origin, Comment: strings.TrimSpace(r.Comment), At: now, Until: now.Add(s.ttl)}
	s.decisions = append(s.decisions, d)
	s.trim(now)
	for _, det := range dets {
		s.pending = append(s.pending, detect.ExpectedWindows{Detector: det, Entity: r.Entity, Windows: r.Windows})
	}
	s.total.WithLabelValues(ActionExpected, r.Origin).Inc()
	return d, s.saveLocked()
}

// decisionID is stable for an idempotency key, else unique for the
// incident, origin and time.
func decisionID(r Request, now time.Time) string {
	h := sha256.New()
	if r.Key != "" {
		fmt.Fprintf(h, "key\x00%s\x00%s", r.Origin, r.Key)
	} else {
		fmt.Fprintf(h, "%s\x00%s\x00%d", r.Incident, r.Origin, now.UnixNano())
	}
	return fmt.Sprintf("%x", h.Sum(nil)[:8])
}

// Undo takes decision id back; it then no longer mutes anything (what a
// model learned stays learned, as any window it judged normal would).
func (s *Store) Undo(id, by, origin string) (Decision, error) {
	if by == "" {
		by = "anonymous"
	}
	if origin == "" {
		origin = OriginWeb
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.decisions {
		d := &s.decisions[i]
		if d.ID != id {
			continue
		}
		if !d.UndoneAt.IsZero() {
			return *d, fmt.Errorf("feedback: decision %s was undone already by %s", id, d.UndoneBy)
		}
		d.UndoneBy, d.UndoneAt = by, s.now()
		s.total.WithLabelValues(ActionUndo, origin).Inc()
		return *d, s.saveLocked()
	}
	return Decision{}, fmt.Errorf("feedback: no decision %q", id)
}

// UndoKey takes back the standing decision that the request with key and
// origin made (an Alertmanager silence expired before its end), by by.
// It reports whether it undid one: a key that made no decision, or whose
// decision was undone already or has expired, changes nothing, so a
// withdrawn silence seen at every poll undoes its decision once.
func (s *Store) UndoKey(key, origin, by string) (Decision, bool, error) {
	if key == "" {
		return Decision{}, false, nil
	}
	id := decisionID(Request{Key: key, Origin: origin}, time.Time{})
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.decisions {
		d := &s.decisions[i]
		if d.ID != id {
			continue
		}
		if !d.Active(s.now()) {
			return *d, false, nil
		}
		d.UndoneBy, d.UndoneAt = by, s.now()
		s.total.WithLabelValues(ActionUndo, origin).Inc()
		return *d, true, s.saveLocked()
	}
	return Decision{}, false, nil
}

// Expected reports whether a decision standing at t covers detector's
// verdicts on e.
func (s *Store) Expected(detector string, e detect.Entity, t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.decisions {
		if d.Active(t) && d.covers(detector, e) {
			return true
		}
	}
	return false
}

// TakeLearning returns and forgets the incident windows waiting to be
// learned by the detectors of cluster's engine.
func (s *Store) TakeLearning(cluster string) []detect.ExpectedWindows {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out, keep []detect.ExpectedWindows
	for _, p := range s.pending {
		if p.Entity.Cluster == cluster {
			out = append(out, p)
		} else {
			keep = append(keep, p)
		}
	}
	s.pending = keep
	return out
}

// ForIncident lists the decisions taken on an incident, newest first.
func (s *Store) ForIncident(id string) []Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Decision
	for _, d := range s.decisions {
		if d.Incident == id {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out
}

// ForEntity lists the decisions standing at t on entity e.
func (s *Store) ForEntity(e detect.Entity, t time.Time) []Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Decision
	for _, d := range s.decisions {
		if d.Entity == e && d.Active(t) {
			out = append(out, d)
		}
	}
	return out
}

// All lists every decision kept, newest first.
func (s *Store) All() []Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]Decision(nil), s.decisions...)
	sort.Slice(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out
}

// trim drops the oldest inactive decisions beyond maxDecisions; s.mu is
// held.
func (s *Store) trim(now time.Time) {
	for len(s.decisions) > maxDecisions {
		drop := -1
		for i, d := range s.decisions {
			if !d.Active(now) {
				drop = i
				break
			}
		}
		if drop < 0 {
			drop = 0
		}
		s.decisions = append(s.decisions[:drop], s.decisions[drop+1:]...)
	}
}

// saveLocked writes the decisions atomically; s.mu is held.
func (s *Store) saveLocked() error {
	if s.path == "" {
		return nil
	}
	raw, err := json.MarshalIndent(file{Version: fileVersion, Decisions: s.decisions}, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path, raw)
}
