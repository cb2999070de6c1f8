package simulate

import (
	"time"
)

// DemoAttacks is the attacks `make run` plays: rounds rounds, one every
// every from start (1 hour if every is not positive). Each round holds a
// port scan (ports 1-600) a sixth of the way in and an IP sweep of a /24
// half way in, alternating between a compromised pod and an attacker on
// the internet.
func DemoAttacks(start time.Time, every time.Duration, rounds int) []Scenario {
	if every <= 0 {
		every = time.Hour
	}
	var out []Scenario
	for i := range rounds {
		t := start.Add(time.Duration(i) * every)
		scan := PortScan{
			At:        t.Add(every / 6),
			Namespace: "shop", Workload: "frontend",
			TargetNamespace: "payments", TargetWorkload: "postgres",
			FirstPort: 1, LastPort: 600,
		}
		sweep := IPSweep{
			At:        t.Add(every / 2),
			Namespace: "shop", Workload: "cart",
			CIDR: "10.244.1.0/24", Port: 6379,
		}
		if i%2 == 1 {
			scan.Namespace, scan.Workload = Outside, "scanner"
			scan.TargetNamespace, scan.TargetWorkload = "shop", "frontend"
			sweep.Namespace, sweep.Workload = Outside, "sweeper"
			sweep.CIDR, sweep.Port = "10.244.2.0/24", 22
		}
		out = append(out, scan, sweep)
	}
	return out
}
