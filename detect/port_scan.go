package detect

func init() {
	Register(Info{
		Name:   "port_scan",
		Family: Security,
		Mitre: &Mitre{AttackVector: "network", Tactic: "discovery", IDs: []string{"T1046"},
			Mitigations: []string{"apply the quarantine network policy to the scanning workload", "restrict its egress to the services it needs"}},
		Logs:           []string{"flows"},
		Unit:           UnitPorts,
		DefaultEnabled: true,
		Help: "A source reaching many distinct destination ports: in one window (fast), or over the last slow_windows " +
			"windows together (slow); sources outside the cluster are judged as their network, pub or pvt; a workload that always " +
			"reaches many (a prober) is judged against its own history.",
		Params: append([]Param{{
			Key: "threshold", Env: "AD_port_scan_threshold", Default: "500",
			Help: "distinct destination ports per source entity per window at or above which it alerts",
		}, {
			Key: "slow_threshold", Default: "500",
			Help: "distinct destination ports per source entity over the last slow_windows windows at or above which it alerts " +
				"(never below threshold: that many ports are a scan whether they take one window or an hour)",
		}, {
			Key: "slow_windows", Default: "12",
			Help: "windows the slow count spans (12 windows of 5 minutes: one hour)",
		}}, learnedScanParams...),
		Scope: NamespaceScope,
		New:   newPortScan,
	})
}

func newPortScan(o Options) (Detector, error) {
	info, _ := Lookup("port_scan")
	return newDistinctScan(info, o, "dest_port", "destination ports")
}
