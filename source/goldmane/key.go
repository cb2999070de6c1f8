package goldmane

import (
	"strconv"
	"strings"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
)

// flowKey is Goldmane's FlowKey in a comparable form: the identity of a
// flow. Goldmane's own flow ids are not used: they are numbered afresh
// when Goldmane restarts.
type flowKey struct {
	sourceName, sourceNamespace, sourceType string
	destName, destNamespace, destType       string
	destPort                                int64
	serviceName, serviceNamespace, svcPort  string
	servicePortNum                          int64
	proto, reporter, action                 string
	// policies is Calico's all_policies entries joined by newlines.
	policies string
}

// keyOf reads the key of a flow; ok is false when the flow has none or
// lacks what every flow log must name (both ends and the reporter).
func keyOf(k *pb.FlowKey) (flowKey, string, bool) {
	if k == nil {
		return flowKey{}, "no key", false
	}
	fk := flowKey{
		sourceName: orAggregated(k.GetSourceName()), sourceNamespace: orAggregated(k.GetSourceNamespace()),
		sourceType: endpointType(k.GetSourceType()),
		destName:   orAggregated(k.GetDestName()), destNamespace: orAggregated(k.GetDestNamespace()),
		destType: endpointType(k.GetDestType()), destPort: k.GetDestPort(),
		serviceName: k.GetDestServiceName(), serviceNamespace: k.GetDestServiceNamespace(),
		svcPort: k.GetDestServicePortName(), servicePortNum: k.GetDestServicePort(),
		proto: strings.ToLower(k.GetProto()), reporter: reporter(k.GetReporter()), action: action(k.GetAction()),
		policies: policies(k.GetPolicies()),
	}
	switch {
	case k.GetSourceName() == "":
		return fk, "no source_name", false
	case k.GetDestName() == "":
		return fk, "no dest_name", false
	case fk.reporter == "":
		return fk, "no reporter", false
	}
	return fk, "", true
}

func orAggregated(s string) string {
	if s == "" {
		return calicolog.Aggregated
	}
	return s
}

// endpointType is Calico's flow log spelling of an endpoint type.
func endpointType(t pb.EndpointType) string {
	switch t {
	case pb.EndpointType_WorkloadEndpoint:
		return calicolog.TypeWorkload
	case pb.EndpointType_HostEndpoint:
		return calicolog.TypeHost
	case pb.EndpointType_NetworkSet:
		return calicolog.TypeNetSet
	case pb.EndpointType_Network:
		return calicolog.TypeNetwork
	}
	return calicolog.Aggregated
}

func reporter(r pb.Reporter) string {
	switch r {
	case pb.Reporter_Src:
		return "src"
	case pb.Reporter_Dst:
		return "dst"
	}
	return ""
}

func action(a pb.Action) string {
	switch a {
	case pb.Action_Allow:
		return "allow"
	case pb.Action_Deny:
		return "deny"
	case pb.Action_Pass:
		return "pass"
	}
	return calicolog.Aggregated
}

// policies writes the enforced policy hits as Calico's all_policies
// entries, "<index>|<tier>|<policy>|<action>|<rule>", the policy named
// namespace/name for namespaced kinds.
func policies(t *pb.PolicyTrace) string {
	var b strings.Builder
	for i, h := range t.GetEnforcedPolicies() {
		if i > 0 {
			b.WriteByte('\n')
		}
		name := h.GetName()
		if ns := h.GetNamespace(); ns != "" {
			name = ns + "/" + name
		}
		if h.GetKind() == pb.PolicyKind_EndOfTier {
			name = "__PROFILE__"
			if h.GetTier() != "" {
				name = h.GetTier() + ".end-of-tier"
			}
		}
		b.WriteString(strconv.FormatInt(h.GetPolicyIndex(), 10))
		b.WriteByte('|')
		b.WriteString(h.GetTier())
		b.WriteByte('|')
		b.WriteString(name)
		b.WriteByte('|')
		b.WriteString(action(h.GetAction()))
		b.WriteByte('|')
		b.WriteString(strconv.FormatInt(h.GetRuleIndex(), 10))
	}
	return b.String()
}

// counters are a flow key's statistics over part of a window.
type counters struct {
	packetsIn, packetsOut, bytesIn, bytesOut int64
	started, completed                       int64
	// liveMax is the most connections live at the end of one update.
	liveMax int64
	// first and last are the earliest start and latest end seen, Unix s.
	first, last int64
}

func (c *counters) add(f *pb.Flow) {
	c.packetsIn += nonNegative(f.GetPacketsIn())
	c.packetsOut += nonNegative(f.GetPacketsOut())
	c.bytesIn += nonNegative(f.GetBytesIn())
	c.bytesOut += nonNegative(f.GetBytesOut())
	c.started += nonNegative(f.GetNumConnectionsStarted())
	c.completed += nonNegative(f.GetNumConnectionsCompleted())
	c.liveMax = max(c.liveMax, nonNegative(f.GetNumConnectionsLive()))
	if c.first == 0 || f.GetStartTime() < c.first {
		c.first = f.GetStartTime()
	}
	c.last = max(c.last, f.GetEndTime())
}

func nonNegative(v int64) int64 { return max(v, 0) }

// flowLog writes one key's statistics over window [start, end) as the
// Calico flow log record the detectors' queries read. Goldmane gives no
// IPs, pod names or process fields: IPs are null (read as 0.0.0.0, as
// Calico's index stores a null IP), names are the aggregated "-", process
// fields are "-" (not logged). num_flows counts the connections started
// in the window plus those already live when it began, approximated by the
// most live at the end of any update when that is larger.
func (k flowKey) flowLog(c *counters, start, end int64) calicolog.FlowLog {
	f := calicolog.FlowLog{
		StartTime: calicolog.EpochSeconds(start), EndTime: calicolog.EpochSeconds(end - 1),
		Timestamp: calicolog.EpochMillis(end * 1000),
		Action:    k.action, Reporter: k.reporter, Proto: k.proto,
		SourceName: calicolog.Aggregated, SourceNameAggr: k.sourceName, SourceNamespace: k.sourceNamespace, SourceType: k.sourceType,
		DestName: calicolog.Aggregated, DestNameAggr: k.destName, DestNamespace: k.destNamespace, DestType: k.destType,
		DestServiceName: k.serviceName, DestServiceNamespace: k.serviceNamespace, DestServicePort: k.svcPort,
		BytesIn: c.bytesIn, BytesOut: c.bytesOut, PacketsIn: c.packetsIn, PacketsOut: c.packetsOut,
		NumFlows: max(c.started, c.liveMax), NumFlowsStarted: c.started, NumFlowsCompleted: c.completed,
		ProcessName: calicolog.Aggregated,
	}
	port := k.destPort
	f.DestPort = &port
	if k.servicePortNum != 0 {
		sp := k.servicePortNum
		f.DestServicePortNum = &sp
	}
	if k.policies != "" {
		f.Policies = &calicolog.PolicyList{AllPolicies: strings.Split(k.policies, "\n")}
	}
	return f
}
