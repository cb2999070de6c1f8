package simulate

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// The blackbox prober Options.Prober adds to the cluster.
const (
	ProberNamespace = "monitoring"
	ProberWorkload  = "blackbox-exporter"
	// proberEvery is how often the prober checks each target.
	proberEvery = 30 * time.Second
)

// addProber adds the prober's deployment, one pod, to the cluster built so
// far, with its own random stream so that every other workload keeps the
// names and addresses it has without a prober. nextHost is the last host
// number used on each node.
func (c *Cluster) addProber(nextHost []int) {
	r := c.Rand(time.Unix(0, 0), "prober")
	w := &Workload{
		Namespace: ProberNamespace, Name: ProberWorkload, ReplicaSet: ProberWorkload + "-" + randomName(r, 10),
		Service: ProberWorkload, ClusterIP: "10.96.0.250", Ports: []Port{tcp("http", 9115)}, MetricsPort: 9115,
		Process: "/bin/blackbox_exporter",
	}
	ni := r.IntN(len(c.nodes))
	n := c.nodes[ni]
	nextHost[ni]++
	addr := n.PodCIDR.Addr().As4()
	addr[3] = byte(1 + nextHost[ni])
	p := &Pod{Name: w.ReplicaSet + "-" + randomName(r, 5), IP: netip.AddrFrom4(addr).String(), Node: n, PID: 1 + r.IntN(30000), Workload: w}
	w.Pods = []*Pod{p}
	c.byIP[netip.AddrFrom4(addr)] = p
	c.workloads = append(c.workloads, w)
	c.byName[w.Namespace+"/"+w.Name] = w
	c.prober = w
}

// proberTraffic is the prober checking every TCP service port of every pod
// of the cluster every 30 s, as a blackbox exporter or a mesh health
// checker does: it reaches every pod address in every bucket, more than
// Calico's ip_sweep threshold in a cluster of more than 32 pods, and is
// normal.
func (c *Cluster) proberTraffic(b source.Window, out *Batch) {
	if c.prober == nil {
		return
	}
	r := c.Rand(b.Start, "prober traffic")
	checks := int64(max(1, c.opts.Bucket/proberEvery))
	src := PodEndpoint(c.prober.Pods[0])
	for _, w := range c.workloads {
		if w == c.prober {
			continue
		}
		for _, p := range w.Pods {
			for _, port := range w.Ports {
				if port.Proto != "tcp" {
					continue
				}
				c.emit(b, r, proberCheck(r, src, PodEndpoint(p), w, port, checks), out, "src", "dst")
			}
		}
	}
}

func proberCheck(r *rand.Rand, src, dst Endpoint, w *Workload, port Port, checks int64) Flow {
	return Flow{
		Src: src, Dst: dst, DstPort: port.Number, Proto: "tcp", Service: w, ServicePort: port, Action: "allow",
		Flows: checks, Started: checks, Completed: checks,
		ReqBytes:  checks * int64(180+r.IntN(40)),
		RespBytes: checks * int64(240+r.IntN(60)),
		SrcPolicy: "default|" + ProberNamespace + "/default." + ProberWorkload + "-egress",
		DstPolicy: "default|" + w.Namespace + "/default.allow-blackbox-probes",
	}
}
