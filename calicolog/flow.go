package calicolog

import (
	"fmt"
)

// Endpoint types Calico writes in source_type and dest_type.
const (
	TypeWorkload = "wep" // a pod
	TypeHost     = "hep" // a host endpoint
	TypeNetSet   = "ns"  // a network set
	TypeNetwork  = "net" // a network outside the cluster
)

// Aggregated network names Calico writes in *_name_aggr for type net.
const (
	NamePublic  = "pub" // public address space
	NamePrivate = "pvt" // private address space
)

// Aggregated is the name, namespace or process name Calico writes when it
// aggregated the value away.
const Aggregated = "-"

// FlowLog is one Calico flow log record. Times are epoch seconds, except
// @timestamp which is epoch milliseconds; byte counters are bytes.
type FlowLog struct {
	StartTime EpochSeconds `json:"start_time"`
	EndTime   EpochSeconds `json:"end_time"`
	Timestamp EpochMillis  `json:"@timestamp,omitempty"`
	Host      string       `json:"host,omitempty"`
	Action    string       `json:"action"`
	Reporter  string       `json:"reporter"`
	Proto     string       `json:"proto,omitempty"`

	SourceIP        *string    `json:"source_ip"`
	SourceName      string     `json:"source_name"`
	SourceNameAggr  string     `json:"source_name_aggr"`
	SourceNamespace string     `json:"source_namespace"`
	SourcePort      *int64     `json:"source_port"`
	SourceType      string     `json:"source_type"`
	SourceLabels    *LabelList `json:"source_labels,omitempty"`

	DestIP        *string    `json:"dest_ip"`
	DestName      string     `json:"dest_name"`
	DestNameAggr  string     `json:"dest_name_aggr"`
	DestNamespace string     `json:"dest_namespace"`
	DestPort      *int64     `json:"dest_port"`
	DestType      string     `json:"dest_type"`
	DestLabels    *LabelList `json:"dest_labels,omitempty"`
	DestDomains   []string   `json:"dest_domains,omitempty"`

	DestServiceName      string `json:"dest_service_name,omitempty"`
	DestServiceNamespace string `json:"dest_service_namespace,omitempty"`
	DestServicePort      string `json:"dest_service_port,omitempty"`
	DestServicePortNum   *int64 `json:"dest_service_port_num,omitempty"`

	BytesIn               int64 `json:"bytes_in"`
	BytesOut              int64 `json:"bytes_out"`
	PacketsIn             int64 `json:"packets_in"`
	PacketsOut            int64 `json:"packets_out"`
	NumFlows              int64 `json:"num_flows"`
	NumFlowsStarted       int64 `json:"num_flows_started"`
	NumFlowsCompleted     int64 `json:"num_flows_completed"`
	HTTPRequestsAllowedIn int64 `json:"http_requests_allowed_in"`
	HTTPRequestsDeniedIn  int64 `json:"http_requests_denied_in"`

	ProcessName          string   `json:"process_name,omitempty"`
	NumProcessNames      int64    `json:"num_process_names"`
	ProcessID            string   `json:"process_id,omitempty"`
	NumProcessIDs        int64    `json:"num_process_ids"`
	ProcessArgs          []string `json:"process_args,omitempty"`
	NumProcessArgs       int64    `json:"num_process_args"`
	OriginalSourceIPs    []string `json:"original_source_ips,omitempty"`
	NumOriginalSourceIPs int64    `json:"num_original_source_ips"`

	Policies *PolicyList `json:"policies,omitempty"`

	TCPMeanSmoothRTTMicros  *int64 `json:"tcp_mean_smooth_rtt,omitempty"`
	TCPMaxSmoothRTTMicros   *int64 `json:"tcp_max_smooth_rtt,omitempty"`
	TCPTotalRetransmissions *int64 `json:"tcp_total_retransmissions,omitempty"`
	TCPLostPackets          *int64 `json:"tcp_lost_packets,omitempty"`
	// The rest of Calico's optional TCP statistics: congestion windows and
	// segment sizes in bytes, minimum round trips in microseconds, and
	// unrecovered retransmission timeouts.
	TCPMeanSendCongestionWindow *int64 `json:"tcp_mean_send_congestion_window,omitempty"`
	TCPMinSendCongestionWindow  *int64 `json:"tcp_min_send_congestion_window,omitempty"`
	TCPMeanMinRTTMicros         *int64 `json:"tcp_mean_min_rtt,omitempty"`
	TCPMaxMinRTTMicros          *int64 `json:"tcp_max_min_rtt,omitempty"`
	TCPMeanMSS                  *int64 `json:"tcp_mean_mss,omitempty"`
	TCPMinMSS                   *int64 `json:"tcp_min_mss,omitempty"`
	TCPUnrecoveredTimeouts      *int64 `json:"tcp_unrecovered_to,omitempty"`

	// Cluster is set only in the single-index layout (calico_flowlogs).
	Cluster string `json:"cluster,omitempty"`
}

// LabelList is Calico's nested label object: {"labels": ["k=v", ...]}.
type LabelList struct {
	Labels []string `json:"labels"`
}

// PolicyList is Calico's nested policy object; each entry reads
// "<index>|<tier>|<policy>|<action>|<rule>". Newer Calico splits them into
// the policies that were enforced, those staged (pending) and those a
// flow only crossed (transit).
type PolicyList struct {
	AllPolicies      []string `json:"all_policies"`
	EnforcedPolicies []string `json:"enforced_policies,omitempty"`
	PendingPolicies  []string `json:"pending_policies,omitempty"`
	TransitPolicies  []string `json:"transit_policies,omitempty"`
}

// DecodeFlowLog decodes and validates one flow log document (its _source).
func DecodeFlowLog(data []byte) (FlowLog, error) {
	f, err := decodeLog[FlowLog](data, flowFieldSet)
	if err != nil {
		return FlowLog{}, fmt.Errorf("flow log: %w", err)
	}
	if err := f.Validate(); err != nil {
		return FlowLog{}, err
	}
	return f, nil
}

// Validate reports the first field that breaks Calico's flow log contract.
func (f *FlowLog) Validate() error {
	switch {
	case f.EndTime <= 0:
		return fieldError("flow log", "end_time", "missing or zero")
	case f.StartTime > f.EndTime:
		return fieldError("flow log", "start_time", "after end_time")
	case f.SourceNameAggr == "":
		return fieldError("flow log", "source_name_aggr", "missing")
	case f.DestNameAggr == "":
		return fieldError("flow log", "dest_name_aggr", "missing")
	case !validEndpointType(f.SourceType):
		return fieldError("flow log", "source_type", fmt.Sprintf("%q is not wep, hep, ns or net", truncate(f.SourceType, 20)))
	case !validEndpointType(f.DestType):
		return fieldError("flow log", "dest_type", fmt.Sprintf("%q is not wep, hep, ns or net", truncate(f.DestType, 20)))
	case f.Reporter != "src" && f.Reporter != "dst":
		return fieldError("flow log", "reporter", fmt.Sprintf("%q is not src or dst", truncate(f.Reporter, 20)))
	case f.BytesIn < 0 || f.BytesOut < 0 || f.PacketsIn < 0 || f.PacketsOut < 0 || f.NumFlows < 0:
		return fieldError("flow log", "bytes_in/bytes_out/packets_in/packets_out/num_flows", "negative counter")
	case f.DestPort != nil && (*f.DestPort < 0 || *f.DestPort > 65535):
		return fieldError("flow log", "dest_port", fmt.Sprintf("%d out of range", *f.DestPort))
	}
	return nil
}

func validEndpointType(t string) bool {
	switch t {
	case TypeWorkload, TypeHost, TypeNetSet, TypeNetwork:
		return true
	}
	return false
}

// SourceNamespaceOrNone returns the source namespace, or "" when Calico wrote
// "-" (not namespaced).
func (f *FlowLog) SourceNamespaceOrNone() string { return orNone(f.SourceNamespace) }

func orNone(s string) string {
	if s == Aggregated {
		return ""
	}
	return s
}
