package goldmanesim

import (
	"strconv"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
)

// Cluster makes Goldmane's flows from the built-in simulated cluster: its
// Calico flow logs folded by Goldmane's key (names, not IPs or pods), so
// the traffic, and the attacks it plays, are the same the other sources
// see, less what Goldmane does not carry.
type Cluster struct{ c *simulate.Cluster }

// NewCluster wraps a simulated cluster.
func NewCluster(c *simulate.Cluster) *Cluster { return &Cluster{c: c} }

// BucketSeconds is the simulated cluster's flow log interval.
func (g *Cluster) BucketSeconds() int64 { return int64(g.c.Bucket() / time.Second) }

// Bucket returns the bucket's flows, one per Goldmane key.
func (g *Cluster) Bucket(start int64) []*pb.Flow {
	size := g.BucketSeconds()
	w := source.Window{Start: time.Unix(start, 0).UTC(), End: time.Unix(start+size, 0).UTC()}
	return FromFlowLogs(g.c.Window(w).Flows, start, start+size)
}

// FromFlowLogs folds Calico flow log records into Goldmane flows over
// [start, end), one per key.
func FromFlowLogs(recs []calicolog.FlowLog, start, end int64) []*pb.Flow {
	byKey := map[string]*pb.Flow{}
	var order []string
	for i := range recs {
		r := &recs[i]
		k := KeyOf(r)
		id := k.String()
		f := byKey[id]
		if f == nil {
			f = &pb.Flow{Key: k, StartTime: start, EndTime: end}
			if r.SourceLabels != nil {
				f.SourceLabels = r.SourceLabels.Labels
			}
			if r.DestLabels != nil {
				f.DestLabels = r.DestLabels.Labels
			}
			byKey[id] = f
			order = append(order, id)
		}
		f.PacketsIn += r.PacketsIn
		f.PacketsOut += r.PacketsOut
		f.BytesIn += r.BytesIn
		f.BytesOut += r.BytesOut
		f.NumConnectionsStarted += r.NumFlowsStarted
		f.NumConnectionsCompleted += r.NumFlowsCompleted
		f.NumConnectionsLive += max(r.NumFlows-r.NumFlowsCompleted, 0)
	}
	out := make([]*pb.Flow, len(order))
	for i, id := range order {
		out[i] = byKey[id]
	}
	return out
}

// KeyOf is the Goldmane key of a Calico flow log record.
func KeyOf(r *calicolog.FlowLog) *pb.FlowKey {
	k := &pb.FlowKey{
		SourceName: r.SourceNameAggr, SourceNamespace: dash(r.SourceNamespace), SourceType: endpointType(r.SourceType),
		DestName: r.DestNameAggr, DestNamespace: dash(r.DestNamespace), DestType: endpointType(r.DestType),
		DestServiceName: r.DestServiceName, DestServiceNamespace: r.DestServiceNamespace, DestServicePortName: r.DestServicePort,
		Proto: r.Proto, Reporter: pb.Reporter_Src, Action: pb.Action_Allow,
	}
	if r.DestPort != nil {
		k.DestPort = *r.DestPort
	}
	if r.DestServicePortNum != nil {
		k.DestServicePort = *r.DestServicePortNum
	}
	if r.Reporter == "dst" {
		k.Reporter = pb.Reporter_Dst
	}
	if r.Action == "deny" {
		k.Action = pb.Action_Deny
	}
	if r.Policies != nil {
		k.Policies = &pb.PolicyTrace{}
		for _, p := range r.Policies.AllPolicies {
			if h := policyHit(p); h != nil {
				k.Policies.EnforcedPolicies = append(k.Policies.EnforcedPolicies, h)
			}
		}
	}
	return k
}

func dash(s string) string {
	if s == calicolog.Aggregated {
		return ""
	}
	return s
}

func endpointType(t string) pb.EndpointType {
	switch t {
	case calicolog.TypeWorkload:
		return pb.EndpointType_WorkloadEndpoint
	case calicolog.TypeHost:
		return pb.EndpointType_HostEndpoint
	case calicolog.TypeNetSet:
		return pb.EndpointType_NetworkSet
	case calicolog.TypeNetwork:
		return pb.EndpointType_Network
	}
	return pb.EndpointType_EndpointTypeUnspecified
}

// policyHit reads "<index>|<tier>|<policy>|<action>|<rule>".
func policyHit(entry string) *pb.PolicyHit {
	parts := strings.Split(entry, "|")
	if len(parts) != 5 {
		return nil
	}
	h := &pb.PolicyHit{Tier: parts[1], Name: parts[2], Kind: pb.PolicyKind_GlobalNetworkPolicy}
	if ns, name, ok := strings.Cut(parts[2], "/"); ok {
		h.Namespace, h.Name, h.Kind = ns, name, pb.PolicyKind_CalicoNetworkPolicy
	}
	h.PolicyIndex, _ = strconv.ParseInt(parts[0], 10, 64)
	h.RuleIndex, _ = strconv.ParseInt(parts[4], 10, 64)
	switch parts[3] {
	case "allow":
		h.Action = pb.Action_Allow
	case "deny":
		h.Action = pb.Action_Deny
	case "pass":
		h.Action = pb.Action_Pass
	}
	return h
}
