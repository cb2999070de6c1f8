package simulate

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Endpoint is one side of a flow as Calico logs it.
type Endpoint struct {
	Type      string // wep, hep or net
	Namespace string // "-" when not namespaced
	Name      string // "-" when Calico aggregated it away
	NameAggr  string // e.g. frontend-7d4f8b9c5d-*, pub, pvt, or a host name
	IP        string // "" is logged as null
	// Node is the node whose Calico agent reports for this endpoint; nil
	// for networks outside the cluster.
	Node     *Node
	Workload *Workload // nil unless Type is wep
	Process  string    // main process path; "" when unknown
	Args     []string  // process arguments, when logged
	PID      int
	// Pods is how many pods an aggregated endpoint stands for.
	Pods int
}

// PodEndpoint is pod p with its name and address, as Calico logs a pod
// when it does not aggregate names.
func PodEndpoint(p *Pod) Endpoint {
	w := p.Workload
	return Endpoint{
		Type: calicolog.TypeWorkload, Namespace: w.Namespace, Name: p.Name, NameAggr: w.NameAggr(),
		IP: p.IP, Node: p.Node, Workload: w, Process: w.Process, PID: p.PID, Pods: 1,
	}
}

// aggregatedEndpoint is pods of w hosted on node, with names and IPs
// aggregated away (Calico's aggregation level 2).
func aggregatedEndpoint(w *Workload, node *Node, pods int) Endpoint {
	return Endpoint{
		Type: calicolog.TypeWorkload, Namespace: w.Namespace, Name: calicolog.Aggregated, NameAggr: w.NameAggr(),
		Node: node, Workload: w, Process: w.Process, Pods: pods,
	}
}

// NetworkEndpoint is an address outside the cluster: type net, named pub or
// pvt by its address space; ip "" logs a null address (aggregated).
func NetworkEndpoint(ip string, aggr string) Endpoint {
	if aggr == "" {
		aggr = networkName(ip)
	}
	return Endpoint{Type: calicolog.TypeNetwork, Namespace: calicolog.Aggregated, Name: calicolog.Aggregated, NameAggr: aggr, IP: ip}
}

// HostEndpoint is node n's host endpoint.
func HostEndpoint(n *Node) Endpoint {
	return Endpoint{Type: calicolog.TypeHost, Namespace: calicolog.Aggregated, Name: n.Name, NameAggr: n.Name, IP: n.IP, Node: n}
}

func (e Endpoint) labels() *calicolog.LabelList {
	if e.Workload == nil {
		return nil
	}
	return &calicolog.LabelList{Labels: e.Workload.labels()}
}

// Flow describes a flow between two endpoints over one interval; Record
// turns it into the record one reporter logs.
type Flow struct {
	Src, Dst Endpoint
	SrcPort  int // 0 is logged as null (aggregated)
	DstPort  int
	Proto    string
	// Service is the Service the client addressed, nil when it reached
	// the destination directly.
	Service     *Workload
	ServicePort Port
	Action      string // allow or deny
	// Flows, Started and Completed are the connections the record counts.
	Flows, Started, Completed int64
	// ReqBytes/ReqPackets went from Src to Dst, RespBytes/RespPackets back.
	ReqBytes, RespBytes     int64
	ReqPackets, RespPackets int64
	// HTTPRequests is the HTTP requests the destination's L7 collector
	// counted (http_requests_allowed_in of the dst record).
	HTTPRequests int64
	Domains      []string
	// SrcPolicy and DstPolicy are the tier and policy that decided on
	// each side, e.g. "default|shop/default.allow-frontend"; Record adds
	// the index, action and rule of Calico's all_policies entry.
	SrcPolicy, DstPolicy string
}

// Record is the flow record reporter ("src" or "dst") logged for the
// interval [start, end]. Counters are from the reporter's side: bytes_in is
// what the reporting endpoint received.
func (f *Flow) Record(reporter string, start, end time.Time) calicolog.FlowLog {
	rec := calicolog.FlowLog{
		StartTime:         calicolog.EpochSeconds(start.Unix()),
		EndTime:           calicolog.EpochSeconds(end.Unix()),
		Timestamp:         calicolog.EpochMillis(end.UnixMilli()),
		Action:            f.Action,
		Reporter:          reporter,
		Proto:             f.Proto,
		SourceIP:          optString(f.Src.IP),
		SourceName:        f.Src.Name,
		SourceNameAggr:    f.Src.NameAggr,
		SourceNamespace:   f.Src.Namespace,
		SourcePort:        optInt(f.SrcPort),
		SourceType:        f.Src.Type,
		SourceLabels:      f.Src.labels(),
		DestIP:            optString(f.Dst.IP),
		DestName:          f.Dst.Name,
		DestNameAggr:      f.Dst.NameAggr,
		DestNamespace:     f.Dst.Namespace,
		DestPort:          optInt(f.DstPort),
		DestType:          f.Dst.Type,
		DestLabels:        f.Dst.labels(),
		DestDomains:       f.Domains,
		NumFlows:          f.Flows,
		NumFlowsStarted:   f.Started,
		NumFlowsCompleted: f.Completed,
		// Calico writes "-" when the destination was not reached through a Service.
		DestServiceName:      calicolog.Aggregated,
		DestServiceNamespace: calicolog.Aggregated,
		DestServicePort:      calicolog.Aggregated,
	}
	if f.Service != nil {
		rec.DestServiceName = f.Service.Service
		rec.DestServiceNamespace = f.Service.Namespace
		rec.DestServicePort = f.ServicePort.Name
		rec.DestServicePortNum = optInt(f.ServicePort.Number)
	}
	ep, policy := f.Src, f.SrcPolicy
	if reporter == "src" {
		rec.BytesOut, rec.BytesIn = f.ReqBytes, f.RespBytes
		rec.PacketsOut, rec.PacketsIn = f.ReqPackets, f.RespPackets
	} else {
		ep, policy = f.Dst, f.DstPolicy
		rec.BytesIn, rec.BytesOut = f.ReqBytes, f.RespBytes
		rec.PacketsIn, rec.PacketsOut = f.ReqPackets, f.RespPackets
		if f.Action == "allow" {
			rec.HTTPRequestsAllowedIn = f.HTTPRequests
		} else {
			rec.HTTPRequestsDeniedIn = f.HTTPRequests
		}
	}
	if ep.Node != nil {
		rec.Host = ep.Node.Name
	}
	switch {
	case ep.Process == "":
		rec.ProcessName, rec.ProcessID = calicolog.Aggregated, calicolog.Aggregated
	case ep.Name == calicolog.Aggregated:
		rec.ProcessName, rec.ProcessID = ep.Process, "*"
		rec.NumProcessNames, rec.NumProcessIDs = 1, int64(max(ep.Pods, 1))
	default:
		rec.ProcessName, rec.ProcessID = ep.Process, strconv.Itoa(ep.PID)
		rec.NumProcessNames, rec.NumProcessIDs = 1, 1
		if len(ep.Args) > 0 {
			rec.ProcessArgs = append([]string(nil), ep.Args...)
			rec.NumProcessArgs = 1
		}
	}
	if policy == "" {
		policy = "default|default.allow-all"
	}
	rule := "0"
	if f.Action == "deny" {
		rule = "-1"
	}
	rec.Policies = &calicolog.PolicyList{AllPolicies: []string{"0|" + policy + "|" + f.Action + "|" + rule}}
	return rec
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optInt(n int) *int64 {
	if n == 0 {
		return nil
	}
	v := int64(n)
	return &v
}

// FlushTime is when node's Calico agent closes its interval in bucket b.
// jitter spreads records of one flush over a few seconds.
func (c *Cluster) FlushTime(b source.Window, n *Node, r *rand.Rand) time.Time {
	phase := c.opts.Bucket / 2
	if n != nil {
		phase = n.Phase
	}
	jitter := time.Duration(r.IntN(3)) * time.Second
	return b.Start.Add(phase + jitter)
}

// FlushAfter is when a record of an event at t is flushed by node's agent
// inside bucket b: the node's flush if it comes after t, else a little
// after t (never past the bucket, so the record stays in the bucket that
// holds t).
func (c *Cluster) FlushAfter(b source.Window, n *Node, t time.Time, r *rand.Rand) time.Time {
	if t.Before(b.Start) {
		t = b.Start
	}
	if f := c.FlushTime(b, n, r); !f.Before(t) {
		return f
	}
	last := b.End.Add(-time.Second).Truncate(time.Second)
	end := t.Add(time.Duration(1+r.IntN(20)) * time.Second).Truncate(time.Second)
	if end.After(last) {
		end = last
	}
	if end.Before(t.Truncate(time.Second)) {
		end = t.Truncate(time.Second)
	}
	return end
}

// IntervalStart is the start of the interval that ends at end: one bucket
// earlier, give or take the agent's scheduling.
func (c *Cluster) IntervalStart(end time.Time, r *rand.Rand) time.Time {
	return end.Add(-c.opts.Bucket - time.Duration(r.IntN(13))*time.Second)
}

// poisson draws a Poisson count of mean lambda.
func poisson(r *rand.Rand, lambda float64) int64 {
	switch {
	case lambda <= 0:
		return 0
	case lambda < 30:
		l, k, p := math.Exp(-lambda), int64(0), 1.0
		for {
			p *= r.Float64()
			if p <= l {
				return k
			}
			k++
		}
	}
	n := math.Round(lambda + math.Sqrt(lambda)*r.NormFloat64())
	return int64(max(n, 0))
}

// noise is a log-normal factor of median 1.
func noise(r *rand.Rand, sigma float64) float64 { return math.Exp(sigma * r.NormFloat64()) }

// packets is the packets that carry n bytes over flows connections.
func packets(bytes, flows int64) int64 {
	if bytes == 0 {
		return 0
	}
	return (bytes+1399)/1400 + 2*flows
}
