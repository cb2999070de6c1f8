package detect

func init() {
	Register(Info{
		Name:   "ip_sweep",
		Family: Security,
		Mitre: &Mitre{AttackVector: "network", Tactic: "discovery", IDs: []string{"T1046"},
			Mitigations: []string{"apply the quarantine network policy to the sweeping workload", "restrict its egress to the services it needs"}},
		Logs:           []string{"flows"},
		Unit:           UnitAddresses,
		DefaultEnabled: true,
		Help: "A source reaching many distinct destination IPs: in one window (fast), or over the last slow_windows " +
			"windows together (slow); sources outside the cluster are judged as their network, pub or pvt; a workload that always " +
			"reaches many (a prober) is judged against its own history.",
		Params: append([]Param{{
			Key: "threshold", Env: "AD_ip_sweep_threshold", Default: "32",
			Help: "distinct destination IPs per source entity per window at or above which it alerts",
		}, {
			Key: "slow_threshold", Default: "64",
			Help: "distinct destination IPs per source entity over the last slow_windows windows at or above which it alerts " +
				"(never below threshold: that many IPs are a sweep whether they take one window or an hour)",
		}, {
			Key: "slow_windows", Default: "12",
			Help: "windows the slow count spans (12 windows of 5 minutes: one hour)",
		}}, learnedScanParams...),
		Scope: NamespaceScope,
		New:   newIPSweep,
	})
}

func newIPSweep(o Options) (Detector, error) {
	info, _ := Lookup("ip_sweep")
	return newDistinctScan(info, o, "dest_ip", "destination IPs")
}
