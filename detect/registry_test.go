package detect

import "testing"

func TestRegistryHasCalicoDefaults(t *testing.T) {
	want := map[string]struct{ env, def string }{
		"port_scan": {"AD_port_scan_threshold", "500"},
		"ip_sweep":  {"AD_ip_sweep_threshold", "32"},
	}
	for name, w := range want {
		info, ok := Lookup(name)
		if !ok {
			t.Errorf("%s not registered", name)
			continue
		}
		if len(info.Params) == 0 || info.Params[0].Env != w.env || info.Params[0].Default != w.def {
			t.Errorf("%s params = %+v, want %s default %s", name, info.Params, w.env, w.def)
		}
	}
	if got := FlagName("port_scan"); got != "port-scan" {
		t.Errorf("FlagName = %q", got)
	}
}

func TestRegistryOwnsTheMitreClassification(t *testing.T) {
	// The techniques the shipped detectors' anomalies are classified by
	// (Calico's for port_scan and dga); none fits the others.
	want := map[string]string{
		"port_scan": "T1046", "ip_sweep": "T1046", "dga": "T1568.002", "dns_tunnel": "T1071.004",
		"bytes_out": "T1041,T1048", "http_connection_spike": "T1498,T1499",
		"bytes_in": "", "dns_latency": "", "http_response_codes": "", "http_verbs": "", "l7_latency": "",
		"l7_bytes": "", "process_bytes": "", "process_restarts": "", "generic_flows": "", "time_series_dns": "",
	}
	for name, techniques := range want {
		info, _ := Lookup(name)
		if got := info.Techniques(); got != techniques {
			t.Errorf("%s: techniques %q, want %q", name, got, techniques)
		}
	}
	for _, info := range Registered() {
		if info.Mitre != nil && len(info.Mitre.Mitigations) == 0 {
			t.Errorf("%s: a MITRE classification without mitigations", info.Name)
		}
		if info.Family == Performance && info.Mitre != nil {
			t.Errorf("%s: a performance detector with a MITRE classification", info.Name)
		}
	}
}

func TestRegisterRefusesIncompleteFacts(t *testing.T) {
	newNone := func(Options) (Detector, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		info Info
	}{
		{"no family", Info{Name: "x_no_family", New: newNone}},
		{"an unknown family", Info{Name: "x_bad_family", Family: "network", New: newNone}},
		{"MITRE on a performance detector", Info{Name: "x_perf_mitre", Family: Performance, New: newNone,
			Mitre: &Mitre{AttackVector: "network", Tactic: "impact", IDs: []string{"T1499"}}}},
		{"a malformed technique", Info{Name: "x_bad_id", Family: Security, New: newNone,
			Mitre: &Mitre{AttackVector: "network", Tactic: "impact", IDs: []string{"1499"}}}},
		{"no technique", Info{Name: "x_no_id", Family: Security, New: newNone,
			Mitre: &Mitre{AttackVector: "network", Tactic: "impact"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register accepted %+v", tc.info)
				}
				if _, ok := Lookup(tc.info.Name); ok {
					t.Errorf("%s registered", tc.info.Name)
				}
			}()
			Register(tc.info)
		})
	}
}

func TestFamilyIncludes(t *testing.T) {
	for _, tc := range []struct {
		f, g Family
		want bool
	}{
		{Security, Security, true}, {Security, Performance, false},
		{Performance, Performance, true}, {Performance, Security, false},
		{Both, Security, true}, {Both, Performance, true}, {Both, Both, true},
		{Security, Both, false},
	} {
		if got := tc.f.Includes(tc.g); got != tc.want {
			t.Errorf("%s.Includes(%s) = %v, want %v", tc.f, tc.g, got, tc.want)
		}
	}
}
