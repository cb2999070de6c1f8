package simulate

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// ScenarioSpec is one entry of the scenario library: a named attack with
// the detectors that must find it, placed in time by New.
type ScenarioSpec struct {
	// Name identifies the entry, e.g. "port_scan_fast" (several entries may
	// share one Scenario type with different settings).
	Name string
	// Detectors are the detector ids the scenario's labels name.
	Detectors []string
	Help      string
	// New returns the scenario's attacks on c, played inside [start,
	// start+span): every entry must fit a span of 2 hours.
	New func(c *Cluster, start time.Time, span time.Duration) []Scenario
}

var (
	libraryMu sync.Mutex
	library   = map[string]ScenarioSpec{}
)

// RegisterScenario adds an entry to the library; scenario files call it
// from init. It panics on a duplicate or incomplete entry.
func RegisterScenario(s ScenarioSpec) {
	libraryMu.Lock()
	defer libraryMu.Unlock()
	if s.Name == "" || s.New == nil || len(s.Detectors) == 0 {
		panic("simulate: RegisterScenario needs a name, detectors and a constructor")
	}
	if _, dup := library[s.Name]; dup {
		panic("simulate: scenario registered twice: " + s.Name)
	}
	library[s.Name] = s
}

// ScenarioLibrary returns every registered entry, sorted by name.
func ScenarioLibrary() []ScenarioSpec {
	libraryMu.Lock()
	defer libraryMu.Unlock()
	out := make([]ScenarioSpec, 0, len(library))
	for _, s := range library {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupScenario returns the library entry named name.
func LookupScenario(name string) (ScenarioSpec, error) {
	libraryMu.Lock()
	defer libraryMu.Unlock()
	s, ok := library[name]
	if !ok {
		names := make([]string, 0, len(library))
		for n := range library {
			names = append(names, n)
		}
		sort.Strings(names)
		return ScenarioSpec{}, fmt.Errorf("unknown scenario %q (known: %v)", name, names)
	}
	return s, nil
}

func init() {
	RegisterScenario(ScenarioSpec{
		Name: "port_scan_fast", Detectors: []string{"port_scan"},
		Help: "a compromised pod probes ports 1-600 of a database pod within one window",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{PortScan{At: start.Add(span / 4), Namespace: "shop", Workload: "frontend",
				TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 600}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "ip_sweep", Detectors: []string{"ip_sweep"},
		Help: "a compromised pod sweeps a /24 of pod addresses on one port",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{IPSweep{At: start.Add(span / 2), Namespace: "shop", Workload: "cart",
				CIDR: "10.244.1.0/24", Port: 6379}}
		},
	})
}
