package simulate

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// BytesBurst is a large transfer between one pod of a workload and an
// address outside the cluster, spread evenly over [At, At+Duration) and
// logged by the pod's Calico agent, bucket by bucket, as one long
// connection.
//
// Outbound (Inbound false) it is exfiltration: the pod sends Bytes to the
// address (MITRE T1041/T1048), which bytes_out, generic_flows and
// time_series_flows must find. Inbound it is an inbound spike: the address
// pushes Bytes into the pod's service port (tool staging, a payload
// upload), which bytes_in must find.
type BytesBurst struct {
	At       time.Time
	Duration time.Duration // one bucket when 0
	// Namespace and Workload name the pod's deployment (its first pod).
	Namespace, Workload string
	// PeerIP is the outside address (default: one in 203.0.113.0/24
	// derived from the seed).
	PeerIP  string
	Port    int // 443 when 0 (the pod's first service port when Inbound)
	Bytes   int64
	Inbound bool
	// Normal marks a burst that is part of the cluster's normal life (a
	// backup, a data load): it carries no labels.
	Normal bool
}

// Name is "exfiltration", "inbound_bytes_spike", or "normal_transfer" for a
// Normal burst.
func (s BytesBurst) Name() string {
	switch {
	case s.Normal:
		return "normal_transfer"
	case s.Inbound:
		return "inbound_bytes_spike"
	}
	return "exfiltration"
}

// Validate checks the burst has a time, a workload, a size and a valid
// peer address.
func (s BytesBurst) Validate() error {
	switch {
	case s.At.IsZero():
		return errors.New("no time (At)")
	case s.Duration < 0:
		return fmt.Errorf("negative duration %s", s.Duration)
	case s.Namespace == "" || s.Namespace == Outside || s.Workload == "":
		return errors.New("no workload (Namespace, Workload)")
	case s.Bytes <= 0:
		return fmt.Errorf("bytes %d must be positive", s.Bytes)
	case s.PeerIP != "" && !validAddr(s.PeerIP):
		return fmt.Errorf("peer IP %q is not an IPv4 address", s.PeerIP)
	case s.Port < 0 || s.Port > 65535:
		return fmt.Errorf("port %d is not within 1-65535", s.Port)
	}
	return nil
}

// Apply adds the burst's share of bytes that falls in w.
func (s BytesBurst) Apply(c *Cluster, w source.Window, b *Batch) {
	d := s.Duration
	if d <= 0 {
		d = c.Bucket()
	}
	from, to := s.At, s.At.Add(d)
	if !from.Before(w.End) || !to.After(w.Start) {
		return
	}
	overlap := minTime(to, w.End).Sub(maxTime(from, w.Start))
	share := int64(float64(s.Bytes) * float64(overlap) / float64(d))
	if share <= 0 {
		return
	}
	r := c.Rand(w.Start, fmt.Sprintf("%s|%d|%s/%s|%s", s.Name(), s.At.UnixNano(), s.Namespace, s.Workload, s.PeerIP))
	pod := PodEndpoint(c.podOf(s.Namespace, s.Workload))
	ip := s.PeerIP
	if ip == "" {
		h := fnv.New32a()
		h.Write([]byte(s.Namespace + "/" + s.Workload))
		ip = netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + (uint32(c.opts.Seed)^h.Sum32())%250)}).String()
	}
	peer := NetworkEndpoint(ip, "")
	packetsOf := func(n int64) int64 { return max(1, n/1400) }
	small := int64(40 + r.IntN(2000)) // acknowledgements, a request line
	f := Flow{Proto: "tcp", Action: "allow", Flows: 1}
	if from.After(w.Start) || from.Equal(w.Start) {
		f.Started = 1
	}
	if !to.After(w.End) {
		f.Completed = 1
	}
	reporter := "src"
	if s.Inbound {
		port := s.Port
		var svcPort Port
		if pod.Workload != nil && len(pod.Workload.Ports) > 0 && port == 0 {
			svcPort = pod.Workload.Ports[0]
			port = svcPort.Number
		}
		f.Src, f.Dst, f.DstPort, f.SrcPort = peer, pod, port, 30000+r.IntN(30000)
		f.ReqBytes, f.RespBytes = share, small
		f.DstPolicy = "default|" + s.Namespace + "/default.allow-internet"
		reporter = "dst"
	} else {
		port := s.Port
		if port == 0 {
			port = 443
		}
		f.Src, f.Dst, f.DstPort, f.SrcPort = pod, peer, port, 32768+r.IntN(28232)
		f.ReqBytes, f.RespBytes = share, small
		f.SrcPolicy = "default|" + s.Namespace + "/default." + s.Workload + "-egress"
	}
	f.ReqPackets, f.RespPackets = packetsOf(f.ReqBytes), packetsOf(f.RespBytes)
	end := c.FlushTime(w, pod.Node, r)
	b.Flows = append(b.Flows, f.Record(reporter, c.IntervalStart(end, r), end))
	if s.Normal {
		return
	}
	l := Label{Scenario: s.Name(), Cluster: c.opts.Cluster, Namespace: pod.Namespace, Workload: pod.NameAggr, Type: pod.Type, Window: w}
	if s.Inbound {
		l.Detectors = []string{"bytes_in"}
		b.Truth = append(b.Truth, l)
		return
	}
	l.Detectors = []string{"bytes_out", "generic_flows"}
	ns := l
	ns.Detectors, ns.Workload, ns.Type = []string{"time_series_flows"}, "*", NamespaceType
	b.Truth = append(b.Truth, l, ns)
}

// NamespaceType is the entity type of labels (and verdicts) about a
// namespace as a whole, with Workload "*": time_series_* judge namespaces.
const NamespaceType = "namespace"

// DailyTransfer is a normal burst repeated every day at the same time: a
// nightly backup sent out, a morning data load coming in. Detectors must
// learn it, not flag it.
func DailyTransfer(start time.Time, days int, at time.Duration, burst BytesBurst) []Scenario {
	day := start.UTC().Truncate(24 * time.Hour)
	out := make([]Scenario, 0, days)
	for i := range days {
		b := burst
		b.At, b.Normal = day.Add(time.Duration(i)*24*time.Hour+at), true
		out = append(out, b)
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func init() {
	RegisterScenario(ScenarioSpec{
		Name: "exfiltration", Detectors: []string{"bytes_out", "generic_flows", "time_series_flows"},
		Help: "the payments database pod sends 3 GB to an address on the internet over 10 minutes",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{BytesBurst{At: source.Align(start.Add(span/2), c.Bucket()), Duration: 2 * c.Bucket(),
				Namespace: "payments", Workload: "postgres", Bytes: 3 << 30}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "inbound_bytes_spike", Detectors: []string{"bytes_in"},
		Help: "an address on the internet pushes 2 GB into a frontend pod within one window",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{BytesBurst{At: source.Align(start.Add(span/3), c.Bucket()),
				Namespace: "shop", Workload: "frontend", Bytes: 2 << 30, Inbound: true}}
		},
	})
}
