package simulate

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// CrashLoop is the main process of one pod of a workload crashing and
// being restarted by the kubelet with CrashLoopBackOff over [At,
// At+Duration): restarts after 10 s, 20 s, 40 s, … capped at 5 minutes,
// each incarnation with a new process id resolving its dependencies at
// start (a flow to CoreDNS its agent logs with that id). A crash loop is
// how a bad payload, a resource-exhaustion attack or a broken rollout
// shows; process_restarts must find it in every window where the pod
// restarted and its restarts over the last 12 windows reach 4 (Calico's
// default AD_PROCESS_RESTARTS_MIN_RESTARTS; the labels assume it).
//
// Aggregated logs it as Calico does at its default aggregation of allowed
// flows (pod names aggregated per node): one record per window for the
// pods of the workload on the crashing pod's node, process_id "*" and
// num_process_ids counting those pods' processes and the window's
// incarnations. Ids cannot be followed across windows then, so only
// windows with 4 incarnations or more are labelled.
type CrashLoop struct {
	At                  time.Time
	Duration            time.Duration // 30 minutes when 0
	Namespace, Workload string
	Aggregated          bool
}

// Name is "crash_loop".
func (CrashLoop) Name() string { return "crash_loop" }

// Validate checks the crash loop has a time and a workload of the cluster.
func (s CrashLoop) Validate() error {
	switch {
	case s.At.IsZero():
		return errors.New("no time (At)")
	case s.Duration < 0:
		return fmt.Errorf("negative duration %s", s.Duration)
	case s.Namespace == "" || s.Namespace == Outside || s.Workload == "":
		return errors.New("no workload (Namespace, Workload)")
	}
	return nil
}

// starts are the times each incarnation starts.
func (s CrashLoop) starts() []time.Time {
	d := s.Duration
	if d <= 0 {
		d = 30 * time.Minute
	}
	var out []time.Time
	backoff := 10 * time.Second
	for t := s.At; t.Before(s.At.Add(d)); {
		out = append(out, t)
		t = t.Add(backoff + 5*time.Second) // the back-off, then a few seconds of life
		backoff = min(2*backoff, 5*time.Minute)
	}
	return out
}

// crashLoopSpanWindows and crashLoopMinRestarts are the detector's
// defaults the labels assume.
const (
	crashLoopSpanWindows = 12
	crashLoopMinRestarts = 4
)

// Apply adds the records of the incarnations that start in w.
func (s CrashLoop) Apply(c *Cluster, w source.Window, b *Batch) {
	starts := s.starts()
	inWindow, inSpan := 0, 0
	spanStart := w.End.Add(-crashLoopSpanWindows * c.Bucket())
	for _, t := range starts {
		if w.Contains(t) {
			inWindow++
		}
		if !t.Before(spanStart) && t.Before(w.End) {
			inSpan++
		}
	}
	if inWindow == 0 {
		return
	}
	r := c.Rand(w.Start, fmt.Sprintf("crash_loop|%d|%s/%s", s.At.UnixNano(), s.Namespace, s.Workload))
	pod := c.podOf(s.Namespace, s.Workload)
	if s.Aggregated {
		s.applyAggregated(c, w, pod, inWindow, b)
		return
	}
	for i, t := range starts {
		if !w.Contains(t) {
			continue
		}
		src := PodEndpoint(pod)
		src.PID = pod.PID + 7*(i+1)
		dst := NetworkEndpoint("10.96.0.10", calicolog.NamePrivate)
		if c.coredns != nil {
			dst = PodEndpoint(c.coredns.Pods[i%len(c.coredns.Pods)])
		}
		f := Flow{Src: src, Dst: dst, DstPort: 53, Proto: "udp", Action: "allow", Service: c.coredns,
			Flows: 1, Started: 1, Completed: 1, ReqBytes: int64(70 + r.IntN(40)), RespBytes: int64(120 + r.IntN(80)),
			SrcPolicy: "platform|platform.allow-dns"}
		if c.coredns != nil {
			f.ServicePort, _ = c.coredns.portNamed("dns")
		}
		f.ReqPackets, f.RespPackets = 1, 1
		end := c.FlushAfter(w, pod.Node, t, r)
		b.Flows = append(b.Flows, f.Record("src", c.IntervalStart(end, r), end))
	}
	if inSpan >= crashLoopMinRestarts {
		p := PodEndpoint(pod)
		b.Truth = append(b.Truth, Label{Scenario: s.Name(), Detectors: []string{"process_restarts"}, Cluster: c.opts.Cluster,
			Namespace: p.Namespace, Workload: p.NameAggr, Type: p.Type, Window: w})
	}
}

// applyAggregated logs the window's incarnations in one record of the
// pods of pod's workload on its node, names aggregated.
func (s CrashLoop) applyAggregated(c *Cluster, w source.Window, pod *Pod, incarnations int, b *Batch) {
	r := c.Rand(w.Start, fmt.Sprintf("crash_loop_aggregated|%d|%s/%s", s.At.UnixNano(), s.Namespace, s.Workload))
	onNode := 0
	for _, p := range pod.Workload.Pods {
		if p.Node == pod.Node {
			onNode++
		}
	}
	src := aggregatedEndpoint(pod.Workload, pod.Node, onNode+incarnations)
	dst := NetworkEndpoint("10.96.0.10", calicolog.NamePrivate)
	var port Port
	if c.coredns != nil {
		dst = aggregatedEndpoint(c.coredns, nil, len(c.coredns.Pods))
		port, _ = c.coredns.portNamed("dns")
	}
	n := int64(incarnations)
	f := dnsFlow(src, dst, port, n, r)
	if c.coredns == nil {
		f.Service = nil
	}
	f.Src.Process = pod.Workload.Process
	end := c.FlushTime(w, pod.Node, r)
	b.Flows = append(b.Flows, f.Record("src", c.IntervalStart(end, r), end))
	if incarnations >= crashLoopMinRestarts {
		b.Truth = append(b.Truth, Label{Scenario: s.Name(), Detectors: []string{"process_restarts"}, Cluster: c.opts.Cluster,
			Namespace: src.Namespace, Workload: src.NameAggr, Type: src.Type, Window: w})
	}
}

// ProcessRecycling is normal life for servers that recycle their worker
// processes (gunicorn's max_requests, php-fpm's pm.max_requests): in
// every pod of a workload, the process is replaced by a new one with a new
// process id every Every, around the clock, each making its connections
// (a DNS lookup, logged with its id). It carries no labels:
// process_restarts must learn it, not flag it.
type ProcessRecycling struct {
	Namespace, Workload string
	Every               time.Duration // 10 minutes when 0
}

// Name is "process_recycling".
func (ProcessRecycling) Name() string { return "process_recycling" }

// Validate checks the recycling names a workload and a positive period.
func (s ProcessRecycling) Validate() error {
	switch {
	case s.Namespace == "" || s.Namespace == Outside || s.Workload == "":
		return errors.New("no workload (Namespace, Workload)")
	case s.Every < 0:
		return fmt.Errorf("negative period %s", s.Every)
	}
	return nil
}

// Apply adds, for each pod, a record of each worker process alive in w.
func (s ProcessRecycling) Apply(c *Cluster, w source.Window, b *Batch) {
	wl := c.Workload(s.Namespace, s.Workload)
	if wl == nil || c.coredns == nil {
		return
	}
	every := s.Every
	if every <= 0 {
		every = 10 * time.Minute
	}
	r := c.Rand(w.Start, "process_recycling|"+s.Namespace+"/"+s.Workload)
	port, _ := c.coredns.portNamed("dns")
	for i, pod := range wl.Pods {
		// Each pod recycles at its own phase.
		phase := time.Duration(pod.PID%600) * time.Second
		first := int64(w.Start.Add(-phase).Sub(time.Unix(0, 0)) / every)
		last := int64(w.End.Add(-phase-time.Nanosecond).Sub(time.Unix(0, 0)) / every)
		for k := first; k <= last; k++ {
			src := PodEndpoint(pod)
			src.PID = 100000 + int((int64(pod.PID)*7919+k)%800000)
			dst := PodEndpoint(c.coredns.Pods[(i+int(k))%len(c.coredns.Pods)])
			f := Flow{Src: src, Dst: dst, DstPort: port.Number, Proto: port.Proto, Service: c.coredns, ServicePort: port, Action: "allow",
				Flows: 1, Started: 1, Completed: 1, ReqBytes: int64(70 + r.IntN(40)), RespBytes: int64(120 + r.IntN(80)),
				ReqPackets: 1, RespPackets: 1, SrcPolicy: "platform|platform.allow-dns"}
			end := c.FlushTime(w, pod.Node, r)
			b.Flows = append(b.Flows, f.Record("src", c.IntervalStart(end, r), end))
		}
	}
}

// ProcessTransfer is a process of one pod of a workload moving Bytes to
// an address outside the cluster over [At, At+Duration): the workload's
// own main process when Process is empty, or another program started in
// the pod (a shell's curl, a miner). process_bytes must find it.
type ProcessTransfer struct {
	At                  time.Time
	Duration            time.Duration // one bucket when 0
	Namespace, Workload string
	Process             string // the pod's main process when empty
	PeerIP              string // one in 203.0.113.0/24 from the seed when empty
	Bytes               int64
}

// Name is "process_transfer".
func (ProcessTransfer) Name() string { return "process_transfer" }

// Validate checks the transfer has a time, a workload and a size.
func (s ProcessTransfer) Validate() error {
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
	}
	return nil
}

// Apply adds the transfer's share of bytes that falls in w.
func (s ProcessTransfer) Apply(c *Cluster, w source.Window, b *Batch) {
	n := burstShare(c, s.At, s.Duration, s.Bytes, w)
	if n <= 0 {
		return
	}
	r := c.Rand(w.Start, fmt.Sprintf("process_transfer|%d|%s/%s|%s", s.At.UnixNano(), s.Namespace, s.Workload, s.Process))
	pod := c.podOf(s.Namespace, s.Workload)
	src := PodEndpoint(pod)
	if s.Process != "" {
		src.Process, src.PID = s.Process, pod.PID+4000+r.IntN(1000)
		src.Args = []string{"-s", "-T", "-"}
	}
	ip := s.PeerIP
	if ip == "" {
		h := fnv.New32a()
		h.Write([]byte("process|" + s.Namespace + "/" + s.Workload))
		ip = netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + (uint32(c.opts.Seed)^h.Sum32())%250)}).String()
	}
	f := Flow{Src: src, Dst: NetworkEndpoint(ip, ""), DstPort: 443, SrcPort: 32768 + r.IntN(28232), Proto: "tcp", Action: "allow",
		Flows: 1, Started: 1, Completed: 1, ReqBytes: n, RespBytes: int64(2000 + r.IntN(5000)),
		SrcPolicy: "default|" + s.Namespace + "/default." + s.Workload + "-egress"}
	f.ReqPackets, f.RespPackets = packets(f.ReqBytes, 1), packets(f.RespBytes, 1)
	end := c.FlushTime(w, pod.Node, r)
	b.Flows = append(b.Flows, f.Record("src", c.IntervalStart(end, r), end))
	b.Truth = append(b.Truth, Label{Scenario: s.Name(), Detectors: []string{"process_bytes"}, Cluster: c.opts.Cluster,
		Namespace: src.Namespace, Workload: src.NameAggr, Type: src.Type, Window: w})
}

func init() {
	RegisterScenario(ScenarioSpec{
		Name: "crash_loop", Detectors: []string{"process_restarts"},
		Help: "the checkout pod's process crash-loops for 30 minutes, restarted with back-off, each time with a new process id",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{CrashLoop{At: source.Align(start.Add(span/4), c.Bucket()).Add(20 * time.Second),
				Namespace: "shop", Workload: "checkout"}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "process_transfer", Detectors: []string{"process_bytes"},
		Help: "a curl started in the payments database pod uploads 800 MB to an address on the internet within one window",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{ProcessTransfer{At: source.Align(start.Add(span/2), c.Bucket()),
				Namespace: "payments", Workload: "postgres", Process: "/usr/bin/curl", Bytes: 800 << 20}}
		},
	})
}
