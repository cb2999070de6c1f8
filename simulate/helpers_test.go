package simulate

import (
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// entity is what detectors key flows by: the source namespace, name_aggr
// and endpoint type.
type entity struct{ namespace, workload, typ string }

func (e entity) String() string { return e.namespace + "/" + e.workload + "/" + e.typ }

// distinct is the number of distinct destination ports and IPs of one
// source entity in a window, as Elasticsearch's cardinality counts them:
// Calico's mapping indexes a null IP as 0.0.0.0 and a null port as 0, so
// nulls count as one more value.
type distinct struct{ ports, ips int }

func distinctBySource(flows []calicolog.FlowLog) map[entity]distinct {
	ports := map[entity]map[int64]bool{}
	ips := map[entity]map[string]bool{}
	for _, f := range flows {
		e := entity{f.SourceNamespace, f.SourceNameAggr, f.SourceType}
		if ports[e] == nil {
			ports[e], ips[e] = map[int64]bool{}, map[string]bool{}
		}
		port, ip := int64(0), "0.0.0.0"
		if f.DestPort != nil {
			port = *f.DestPort
		}
		if f.DestIP != nil {
			ip = *f.DestIP
		}
		ports[e][port], ips[e][ip] = true, true
	}
	out := map[entity]distinct{}
	for e := range ports {
		out[e] = distinct{len(ports[e]), len(ips[e])}
	}
	return out
}

// Calico's thresholds: the demo's port_scan threshold (the default is
// 500) and ip_sweep's default.
const (
	portScanThreshold = 200
	ipSweepThreshold  = 32
)

var day0 = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC) // a Monday

func window(start time.Time, d time.Duration) source.Window {
	return source.Window{Start: start, End: start.Add(d)}
}
