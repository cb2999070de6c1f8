package calicolog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
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

	// Latency is Calico's nested latency object; the top-level latency_*
	// fields carry the same numbers and are filled from it when a writer
	// gave only the nested form.
	Latency          *DNSLatency `json:"latency,omitempty"`
	LatencyCount     int64       `json:"latency_count"`
	LatencyMeanNanos int64       `json:"latency_mean"`
	LatencyMaxNanos  int64       `json:"latency_max"`
	Host             string      `json:"host,omitempty"`
	Cluster          string      `json:"cluster,omitempty"`
}

// DNSLatency is a DNS log's nested latency: how many of its queries were
// timed, and their mean and longest latency in nanoseconds.
type DNSLatency struct {
	Count     int64 `json:"count"`
	MeanNanos int64 `json:"mean"`
	MaxNanos  int64 `json:"max"`
}

// RRSet is one resource record set of a DNS answer.
type RRSet struct {
	Name string `json:"name"`
	// Class is IN for most records; for an EDNS OPT record Calico writes
	// the UDP payload size there, a number (1232), kept as its text.
	Class Text     `json:"class"`
	Type  string   `json:"type"`
	RData []string `json:"rdata"`
}

// Text is a keyword that Calico may also write as a number or a truth
// value; it reads either as text and writes a string.
type Text string

// UnmarshalJSON accepts a string, a number, a truth value or null.
func (t *Text) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*t = Text(s)
		return nil
	}
	if text, ok := asText(data); ok {
		_ = json.Unmarshal(text, &s)
		*t = Text(s)
		return nil
	}
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	return &json.UnmarshalTypeError{Value: "non-scalar", Type: reflect.TypeFor[string]()}
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
	d, err := decodeLog[DNSLog](data, dnsFieldSet)
	if err != nil {
		return DNSLog{}, fmt.Errorf("dns log: %w", err)
	}
	if l := d.Latency; l != nil && d.LatencyCount == 0 && d.LatencyMeanNanos == 0 && d.LatencyMaxNanos == 0 {
		d.LatencyCount, d.LatencyMeanNanos, d.LatencyMaxNanos = l.Count, l.MeanNanos, l.MaxNanos
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
