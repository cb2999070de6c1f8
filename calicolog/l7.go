package calicolog

import (
	"fmt"
)

// L7Log is one Calico L7 (HTTP) log record. Times are epoch seconds;
// durations are nanoseconds; bytes are bytes.
type L7Log struct {
	StartTime         EpochSeconds `json:"start_time"`
	EndTime           EpochSeconds `json:"end_time"`
	DurationMeanNanos int64        `json:"duration_mean"`
	DurationMaxNanos  int64        `json:"duration_max"`
	BytesIn           int64        `json:"bytes_in"`
	BytesOut          int64        `json:"bytes_out"`
	Count             int64        `json:"count"`

	SrcNameAggr  string `json:"src_name_aggr"`
	SrcNamespace string `json:"src_namespace"`
	SrcType      string `json:"src_type"`

	DestNameAggr         string `json:"dest_name_aggr"`
	DestNamespace        string `json:"dest_namespace"`
	DestType             string `json:"dest_type"`
	DestServiceName      string `json:"dest_service_name,omitempty"`
	DestServiceNamespace string `json:"dest_service_namespace,omitempty"`
	DestServicePort      int64  `json:"dest_service_port,omitempty"`
	// DestServicePortName is the name of the service port (http).
	DestServicePortName string `json:"dest_service_port_name,omitempty"`
	// DestPortNum is the port the request reached on the workload.
	DestPortNum *int64 `json:"dest_port_num,omitempty"`

	URL          string `json:"url,omitempty"`
	ResponseCode string `json:"response_code,omitempty"`
	Method       string `json:"method,omitempty"`
	UserAgent    string `json:"user_agent,omitempty"`
	Type         string `json:"type,omitempty"`
	Host         string `json:"host,omitempty"`
	Cluster      string `json:"cluster,omitempty"`
}

// DecodeL7Log decodes and validates one L7 log document (its _source).
func DecodeL7Log(data []byte) (L7Log, error) {
	l, err := decodeLog[L7Log](data, l7FieldSet)
	if err != nil {
		return L7Log{}, fmt.Errorf("l7 log: %w", err)
	}
	if err := l.Validate(); err != nil {
		return L7Log{}, err
	}
	return l, nil
}

// Validate reports the first field that breaks Calico's L7 log contract.
func (l *L7Log) Validate() error {
	switch {
	case l.EndTime <= 0:
		return fieldError("l7 log", "end_time", "missing or zero")
	case l.StartTime > l.EndTime:
		return fieldError("l7 log", "start_time", "after end_time")
	case l.DestNameAggr == "" && l.DestServiceName == "":
		return fieldError("l7 log", "dest_name_aggr", "missing (and no dest_service_name)")
	case l.Count < 0 || l.BytesIn < 0 || l.BytesOut < 0 || l.DurationMeanNanos < 0 || l.DurationMaxNanos < 0:
		return fieldError("l7 log", "count/bytes_*/duration_*", "negative value")
	}
	return nil
}
