package simulate

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Scenario is an attack played in the simulated cluster.
type Scenario interface {
	// Name identifies the kind of attack, e.g. "port_scan".
	Name() string
	// Validate reports a scenario that cannot be played.
	Validate() error
	// Apply adds the attack's records that end in bucket w to b, with the
	// labels of what must be detected. It is called for every bucket, and
	// must depend only on the cluster, w and the scenario.
	Apply(c *Cluster, w source.Window, b *Batch)
}

// Label is ground truth: detectors that must fire for an entity (source
// namespace, source name_aggr and endpoint type, as detectors key them) in
// a window (the bucket that holds the attack's records). A label with no
// detector marks an entity under attack that no detector must find yet
// (the first windows of a slow scan): finding it there is no false alarm.
type Label struct {
	Scenario  string
	Detectors []string
	Cluster   string
	Namespace string
	Workload  string
	Type      string
	Window    source.Window
}

// Outside is the Namespace of a scenario's attacker outside the cluster.
const Outside = calicolog.Aggregated

// attacker is who runs an attack: a pod of a workload of the cluster
// (made up if the workload does not exist, as a rogue pod would be), or an
// address outside the cluster when namespace is Outside.
func (c *Cluster) attacker(namespace, workload, ip string) Endpoint {
	if namespace == Outside {
		if ip == "" {
			h := fnv.New32a()
			h.Write([]byte(workload))
			ip = netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + (uint32(c.opts.Seed)^h.Sum32())%250)}).String()
		}
		return NetworkEndpoint(ip, "")
	}
	return PodEndpoint(c.podOf(namespace, workload))
}

// podOf returns the first pod of namespace/workload, or a made-up pod of
// that name when the workload does not exist: its ReplicaSet hash and
// address derive from the seed and the name.
func (c *Cluster) podOf(namespace, workload string) *Pod {
	if w := c.Workload(namespace, workload); w != nil {
		return w.Pods[0]
	}
	r := c.Rand(time.Unix(0, 0), "rogue|"+namespace+"/"+workload)
	w := &Workload{Namespace: namespace, Name: workload, ReplicaSet: workload + "-" + randomName(r, 10), Process: "/bin/sh"}
	w.Service = w.Name
	n := c.nodes[r.IntN(len(c.nodes))]
	a := n.PodCIDR.Addr().As4()
	a[3] = byte(200 + r.IntN(50))
	p := &Pod{Name: w.ReplicaSet + "-" + randomName(r, 5), IP: netip.AddrFrom4(a).String(), Node: n, PID: 1 + r.IntN(30000), Workload: w}
	w.Pods = []*Pod{p}
	return p
}

func (c *Cluster) label(s Scenario, detector string, src Endpoint, w source.Window) Label {
	return Label{
		Scenario: s.Name(), Detectors: []string{detector}, Cluster: c.opts.Cluster,
		Namespace: src.Namespace, Workload: src.NameAggr, Type: src.Type, Window: w,
	}
}

// probe is one connection attempt of a scan from src to dst:port. It
// returns the records Calico logs for it: the source's (when the source is
// a pod) and the destination's (when the destination is a pod, or when
// gateway is set: the node whose host endpoint policy denies traffic to
// addresses that are not pods).
func (c *Cluster) probe(b source.Window, at time.Time, r *rand.Rand, src, dst Endpoint, port int, gateway *Node, out *Batch) {
	open := false
	var svc *Workload
	var svcPort Port
	if dst.Workload != nil {
		svcPort, open = dst.Workload.Port(port)
		if open {
			svc = dst.Workload
		}
	}
	tries := int64(1 + r.IntN(2)) // SYN, sometimes retransmitted
	f := Flow{
		Src: src, Dst: dst, DstPort: port, Proto: "tcp", Action: "allow", Service: svc, ServicePort: svcPort,
		Flows: 1, Started: 1, Completed: 1,
		ReqBytes: 60 * tries, ReqPackets: tries,
	}
	if open {
		f.ReqBytes, f.ReqPackets = 180, 3 // handshake, then RST
		f.RespBytes, f.RespPackets = 120, 2
	} else if dst.Workload != nil {
		f.RespBytes, f.RespPackets = 40, 1 // RST from a closed port
	}
	if src.Workload != nil {
		f.SrcPolicy = "default|" + src.Namespace + "/default." + src.Workload.Name + "-egress"
		if c.Workload(src.Namespace, src.Workload.Name) == nil {
			f.SrcPolicy = "default|default.allow-all" // a rogue pod no policy selects
		}
		end := c.FlushAfter(b, src.Node, at, r)
		out.Flows = append(out.Flows, f.Record("src", c.IntervalStart(end, r), end))
	}
	node := dst.Node
	if dst.Workload != nil {
		if !open {
			f.Action = "deny" // the target's ingress policy drops it
			f.RespBytes, f.RespPackets = 0, 0
		}
		f.DstPolicy = "default|" + dst.Namespace + "/default." + dst.Workload.Name + "-ingress"
		if !open {
			f.DstPolicy = "security|security.default-deny"
		}
	} else if gateway != nil && src.Workload == nil {
		node = gateway
		f.Action, f.DstPolicy = "deny", "security|security.deny-external"
		f.RespBytes, f.RespPackets = 0, 0
	} else {
		return
	}
	end := c.FlushAfter(b, node, at, r)
	rec := f.Record("dst", c.IntervalStart(end, r), end)
	rec.Host = node.Name
	out.Flows = append(out.Flows, rec)
}

// PortScan is one source probing every port in [FirstPort, LastPort] of one
// pod, like `nmap -Pn -r -p 1-600`. Calico logs one record per port and
// reporter (it cannot aggregate them away); most are denied. With a
// Duration the probes are paced evenly over [At, At+Duration), like
// `nmap --scan-delay`: a slow scan, labelled in every bucket it probes in.
type PortScan struct {
	At time.Time
	// Duration spreads the probes; 0 sends them all at At.
	Duration time.Duration
	// LabelFrom is how many probes the scan must have sent since At before
	// its labels name port_scan: earlier windows of a slow scan are
	// labelled with no detector (the source is under attack, but a few
	// ports are not yet a scan). 0 names it in every window.
	LabelFrom int
	// Namespace and Workload name the attacker: a deployment of the
	// cluster (a compromised pod; a made-up one if it does not exist), or
	// Namespace Outside for an address on the internet.
	Namespace, Workload string
	// SourceIP is the outside attacker's address (default: one in
	// 192.0.2.0/24 derived from the seed).
	SourceIP string
	// TargetNamespace and TargetWorkload name the deployment whose first
	// pod is scanned.
	TargetNamespace, TargetWorkload string
	FirstPort, LastPort             int
}

// Name is "port_scan".
func (PortScan) Name() string { return "port_scan" }

// Validate checks the scan has a time, an attacker, a target and a port range.
func (p PortScan) Validate() error {
	switch {
	case p.At.IsZero():
		return errors.New("no time (At)")
	case p.Namespace == "" || (p.Workload == "" && p.Namespace != Outside):
		return errors.New("no attacker (Namespace, Workload)")
	case p.TargetNamespace == "" || p.TargetNamespace == Outside || p.TargetWorkload == "":
		return errors.New("no target (TargetNamespace, TargetWorkload)")
	case p.FirstPort < 1 || p.LastPort > 65535 || p.FirstPort > p.LastPort:
		return fmt.Errorf("port range %d-%d is not within 1-65535", p.FirstPort, p.LastPort)
	case p.Duration < 0:
		return fmt.Errorf("negative duration %s", p.Duration)
	case p.LabelFrom < 0:
		return fmt.Errorf("negative LabelFrom %d", p.LabelFrom)
	case p.SourceIP != "" && !validAddr(p.SourceIP):
		return fmt.Errorf("source IP %q is not an IPv4 address", p.SourceIP)
	}
	return nil
}

func validAddr(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

// paced returns, for n probes paced evenly over [at, at+d) (all at at when
// d is 0), the first and last probe that fall in w and the time of probe
// i; ok is false when none does.
func paced(at time.Time, d time.Duration, n int, w source.Window) (first, last int, when func(i int) time.Time, ok bool) {
	when = func(i int) time.Time { return at.Add(time.Duration(int64(d) * int64(i) / int64(n))) }
	if d <= 0 {
		return 0, n - 1, when, w.Contains(at)
	}
	first, last = -1, -1
	for i := range n {
		if w.Contains(when(i)) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last, when, first >= 0
}

// Apply adds the scan's records of the probes w holds.
func (p PortScan) Apply(c *Cluster, w source.Window, b *Batch) {
	n := p.LastPort - p.FirstPort + 1
	first, last, when, ok := paced(p.At, p.Duration, n, w)
	if !ok {
		return
	}
	stream := fmt.Sprintf("port_scan|%d|%s/%s|%s/%s|%d-%d", p.At.UnixNano(), p.Namespace, p.Workload, p.TargetNamespace, p.TargetWorkload, p.FirstPort, p.LastPort)
	if p.Duration > 0 {
		stream += "|" + p.Duration.String()
	}
	r := c.Rand(w.Start, stream)
	src := c.attacker(p.Namespace, p.Workload, p.SourceIP)
	dst := PodEndpoint(c.podOf(p.TargetNamespace, p.TargetWorkload))
	if src.Workload != nil {
		src.Process, src.PID = "/usr/bin/nmap", 1000+r.IntN(30000)
		src.Args = []string{"-Pn", "-r", "-p", strconv.Itoa(p.FirstPort) + "-" + strconv.Itoa(p.LastPort), dst.IP}
	}
	for i := first; i <= last; i++ {
		c.probe(w, when(i), r, src, dst, p.FirstPort+i, nil, b)
	}
	b.Truth = append(b.Truth, labelFrom(c.label(p, "port_scan", src, w), last+1, p.LabelFrom))
}

// labelFrom drops the detectors of l until the probes sent reach from: the
// source is under attack, but not yet by enough to be found.
func labelFrom(l Label, sent, from int) Label {
	if sent < from {
		l.Detectors = nil
	}
	return l
}

// IPSweep is one source probing one port on every address of a network,
// like `nmap -Pn -p 22 10.244.7.0/24`. Addresses of pods are logged with the
// pod as destination; others as network pvt or pub. An attack from Outside
// is logged by the destination pods, and, for addresses without a pod, by
// the host endpoint policy of the node that routes the network.
//
// With a Duration the probes are paced evenly over [At, At+Duration): a
// slow sweep, labelled in every bucket it probes in.
type IPSweep struct {
	At time.Time
	// Duration spreads the probes; 0 sends them all at At.
	Duration time.Duration
	// LabelFrom is how many addresses the sweep must have probed since At
	// before its labels name ip_sweep (see PortScan.LabelFrom).
	LabelFrom           int
	Namespace, Workload string
	SourceIP            string
	CIDR                string // an IPv4 network of at most 65,536 addresses
	Port                int
}

// Name is "ip_sweep".
func (IPSweep) Name() string { return "ip_sweep" }

// Validate checks the sweep has a time, an attacker, a network and a port.
func (s IPSweep) Validate() error {
	p, err := netip.ParsePrefix(s.CIDR)
	switch {
	case s.At.IsZero():
		return errors.New("no time (At)")
	case s.Namespace == "" || (s.Workload == "" && s.Namespace != Outside):
		return errors.New("no attacker (Namespace, Workload)")
	case err != nil:
		return fmt.Errorf("CIDR: %w", err)
	case !p.Addr().Is4() || p.Bits() < 16:
		return fmt.Errorf("CIDR %s is not an IPv4 network of at most 65,536 addresses", s.CIDR)
	case s.Port < 1 || s.Port > 65535:
		return fmt.Errorf("port %d is not within 1-65535", s.Port)
	case s.SourceIP != "" && !validAddr(s.SourceIP):
		return fmt.Errorf("source IP %q is not an IPv4 address", s.SourceIP)
	case s.Duration < 0:
		return fmt.Errorf("negative duration %s", s.Duration)
	case s.LabelFrom < 0:
		return fmt.Errorf("negative LabelFrom %d", s.LabelFrom)
	}
	return nil
}

// Hosts lists the addresses the sweep probes: every address of the network
// but its network and broadcast addresses (for networks larger than /31).
func (s IPSweep) Hosts() []netip.Addr {
	p, err := netip.ParsePrefix(s.CIDR)
	if err != nil || !p.Addr().Is4() {
		return nil
	}
	p = p.Masked()
	var out []netip.Addr
	for a := p.Addr(); p.Contains(a); a = a.Next() {
		out = append(out, a)
	}
	if p.Bits() < 31 {
		out = out[1 : len(out)-1]
	}
	return out
}

// Apply adds the sweep's records of the probes w holds.
func (s IPSweep) Apply(c *Cluster, w source.Window, b *Batch) {
	hosts := s.Hosts()
	first, last, when, ok := paced(s.At, s.Duration, len(hosts), w)
	if !ok {
		return
	}
	stream := fmt.Sprintf("ip_sweep|%d|%s/%s|%s|%d", s.At.UnixNano(), s.Namespace, s.Workload, s.CIDR, s.Port)
	if s.Duration > 0 {
		stream += "|" + s.Duration.String()
	}
	r := c.Rand(w.Start, stream)
	src := c.attacker(s.Namespace, s.Workload, s.SourceIP)
	if src.Workload != nil {
		src.Process, src.PID = "/usr/bin/nmap", 1000+r.IntN(30000)
		src.Args = []string{"-Pn", "-p", strconv.Itoa(s.Port), s.CIDR}
	}
	gateway := c.nodes[0]
	if len(hosts) > 0 {
		for _, n := range c.nodes {
			if n.PodCIDR.Contains(hosts[0]) {
				gateway = n
			}
		}
	}
	for i := first; i <= last; i++ {
		a := hosts[i]
		if a.String() == src.IP {
			continue // a pod's traffic to itself never leaves it
		}
		dst := NetworkEndpoint(a.String(), "")
		if pod := c.PodAt(a); pod != nil {
			dst = PodEndpoint(pod)
		}
		c.probe(w, when(i), r, src, dst, s.Port, gateway, b)
	}
	b.Truth = append(b.Truth, labelFrom(c.label(s, "ip_sweep", src, w), last+1, s.LabelFrom))
}
