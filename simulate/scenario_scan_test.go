package simulate

import (
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// A paced scan spreads its probes over the buckets of its duration, labels
// each of them, stays under the per-window thresholds in every one, and
// reaches every port or address in total.
func TestSlowScansArePacedUnderThePerWindowThresholds(t *testing.T) {
	at := day0.Add(10*time.Hour + 2*time.Minute)
	tests := []struct {
		name      string
		scenario  Scenario
		entity    func(c *Cluster) entity
		ports     bool // count ports (else addresses)
		total     int  // distinct values over the whole scan
		perWindow int  // the most any window may hold, the source's normal traffic included
	}{
		{
			name:     "ports 1-1200 over an hour",
			scenario: PortScan{At: at, Duration: time.Hour, LabelFrom: 500, Namespace: "shop", Workload: "checkout", TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 1200},
			entity:   func(c *Cluster) entity { return entity{"shop", c.Workload("shop", "checkout").NameAggr(), "wep"} },
			ports:    true, total: 1200, perWindow: 499,
		},
		{
			name:     "a /24 over an hour",
			scenario: IPSweep{At: at, Duration: time.Hour, LabelFrom: 64, Namespace: "payments", Workload: "ledger", CIDR: "10.244.2.0/24", Port: 5432},
			entity:   func(c *Cluster) entity { return entity{"payments", c.Workload("payments", "ledger").NameAggr(), "wep"} },
			total:    253, perWindow: ipSweepThreshold - 1,
		},
		{
			name:     "a /24 from the internet over an hour",
			scenario: IPSweep{At: at, Duration: time.Hour, Namespace: Outside, Workload: "sweeper", SourceIP: "203.0.113.99", CIDR: "10.244.3.0/24", Port: 22},
			entity:   func(c *Cluster) entity { return entity{"-", "pub", "net"} },
			total:    254, perWindow: ipSweepThreshold - 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{Seed: 5}, tt.scenario)
			e := tt.entity(c)
			seen := map[string]bool{}
			labelled, named := 0, 0
			labelFrom := 0
			switch sc := tt.scenario.(type) {
			case PortScan:
				labelFrom = sc.LabelFrom
			case IPSweep:
				labelFrom = sc.LabelFrom
			}
			for s := at.Add(-30 * time.Minute).Truncate(c.Bucket()); s.Before(at.Add(90 * time.Minute)); s = s.Add(c.Bucket()) {
				w := window(s, c.Bucket())
				batch := c.Window(w)
				inWindow := map[string]bool{}
				for _, f := range batch.Flows {
					if (entity{f.SourceNamespace, f.SourceNameAggr, f.SourceType}) != e {
						continue
					}
					if f.SourceType == calicolog.TypeNetwork && (f.SourceIP == nil || *f.SourceIP != "203.0.113.99") {
						continue // the internet's usual clients
					}
					v := "0.0.0.0"
					if tt.ports && f.DestPort != nil {
						v = string(rune(*f.DestPort)) // any distinct key
					} else if !tt.ports && f.DestIP != nil {
						v = *f.DestIP
					}
					inWindow[v], seen[v] = true, true
				}
				if len(inWindow) > tt.perWindow {
					t.Errorf("%s: %d values in one window, want at most %d", w, len(inWindow), tt.perWindow)
				}
				probing := w.End.After(at) && w.Start.Before(at.Add(time.Hour))
				if probing {
					labelled += len(batch.Truth)
					if len(batch.Truth) != 1 || batch.Truth[0].Window != w || batch.Truth[0].Workload != e.workload {
						t.Fatalf("%s: labels %+v, want one for %s", w, batch.Truth, e)
					}
					// The detector is named once the scan has probed
					// LabelFrom values (the source's few usual ones aside).
					hasDetector := len(batch.Truth[0].Detectors) > 0
					if hasDetector {
						named++
					}
					if hasDetector && len(seen) < labelFrom || !hasDetector && len(seen) >= labelFrom+10 {
						t.Errorf("%s: detectors %v after %d values, want them from %d on", w, batch.Truth[0].Detectors, len(seen), labelFrom)
					}
				} else if len(batch.Truth) > 0 {
					t.Errorf("%s: labels %+v outside the scan", w, batch.Truth)
				}
			}
			if len(seen) < tt.total {
				t.Errorf("%d distinct values over the scan, want %d", len(seen), tt.total)
			}
			if labelled != 13 {
				t.Errorf("%d labelled windows, want 13 (an hour from %s)", labelled, at.Format("15:04"))
			}
			t.Logf("%d windows under attack, %d of them naming the detector", labelled, named)
			if named == 0 {
				t.Error("no window names the detector")
			}
		})
	}
}

// The prober reaches every other pod in every window, more than Calico's
// ip_sweep threshold, and adds nothing else: the other workloads keep
// their pods and addresses.
func TestProberReachesEveryPod(t *testing.T) {
	plain, probed := New(Options{Seed: 9}), New(Options{Seed: 9, Prober: true})
	p := probed.Workload(ProberNamespace, ProberWorkload)
	if p == nil || plain.Workload(ProberNamespace, ProberWorkload) != nil {
		t.Fatal("the prober exists without Options.Prober, or not with it")
	}
	pods := 0
	for i, w := range plain.Workloads() {
		o := probed.Workloads()[i]
		if w.NameAggr() != o.NameAggr() || len(w.Pods) != len(o.Pods) || w.Pods[0].IP != o.Pods[0].IP {
			t.Errorf("workload %s changed with the prober: %s %s, was %s %s", w.Name, o.NameAggr(), o.Pods[0].IP, w.NameAggr(), w.Pods[0].IP)
		}
		pods += len(w.Pods)
	}
	for h := range 24 {
		w := window(day0.Add(time.Duration(h)*time.Hour), probed.Bucket())
		d := distinctBySource(probed.Window(w).Flows)[entity{ProberNamespace, p.NameAggr(), "wep"}]
		// Every pod, and the null address of its DNS flows (aggregated) when it resolved names.
		if d.ips < pods || d.ips > pods+1 || d.ips <= ipSweepThreshold {
			t.Fatalf("%s: the prober reached %d addresses, want every pod (%d), more than %d", w, d.ips, pods, ipSweepThreshold)
		}
		if h == 0 {
			t.Logf("the prober reaches %d addresses and %d ports a window", d.ips, d.ports)
		}
	}
}
