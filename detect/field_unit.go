package detect

import "github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"

// Units of a verdict's observed and expected values (Verdict.Unit) and of
// a detector's (Info.Unit).
const (
	UnitBytes        = "bytes"
	UnitPackets      = "packets"
	UnitFlows        = "flows"
	UnitRequests     = "requests"
	UnitQueries      = "queries"
	UnitProcesses    = "processes"
	UnitAddresses    = "addresses"
	UnitNanoseconds  = "ns"
	UnitMicroseconds = "µs"
	UnitMilliseconds = "ms"
	UnitPorts        = "ports"
	UnitNames        = "names"
	UnitRestarts     = "restarts"
)

// fieldUnit is the unit of a numeric field of a log as Calico writes it
// (CALICO.md): bytes, packets, flows, DNS queries, HTTP requests, latencies
// in nanoseconds, TCP round-trip times in microseconds; "" for a field it
// does not know.
func fieldUnit(log calicolog.LogType, field string) string {
	switch field {
	case "bytes_in", "bytes_out":
		return UnitBytes
	case "packets_in", "packets_out", "tcp_lost_packets", "tcp_total_retransmissions":
		return UnitPackets
	case "num_flows", "num_flows_started", "num_flows_completed":
		return UnitFlows
	case "http_requests_allowed_in", "http_requests_denied_in":
		return UnitRequests
	case "num_process_names", "num_process_ids":
		return UnitProcesses
	case "num_original_source_ips":
		return UnitAddresses
	case "latency_mean", "latency_max", "duration_mean", "duration_max":
		return UnitNanoseconds
	case "tcp_mean_smooth_rtt", "tcp_max_smooth_rtt":
		return UnitMicroseconds
	case "latency_count":
		return UnitQueries
	case "count":
		switch log {
		case calicolog.DNS:
			return UnitQueries
		case calicolog.L7:
			return UnitRequests
		}
	}
	return ""
}
