package detect

func init() {
	Register(Info{
		Name:           "ip_sweep",
		Family:         Security,
		Logs:           []string{"flows"},
		DefaultEnabled: true,
		Help:           "A source reaching many distinct destination IPs in one window (MITRE T1046).",
		Params: []Param{{
			Key: "threshold", Env: "AD_ip_sweep_threshold", Default: "32",
			Help: "distinct destination IPs per source entity per window at or above which it alerts",
		}},
		New: newIPSweep,
	})
}

func newIPSweep(o Options) (Detector, error) {
	info, _ := Lookup("ip_sweep")
	return newDistinctThreshold(info, o, "dest_ip", "destination IPs")
}
