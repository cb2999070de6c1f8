package simulate

import "time"

// Slow and outside scans of the library: each paced so that no window
// reaches Calico's per-window thresholds (500 ports, 32 addresses), or
// coming from an address on the internet. A slow scan's labels name its
// detector from the window in which it has probed as many ports or
// addresses as the detector's default slow threshold (500 ports, 64
// addresses over an hour); its earlier windows are labelled with none.
const (
	slowPortsLabelFrom = 500
	slowIPsLabelFrom   = 64
)

func init() {
	RegisterScenario(ScenarioSpec{
		Name: "port_scan_slow", Detectors: []string{"port_scan"},
		Help: "a compromised pod probes ports 1-1200 of a database pod over an hour: 100 a window, under the per-window threshold",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{PortScan{At: start.Add(span / 8), Duration: time.Hour, LabelFrom: slowPortsLabelFrom, Namespace: "shop", Workload: "checkout",
				TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 1200}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "ip_sweep_slow", Detectors: []string{"ip_sweep"},
		Help: "a compromised pod sweeps a /24 of pod addresses on one port over an hour: about 21 a window, under the per-window threshold",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{IPSweep{At: start.Add(span / 8), Duration: time.Hour, LabelFrom: slowIPsLabelFrom, Namespace: "payments", Workload: "ledger",
				CIDR: "10.244.2.0/24", Port: 5432}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "port_scan_outside", Detectors: []string{"port_scan"},
		Help: "an address on the internet probes ports 1-1000 of a frontend pod within one window; judged as the network pub",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{PortScan{At: start.Add(span / 3), Namespace: Outside, Workload: "scanner", SourceIP: "198.51.100.23",
				TargetNamespace: "shop", TargetWorkload: "frontend", FirstPort: 1, LastPort: 1000}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "ip_sweep_outside_slow", Detectors: []string{"ip_sweep"},
		Help: "an address on the internet sweeps a /24 of pod addresses on port 22 over an hour; judged as the network pub",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{IPSweep{At: start.Add(span / 4), Duration: time.Hour, LabelFrom: slowIPsLabelFrom, Namespace: Outside, Workload: "sweeper",
				SourceIP: "203.0.113.99", CIDR: "10.244.3.0/24", Port: 22}}
		},
	})
}
