package detect

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
)

// Family is how Calico grouped its detectors.
type Family string

// Detector families.
const (
	Security    Family = "security"
	Performance Family = "performance"
	Both        Family = "security,performance"
)

// Families lists every family a detector may have.
var Families = []Family{Security, Performance, Both}

// Includes reports whether a detector of family f belongs to family g:
// one of both families is a security detector and a performance one.
func (f Family) Includes(g Family) bool {
	return f == g || (f == Both && (g == Security || g == Performance))
}

// Mitre is the MITRE ATT&CK classification of a detector's anomalies, as
// Calico's security events carry it (attack_vector, mitre_tactic,
// mitre_ids, mitigations).
type Mitre struct {
	AttackVector string   // e.g. "network"
	Tactic       string   // e.g. "discovery"
	IDs          []string // the techniques, e.g. "T1046", "T1568.002"
	Mitigations  []string // what an operator can do about one
}

// mitreID is the form of an ATT&CK technique or sub-technique id.
var mitreID = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)

// Param is one setting a detector reads, with Calico's environment variable
// name and default where Calico had one.
type Param struct {
	Key     string // the detector's own name for it, e.g. "threshold"
	Env     string // Calico's variable, e.g. "AD_port_scan_threshold"
	Default string
	Help    string
	// Range, when set, bounds a numeric setting: a value outside is
	// refused (at start and on reload) naming the setting, before any
	// model is sized by it.
	Range *Range
}

// Range is the lowest and highest value a numeric setting may take.
type Range struct{ Min, Max float64 }

// Info describes a registered detector.
type Info struct {
	Name   string // Calico's id, e.g. "port_scan"
	Family Family
	// Mitre classifies the detector's anomalies; nil for detectors (the
	// performance ones) that no technique fits.
	Mitre *Mitre
	Logs  []string // log types read
	// Unit is the unit of the detector's observed and expected values
	// (UnitBytes, UnitPorts, ...); "" when it varies with the field
	// judged, which the verdict's Unit then names.
	Unit           string
	DefaultEnabled bool
	Help           string
	Params         []Param
	New            func(Options) (Detector, error)
	// Scope is which rows a verdict about an entity depends on, which says
	// what each replica of an exporter sharded by namespace reads (see
	// Scope). The zero value, ClusterScope, is the safe one: every replica
	// reads every row.
	Scope Scope
}

// Scope is which of a window's rows a detector's verdict about an entity
// depends on. Replicas sharded by namespace (engine.Shard) each read only
// the rows of their own namespaces for the detectors whose verdicts depend
// on nothing else, so that Elasticsearch makes one pass over the window in
// total and each replica's models hold a share of the entities.
type Scope int

const (
	// ClusterScope: a verdict may depend on rows of other namespaces (what
	// the whole cluster resolved, for dga). Every replica reads every row
	// and learns every entity; it exports the verdicts of its own.
	ClusterScope Scope = iota
	// NamespaceScope: a verdict about an entity depends only on the rows
	// of its namespace (its own history, its pods, its namespace's
	// totals), and every query groups first by the namespace field of the
	// entity it judges (source_namespace, dest_namespace,
	// client_namespace). Sharded, a replica reads only its namespaces'
	// rows; the union of the replicas' verdicts is exactly one unsharded
	// replica's once each replica's models are ready.
	NamespaceScope
	// PooledScope: as NamespaceScope for each entity's own models, but one
	// model pooled over entities (the isolation forest, which learns how
	// deviations occur together) learns from every entity the replica
	// reads. Sharded, each replica's forest is pooled over its own
	// namespaces, a sample of the cluster's by a hash of their names, so
	// its scores are those of another sample of the same cluster, not the
	// unsharded replica's to the last digit. Reading every row instead
	// would hold every entity's baselines on every replica, which is what
	// sharding is for.
	PooledScope
)

// String names the scope as the documentation does.
func (s Scope) String() string {
	switch s {
	case ClusterScope:
		return "cluster"
	case NamespaceScope:
		return "namespace"
	case PooledScope:
		return "pooled"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// Sharded reports whether replicas sharded by namespace divide the rows
// of a detector of scope s among them.
func (s Scope) Sharded() bool { return s == NamespaceScope || s == PooledScope }

// Options configure one detector instance.
type Options struct {
	Cluster string
	// Params holds the detector's settings by Param.Key; absent keys take
	// the Param's default.
	Params map[string]string
	Logger log.Logger
	// Bucket is the window size (Calico's ES_bucket_size_minutes).
	Bucket time.Duration
	// TrainInterval is how often learned models are rebuilt from what they
	// have observed (Calico's AD_train_interval_minutes); 0 means every window.
	TrainInterval time.Duration
	// Seed makes randomised models deterministic: the same seed and the same
	// windows give the same scores.
	Seed int64
}

var (
	registryMu sync.Mutex
	registry   = map[string]Info{}
)

// Register adds a detector to the registry; detectors call it from init.
// It panics on a duplicate or incomplete registration, a programming error.
func Register(info Info) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if info.Name == "" || info.New == nil {
		panic("detect: Register needs a name and a constructor")
	}
	if _, dup := registry[info.Name]; dup {
		panic("detect: detector registered twice: " + info.Name)
	}
	if !slices.Contains(Families, info.Family) {
		panic("detect: detector " + info.Name + " has no family")
	}
	if m := info.Mitre; m != nil {
		if !info.Family.Includes(Security) || m.AttackVector == "" || m.Tactic == "" || len(m.IDs) == 0 {
			panic("detect: detector " + info.Name + ": a MITRE classification needs the security family, a vector, a tactic and a technique")
		}
		for _, id := range m.IDs {
			if !mitreID.MatchString(id) {
				panic("detect: detector " + info.Name + ": " + id + " is not a MITRE ATT&CK technique id")
			}
		}
	}
	registry[info.Name] = info
}

// Registered returns every registered detector, sorted by name.
func Registered() []Info {
	registryMu.Lock()
	defer registryMu.Unlock()
	out := make([]Info, 0, len(registry))
	for _, info := range registry {
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Techniques are the MITRE ATT&CK technique ids of the detector's
// anomalies joined by commas, "" when no technique fits.
func (info Info) Techniques() string {
	if info.Mitre == nil {
		return ""
	}
	return strings.Join(info.Mitre.IDs, ",")
}

// Lookup returns the registered detector named name.
func Lookup(name string) (Info, bool) {
	registryMu.Lock()
	defer registryMu.Unlock()
	info, ok := registry[name]
	return info, ok
}

// Float returns the numeric setting key of info, from o.Params or its
// default, with an error naming the setting when it is not a number.
func (o Options) Float(info Info, key string) (float64, error) {
	raw, ok := o.Params[key]
	var p *Param
	for i := range info.Params {
		if info.Params[i].Key == key {
			p = &info.Params[i]
		}
	}
	if p == nil {
		return 0, fmt.Errorf("detector %s has no setting %q", info.Name, key)
	}
	if !ok {
		raw = p.Default
	}
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		name := key
		if p.Env != "" {
			name = p.Env
		}
		return 0, fmt.Errorf("detector %s: setting %s=%q is not a number", info.Name, name, raw)
	}
	if r := p.Range; r != nil && (math.IsNaN(v) || v < r.Min || v > r.Max) {
		name := key
		if p.Env != "" {
			name = p.Env
		}
		return 0, fmt.Errorf("detector %s: setting %s=%v is outside %v..%v", info.Name, name, v, r.Min, r.Max)
	}
	return v, nil
}
