package goldmane

import (
	"strings"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

var _ source.Coverage = (*Source)(nil)

// FlowCoverage is what Goldmane carries (Source.Carries), for telling
// which detectors work from it without a connection.
var FlowCoverage source.Coverage = flowsByName{}

type flowsByName struct{}

// Carries reports whether Goldmane gives log type t (flows only) and its
// field.
func (s *Source) Carries(t calicolog.LogType, field string) bool {
	return FlowCoverage.Carries(t, field)
}

// notCarried are the flow log fields Goldmane has no counterpart for: it
// keys flows by name, never by IP or pod, and knows nothing of processes,
// hosts, domains, HTTP or TCP statistics. Pod names (source_name,
// dest_name) read as Calico's aggregated "-".
var notCarried = map[string]bool{
	"source_ip": true, "dest_ip": true, "source_port": true, "host": true,
	"original_source_ips": true, "num_original_source_ips": true,
	"process_name": true, "process_id": true, "process_args": true,
	"num_process_names": true, "num_process_ids": true, "num_process_args": true,
	"dest_domains": true, "http_requests_allowed_in": true, "http_requests_denied_in": true,
	"source_labels": true, "dest_labels": true,
}

func (flowsByName) Carries(t calicolog.LogType, field string) bool {
	if t != calicolog.Flows {
		return false
	}
	if strings.HasPrefix(field, "tcp_") || strings.HasPrefix(field, "source_labels.") || strings.HasPrefix(field, "dest_labels.") {
		return false
	}
	return !notCarried[field]
}
