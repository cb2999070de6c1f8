package calicolog

import (
	"encoding/json"
	"fmt"
	"time"
)

// DNSLog is one Calico DNS log record. Unlike flow logs, its times are
// RFC 3339 strings with nanoseconds; latencies are nanoseconds.
type DNSLog struct {
	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`
	Type      string    `json:"type,omitempty"` // log or unlogged
	Count     int64     `json:"count"`

	ClientIP        *string           `json:"client_ip"`
	ClientName      string            `json:"client_name"`
	ClientNameAggr  string            `json:"client_name_aggr"`
	ClientNamespace string            `json:"client_namespace"`
	ClientLabels    map[string]string `json:"client_labels,omitempty"`

	QName   string      `json:"qname"`
	QClass  string      `json:"qclass,omitempty"`
	QType   string      `json:"qtype,omitempty"`
	RCode   string      `json:"rcode,omitempty"`
	RRSets  []RRSet     `json:"rrsets,omitempty"`
	Servers []DNSServer `json:"servers,omitempty"`

	LatencyCount     int64  `json:"latency_count"`
	LatencyMeanNanos int64  `json:"latency_mean"`
	LatencyMaxNanos  int64  `json:"latency_max"`
	Host             string `json:"host,omitempty"`
	Cluster          string `json:"cluster,omitempty"`
}

// RRSet is one resource record set of a DNS answer.
type RRSet struct {
	Name  string   `json:"name"`
	Class string   `json:"class"`
	Type  string   `json:"type"`
	RData []string `json:"rdata"`
}

// DNSServer is a resolver that answered the query.
type DNSServer struct {
	IP        string `json:"ip"`
	Name      string `json:"name"`
	NameAggr  string `json:"name_aggr"`
	Namespace string `json:"namespace"`
}

// DecodeDNSLog decodes and validates one DNS log document (its _source).
func DecodeDNSLog(data []byte) (DNSLog, error) {
	var d DNSLog
	if err := json.Unmarshal(data, &d); err != nil {
		return DNSLog{}, fmt.Errorf("dns log: %w", describeJSONError[DNSLog](data, err))
	}
	if err := d.Validate(); err != nil {
		return DNSLog{}, err
	}
	return d, nil
}

// Validate reports the first field that breaks Calico's DNS log contract.
func (d *DNSLog) Validate() error {
	switch {
	case d.EndTime.IsZero():
		return fieldError("dns log", "end_time", "missing")
	case d.StartTime.After(d.EndTime):
		return fieldError("dns log", "start_time", "after end_time")
	case d.ClientNameAggr == "":
		return fieldError("dns log", "client_name_aggr", "missing")
	case d.QName == "":
		return fieldError("dns log", "qname", "missing")
	case d.Count < 0 || d.LatencyCount < 0 || d.LatencyMeanNanos < 0 || d.LatencyMaxNanos < 0:
		return fieldError("dns log", "count/latency_*", "negative value")
	}
	return nil
}
