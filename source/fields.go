package source

import (
	"strconv"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// value is one field of one record as an aggregation sees it.
type value struct {
	str     string
	num     float64
	numeric bool
	present bool
}

func strValue(s string) value {
	if s == "" {
		return value{}
	}
	return value{str: s, present: true}
}

func numValue(n int64) value {
	return value{str: strconv.FormatInt(n, 10), num: float64(n), numeric: true, present: true}
}

// Null IPs and ports read as Calico's mapping indexes them (null_value), so
// the in-memory source counts what Elasticsearch counts.
const nullIP = "0.0.0.0"

func ipValue(p *string) value {
	if p == nil || *p == "" {
		return strValue(nullIP)
	}
	return strValue(*p)
}

func portValue(p *int64) value {
	if p == nil {
		return numValue(0)
	}
	return numValue(*p)
}

func optNum(p *int64) value {
	if p == nil {
		return value{}
	}
	return numValue(*p)
}

func flowField(f *calicolog.FlowLog, name string) value {
	switch name {
	case "start_time":
		return numValue(int64(f.StartTime))
	case "end_time":
		return numValue(int64(f.EndTime))
	case "host":
		return strValue(f.Host)
	case "action":
		return strValue(f.Action)
	case "reporter":
		return strValue(f.Reporter)
	case "proto":
		return strValue(f.Proto)
	case "source_ip":
		return ipValue(f.SourceIP)
	case "source_name":
		return strValue(f.SourceName)
	case "source_name_aggr":
		return strValue(f.SourceNameAggr)
	case "source_namespace":
		return strValue(f.SourceNamespace)
	case "source_port":
		return portValue(f.SourcePort)
	case "source_type":
		return strValue(f.SourceType)
	case "dest_ip":
		return ipValue(f.DestIP)
	case "dest_name":
		return strValue(f.DestName)
	case "dest_name_aggr":
		return strValue(f.DestNameAggr)
	case "dest_namespace":
		return strValue(f.DestNamespace)
	case "dest_port":
		return portValue(f.DestPort)
	case "dest_type":
		return strValue(f.DestType)
	case "dest_service_name":
		return strValue(f.DestServiceName)
	case "dest_service_namespace":
		return strValue(f.DestServiceNamespace)
	case "dest_service_port":
		return strValue(f.DestServicePort)
	case "dest_service_port_num":
		return optNum(f.DestServicePortNum)
	case "bytes_in":
		return numValue(f.BytesIn)
	case "bytes_out":
		return numValue(f.BytesOut)
	case "packets_in":
		return numValue(f.PacketsIn)
	case "packets_out":
		return numValue(f.PacketsOut)
	case "num_flows":
		return numValue(f.NumFlows)
	case "num_flows_started":
		return numValue(f.NumFlowsStarted)
	case "num_flows_completed":
		return numValue(f.NumFlowsCompleted)
	case "http_requests_allowed_in":
		return numValue(f.HTTPRequestsAllowedIn)
	case "http_requests_denied_in":
		return numValue(f.HTTPRequestsDeniedIn)
	case "process_name":
		return strValue(f.ProcessName)
	case "num_process_names":
		return numValue(f.NumProcessNames)
	case "process_id":
		return strValue(f.ProcessID)
	case "num_process_ids":
		return numValue(f.NumProcessIDs)
	case "num_process_args":
		return numValue(f.NumProcessArgs)
	case "num_original_source_ips":
		return numValue(f.NumOriginalSourceIPs)
	case "tcp_mean_smooth_rtt":
		return optNum(f.TCPMeanSmoothRTTMicros)
	case "tcp_max_smooth_rtt":
		return optNum(f.TCPMaxSmoothRTTMicros)
	case "tcp_total_retransmissions":
		return optNum(f.TCPTotalRetransmissions)
	case "tcp_lost_packets":
		return optNum(f.TCPLostPackets)
	case "cluster":
		return strValue(f.Cluster)
	}
	return value{}
}

func dnsField(d *calicolog.DNSLog, name string) value {
	switch name {
	case "end_time":
		return numValue(d.EndTime.Unix())
	case "start_time":
		return numValue(d.StartTime.Unix())
	case "type":
		return strValue(d.Type)
	case "count":
		return numValue(d.Count)
	case "client_ip":
		return ipValue(d.ClientIP)
	case "client_name":
		return strValue(d.ClientName)
	case "client_name_aggr":
		return strValue(d.ClientNameAggr)
	case "client_namespace":
		return strValue(d.ClientNamespace)
	case "qname":
		return strValue(d.QName)
	case "qclass":
		return strValue(d.QClass)
	case "qtype":
		return strValue(d.QType)
	case "rcode":
		return strValue(d.RCode)
	case "latency_count":
		return numValue(d.LatencyCount)
	case "latency_mean":
		return numValue(d.LatencyMeanNanos)
	case "latency_max":
		return numValue(d.LatencyMaxNanos)
	case "host":
		return strValue(d.Host)
	case "cluster":
		return strValue(d.Cluster)
	}
	return value{}
}

func l7Field(l *calicolog.L7Log, name string) value {
	switch name {
	case "start_time":
		return numValue(int64(l.StartTime))
	case "end_time":
		return numValue(int64(l.EndTime))
	case "duration_mean":
		return numValue(l.DurationMeanNanos)
	case "duration_max":
		return numValue(l.DurationMaxNanos)
	case "bytes_in":
		return numValue(l.BytesIn)
	case "bytes_out":
		return numValue(l.BytesOut)
	case "count":
		return numValue(l.Count)
	case "src_name_aggr":
		return strValue(l.SrcNameAggr)
	case "src_namespace":
		return strValue(l.SrcNamespace)
	case "src_type":
		return strValue(l.SrcType)
	case "dest_name_aggr":
		return strValue(l.DestNameAggr)
	case "dest_namespace":
		return strValue(l.DestNamespace)
	case "dest_type":
		return strValue(l.DestType)
	case "dest_service_name":
		return strValue(l.DestServiceName)
	case "dest_service_namespace":
		return strValue(l.DestServiceNamespace)
	case "dest_service_port":
		if l.DestServicePort == 0 {
			return value{}
		}
		return numValue(l.DestServicePort)
	case "url":
		return strValue(l.URL)
	case "response_code":
		return strValue(l.ResponseCode)
	case "method":
		return strValue(l.Method)
	case "user_agent":
		return strValue(l.UserAgent)
	case "type":
		return strValue(l.Type)
	case "host":
		return strValue(l.Host)
	case "cluster":
		return strValue(l.Cluster)
	}
	return value{}
}
