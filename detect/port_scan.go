package detect

func init() {
	Register(Info{
		Name:           "port_scan",
		Family:         Security,
		Logs:           []string{"flows"},
		DefaultEnabled: true,
		Help:           "A source reaching many distinct destination ports in one window (MITRE T1046).",
		Params: []Param{{
			Key: "threshold", Env: "AD_port_scan_threshold", Default: "500",
			Help: "distinct destination ports per source entity per window at or above which it alerts",
		}},
		New: newPortScan,
	})
}

func newPortScan(o Options) (Detector, error) {
	info, _ := Lookup("port_scan")
	return newDistinctThreshold(info, o, "dest_port", "destination ports")
}
