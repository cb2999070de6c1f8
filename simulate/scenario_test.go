package simulate

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

func TestScenariosAreDetectableOnlyInTheirWindow(t *testing.T) {
	at := day0.Add(15*time.Hour + 7*time.Minute + 30*time.Second) // at the daily peak
	attackWindow := window(day0.Add(15*time.Hour+5*time.Minute), 5*time.Minute)
	probe := New(Options{Seed: 21})
	frontend := probe.Workload("shop", "frontend").NameAggr()
	cart := probe.Workload("shop", "cart").NameAggr()
	tests := []struct {
		name     string
		scenario Scenario
		entity   entity
		detector string
		// minimum distinct destination ports and IPs of the entity in
		// the attack window
		ports, ips int
		// wantDestTypes are destination types the attack's records must show.
		wantDestTypes []string
		// wantDenied: policy denies most of the attack.
		wantDenied bool
	}{
		{
			name:     "a compromised pod scans ports 1-600 of a database",
			scenario: PortScan{At: at, Namespace: "shop", Workload: "frontend", TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 600},
			entity:   entity{"shop", frontend, "wep"}, detector: "port_scan", ports: 600, ips: 1,
			wantDestTypes: []string{"wep"}, wantDenied: true,
		},
		{
			name:     "an internet address scans ports 1-600 of the frontend",
			scenario: PortScan{At: at, Namespace: Outside, Workload: "scanner", SourceIP: "198.51.100.66", TargetNamespace: "shop", TargetWorkload: "frontend", FirstPort: 1, LastPort: 600},
			entity:   entity{"-", "pub", "net"}, detector: "port_scan", ports: 600, ips: 1,
			wantDestTypes: []string{"wep"}, wantDenied: true,
		},
		{
			name:     "a rogue pod that no deployment owns scans a few thousand ports",
			scenario: PortScan{At: at, Namespace: "shop", Workload: "netshoot", TargetNamespace: "shop", TargetWorkload: "cart", FirstPort: 1000, LastPort: 2999},
			entity:   entity{"shop", "netshoot-", "wep"}, detector: "port_scan", ports: 2000, ips: 1,
			wantDestTypes: []string{"wep"}, wantDenied: true,
		},
		{
			name:     "a compromised pod sweeps a /24 without pods",
			scenario: IPSweep{At: at, Namespace: "shop", Workload: "cart", CIDR: "10.244.7.0/24", Port: 22},
			entity:   entity{"shop", cart, "wep"}, detector: "ip_sweep", ports: 1, ips: 254,
			wantDestTypes: []string{"net"},
		},
		{
			name:     "a compromised pod sweeps a node's pod network",
			scenario: IPSweep{At: at, Namespace: "shop", Workload: "cart", CIDR: "10.244.2.0/24", Port: 6379},
			entity:   entity{"shop", cart, "wep"}, detector: "ip_sweep", ports: 1, ips: 253,
			wantDestTypes: []string{"net", "wep"}, wantDenied: true,
		},
		{
			name:     "an internet address sweeps a node's pod network",
			scenario: IPSweep{At: at, Namespace: Outside, Workload: "sweeper", CIDR: "10.244.1.0/24", Port: 22},
			entity:   entity{"-", "pub", "net"}, detector: "ip_sweep", ports: 1, ips: 254,
			wantDestTypes: []string{"net", "wep"}, wantDenied: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{Seed: 21}, tt.scenario)
			normal := New(Options{Seed: 21}).Window(attackWindow).Flows
			matches := func(e entity) bool {
				return e.namespace == tt.entity.namespace && e.typ == tt.entity.typ && strings.HasPrefix(e.workload, tt.entity.workload)
			}
			// Two hours around the attack, window by window.
			for s := at.Add(-time.Hour).Truncate(c.Bucket()); s.Before(at.Add(time.Hour)); s = s.Add(c.Bucket()) {
				w := window(s, c.Bucket())
				batch := c.Window(w)
				inAttack := w == attackWindow
				found := false
				for e, d := range distinctBySource(batch.Flows) {
					hot := d.ports >= portScanThreshold || d.ips >= ipSweepThreshold
					switch {
					case inAttack && matches(e):
						found = true
						if d.ports < tt.ports || d.ips < tt.ips {
							t.Errorf("%s: %s reaches %d ports and %d IPs, want at least %d and %d", w, e, d.ports, d.ips, tt.ports, tt.ips)
						}
						if tt.detector == "port_scan" && d.ips >= ipSweepThreshold || tt.detector == "ip_sweep" && d.ports >= portScanThreshold {
							t.Errorf("%s: %s also looks like the other attack: %d ports, %d IPs", w, e, d.ports, d.ips)
						}
					case hot:
						t.Errorf("%s: %s reaches %d ports and %d IPs outside the attack", w, e, d.ports, d.ips)
					}
				}
				if inAttack && !found {
					t.Errorf("%s: no flow from %s", w, tt.entity)
				}
				truth := c.Truth(w)
				if !reflect.DeepEqual(truth, batch.Truth) {
					t.Errorf("%s: Truth %v differs from the batch's %v", w, truth, batch.Truth)
				}
				if !inAttack && len(truth) > 0 {
					t.Errorf("%s: labels %v outside the attack", w, truth)
				}
				if inAttack {
					if len(truth) != 1 {
						t.Fatalf("%s: labels %v, want one", w, truth)
					}
					got := truth[0]
					e := entity{got.Namespace, got.Workload, got.Type}
					if got.Scenario != tt.detector || !slices.Equal(got.Detectors, []string{tt.detector}) || got.Cluster != "cluster" || !matches(e) || got.Window != w {
						t.Errorf("label %+v, want detector %s for %s in %s", got, tt.detector, tt.entity, w)
					}
					if !reflect.DeepEqual(batch.Flows[:len(normal)], normal) {
						t.Fatal("the attack changed the normal traffic of its window")
					}
					checkAttackRecords(t, batch.Flows[len(normal):], got, tt.wantDestTypes, tt.wantDenied)
				}
			}
		})
	}
}

// checkAttackRecords checks the records an attack added: one connection
// each, from the label's entity, with the attacker's process on the
// source's side, denied where wantDenied says.
func checkAttackRecords(t *testing.T, flows []calicolog.FlowLog, l Label, wantDestTypes []string, wantDenied bool) {
	t.Helper()
	destTypes := map[string]bool{}
	denied, dstRecords := 0, 0
	if len(flows) == 0 {
		t.Fatal("no attack record")
	}
	for _, f := range flows {
		if f.SourceNamespace != l.Namespace || f.SourceNameAggr != l.Workload || f.SourceType != l.Type {
			t.Fatalf("attack record from %s/%s/%s, want the label's entity", f.SourceNamespace, f.SourceNameAggr, f.SourceType)
		}
		if err := f.Validate(); err != nil {
			t.Fatal(err)
		}
		destTypes[f.DestType] = true
		if f.Action == "deny" {
			denied++
		}
		if f.NumFlows != 1 || f.BytesIn+f.BytesOut > 400 || f.DestPort == nil || f.DestIP == nil {
			t.Errorf("attack record with num_flows %d, %d bytes, port %v, IP %v", f.NumFlows, f.BytesIn+f.BytesOut, f.DestPort, f.DestIP)
		}
		if f.SourceIP == nil || (f.SourceType == "wep") == (f.SourceName == "-") {
			t.Errorf("attacker logged as %s %s %v", f.SourceType, f.SourceName, f.SourceIP)
		}
		switch f.Reporter {
		case "src":
			if f.ProcessName != "/usr/bin/nmap" || len(f.ProcessArgs) == 0 || f.SourceType != "wep" {
				t.Errorf("source record of %s without its process: %s %v", f.SourceType, f.ProcessName, f.ProcessArgs)
			}
		case "dst":
			dstRecords++
			if f.Host == "" {
				t.Error("destination record without a host")
			}
		}
	}
	if wantDenied && denied <= dstRecords/2 {
		t.Errorf("%d of the destinations' %d attack records denied, want most", denied, dstRecords)
	}
	for _, d := range wantDestTypes {
		if !destTypes[d] {
			t.Errorf("no attack record to a %s destination (got %v)", d, destTypes)
		}
	}
}

func TestScenarioValidate(t *testing.T) {
	at := day0.Add(time.Hour)
	tests := []struct {
		name     string
		scenario Scenario
		wantErr  string
	}{
		{"a valid port scan", PortScan{At: at, Namespace: "shop", Workload: "frontend", TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 1, LastPort: 600}, ""},
		{"a valid outside port scan", PortScan{At: at, Namespace: Outside, TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 1, LastPort: 600}, ""},
		{"a port scan without a time", PortScan{Namespace: "shop", Workload: "frontend", TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 1, LastPort: 2}, "no time"},
		{"a port scan without a target", PortScan{At: at, Namespace: "shop", Workload: "frontend", FirstPort: 1, LastPort: 2}, "no target"},
		{"a port scan with reversed ports", PortScan{At: at, Namespace: "shop", Workload: "frontend", TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 600, LastPort: 1}, "port range"},
		{"a port scan past port 65535", PortScan{At: at, Namespace: "shop", Workload: "frontend", TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 1, LastPort: 70000}, "port range"},
		{"a port scan from a bad address", PortScan{At: at, Namespace: Outside, SourceIP: "not-an-ip", TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 1, LastPort: 2}, "source IP"},
		{"a valid IP sweep", IPSweep{At: at, Namespace: "shop", Workload: "cart", CIDR: "10.244.7.0/24", Port: 22}, ""},
		{"an IP sweep without an attacker", IPSweep{At: at, CIDR: "10.244.7.0/24", Port: 22}, "no attacker"},
		{"an IP sweep of a bad network", IPSweep{At: at, Namespace: "shop", Workload: "cart", CIDR: "10.244.7.0", Port: 22}, "CIDR"},
		{"an IP sweep of a huge network", IPSweep{At: at, Namespace: "shop", Workload: "cart", CIDR: "10.0.0.0/8", Port: 22}, "at most 65,536"},
		{"an IP sweep of an IPv6 network", IPSweep{At: at, Namespace: "shop", Workload: "cart", CIDR: "fd00::/120", Port: 22}, "IPv4"},
		{"an IP sweep without a port", IPSweep{At: at, Namespace: "shop", Workload: "cart", CIDR: "10.244.7.0/24"}, "port"},
		{"a slow port scan", PortScan{At: at, Duration: time.Hour, Namespace: "shop", Workload: "frontend", TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 1, LastPort: 600}, ""},
		{"a port scan of negative duration", PortScan{At: at, Duration: -time.Minute, Namespace: "shop", Workload: "frontend", TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 1, LastPort: 600}, "negative duration"},
		{"an IP sweep of negative duration", IPSweep{At: at, Duration: -time.Minute, Namespace: "shop", Workload: "cart", CIDR: "10.244.7.0/24", Port: 22}, "negative duration"},
		{"a port scan labelled from a negative count", PortScan{At: at, LabelFrom: -1, Namespace: "shop", Workload: "frontend", TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 1, LastPort: 6}, "LabelFrom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.scenario.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
	t.Run("New refuses an invalid scenario", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("New did not panic")
			}
		}()
		New(Options{}, IPSweep{At: at})
	})
}

func TestIPSweepHosts(t *testing.T) {
	tests := []struct {
		cidr        string
		n           int
		first, last string
	}{
		{"10.244.7.0/24", 254, "10.244.7.1", "10.244.7.254"},
		{"10.244.7.77/24", 254, "10.244.7.1", "10.244.7.254"},
		{"192.168.0.0/30", 2, "192.168.0.1", "192.168.0.2"},
		{"192.168.0.8/31", 2, "192.168.0.8", "192.168.0.9"},
		{"10.1.0.0/16", 65534, "10.1.0.1", "10.1.255.254"},
	}
	for _, tt := range tests {
		hosts := IPSweep{CIDR: tt.cidr}.Hosts()
		if len(hosts) != tt.n || hosts[0] != netip.MustParseAddr(tt.first) || hosts[len(hosts)-1] != netip.MustParseAddr(tt.last) {
			t.Errorf("%s: %d hosts %s..%s, want %d %s..%s", tt.cidr, len(hosts), hosts[0], hosts[len(hosts)-1], tt.n, tt.first, tt.last)
		}
	}
}

func TestDemoAttacks(t *testing.T) {
	start := day0.Add(10 * time.Hour)
	attacks := DemoAttacks(start, time.Hour, 24)
	if len(attacks) != 48 {
		t.Fatalf("%d scenarios, want 48", len(attacks))
	}
	c := New(Options{Seed: 1}, attacks...)
	var labels []Label
	for s := start; s.Before(start.Add(3 * time.Hour)); s = s.Add(c.Bucket()) {
		labels = append(labels, c.Truth(window(s, c.Bucket()))...)
	}
	want := []struct {
		at        time.Duration
		detector  string
		namespace string
		typ       string
	}{
		{10 * time.Minute, "port_scan", "shop", "wep"},
		{30 * time.Minute, "ip_sweep", "shop", "wep"},
		{70 * time.Minute, "port_scan", "-", "net"},
		{90 * time.Minute, "ip_sweep", "-", "net"},
		{130 * time.Minute, "port_scan", "shop", "wep"},
		{150 * time.Minute, "ip_sweep", "shop", "wep"},
	}
	if len(labels) != len(want) {
		t.Fatalf("labels %v, want %d", labels, len(want))
	}
	for i, w := range want {
		l := labels[i]
		if !l.Window.Contains(start.Add(w.at)) || l.Detectors[0] != w.detector || l.Namespace != w.namespace || l.Type != w.typ {
			t.Errorf("label %d = %+v, want %s by %s/%s at +%s", i, l, w.detector, w.namespace, w.typ, w.at)
		}
	}
}
