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
