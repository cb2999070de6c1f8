package calicolog

import (
	"math"
	"sort"
	"strconv"
)

// Value is one field of one record as a filter or an aggregation sees it.
// Str holds a keyword field's value; a numeric field has Numeric set and
// its number in Num (times are epoch seconds, durations nanoseconds).
// Value is comparable, so it can key a map of distinct values.
type Value struct {
	Str     string
	Num     float64
	Numeric bool
}

// String is the value as Elasticsearch returns it as a terms key: a
// keyword as it is, an integer in decimal.
func (v Value) String() string {
	if !v.Numeric {
		return v.Str
	}
	if v.Num == math.Trunc(v.Num) && math.Abs(v.Num) < 1<<63 {
		return strconv.FormatInt(int64(v.Num), 10)
	}
	return strconv.FormatFloat(v.Num, 'f', -1, 64)
}

// StringValue is a keyword value.
func StringValue(s string) Value { return Value{Str: s} }

// NumberValue is a numeric value.
func NumberValue(n float64) Value { return Value{Num: n, Numeric: true} }

// FieldFunc reads one field of a record: ok is false when the record does
// not have it (an empty string, a nil pointer).
type FieldFunc[R any] func(rec *R) (v Value, ok bool)

func str(s string) (Value, bool) {
	if s == "" {
		return Value{}, false
	}
	return Value{Str: s}, true
}

func num(n int64) (Value, bool) { return Value{Num: float64(n), Numeric: true}, true }

func optNum(p *int64) (Value, bool) {
	if p == nil {
		return Value{}, false
	}
	return num(*p)
}

func optStr(p *string) (Value, bool) {
	if p == nil {
		return Value{}, false
	}
	return str(*p)
}

// flowFields reads every keyword and numeric top-level field of a flow log
// by its name in the index.
var flowFields = map[string]FieldFunc[FlowLog]{
	"start_time":                      func(f *FlowLog) (Value, bool) { return num(int64(f.StartTime)) },
	"end_time":                        func(f *FlowLog) (Value, bool) { return num(int64(f.EndTime)) },
	"@timestamp":                      func(f *FlowLog) (Value, bool) { return nonZero(int64(f.Timestamp)) },
	"host":                            func(f *FlowLog) (Value, bool) { return str(f.Host) },
	"action":                          func(f *FlowLog) (Value, bool) { return str(f.Action) },
	"reporter":                        func(f *FlowLog) (Value, bool) { return str(f.Reporter) },
	"proto":                           func(f *FlowLog) (Value, bool) { return str(f.Proto) },
	"source_ip":                       func(f *FlowLog) (Value, bool) { return optStr(f.SourceIP) },
	"source_name":                     func(f *FlowLog) (Value, bool) { return str(f.SourceName) },
	"source_name_aggr":                func(f *FlowLog) (Value, bool) { return str(f.SourceNameAggr) },
	"source_namespace":                func(f *FlowLog) (Value, bool) { return str(f.SourceNamespace) },
	"source_port":                     func(f *FlowLog) (Value, bool) { return optNum(f.SourcePort) },
	"source_type":                     func(f *FlowLog) (Value, bool) { return str(f.SourceType) },
	"dest_ip":                         func(f *FlowLog) (Value, bool) { return optStr(f.DestIP) },
	"dest_name":                       func(f *FlowLog) (Value, bool) { return str(f.DestName) },
	"dest_name_aggr":                  func(f *FlowLog) (Value, bool) { return str(f.DestNameAggr) },
	"dest_namespace":                  func(f *FlowLog) (Value, bool) { return str(f.DestNamespace) },
	"dest_port":                       func(f *FlowLog) (Value, bool) { return optNum(f.DestPort) },
	"dest_type":                       func(f *FlowLog) (Value, bool) { return str(f.DestType) },
	"dest_service_name":               func(f *FlowLog) (Value, bool) { return str(f.DestServiceName) },
	"dest_service_namespace":          func(f *FlowLog) (Value, bool) { return str(f.DestServiceNamespace) },
	"dest_service_port":               func(f *FlowLog) (Value, bool) { return str(f.DestServicePort) },
	"dest_service_port_num":           func(f *FlowLog) (Value, bool) { return optNum(f.DestServicePortNum) },
	"bytes_in":                        func(f *FlowLog) (Value, bool) { return num(f.BytesIn) },
	"bytes_out":                       func(f *FlowLog) (Value, bool) { return num(f.BytesOut) },
	"packets_in":                      func(f *FlowLog) (Value, bool) { return num(f.PacketsIn) },
	"packets_out":                     func(f *FlowLog) (Value, bool) { return num(f.PacketsOut) },
	"num_flows":                       func(f *FlowLog) (Value, bool) { return num(f.NumFlows) },
	"num_flows_started":               func(f *FlowLog) (Value, bool) { return num(f.NumFlowsStarted) },
	"num_flows_completed":             func(f *FlowLog) (Value, bool) { return num(f.NumFlowsCompleted) },
	"http_requests_allowed_in":        func(f *FlowLog) (Value, bool) { return num(f.HTTPRequestsAllowedIn) },
	"http_requests_denied_in":         func(f *FlowLog) (Value, bool) { return num(f.HTTPRequestsDeniedIn) },
	"process_name":                    func(f *FlowLog) (Value, bool) { return str(f.ProcessName) },
	"num_process_names":               func(f *FlowLog) (Value, bool) { return num(f.NumProcessNames) },
	"process_id":                      func(f *FlowLog) (Value, bool) { return str(f.ProcessID) },
	"num_process_ids":                 func(f *FlowLog) (Value, bool) { return num(f.NumProcessIDs) },
	"num_process_args":                func(f *FlowLog) (Value, bool) { return num(f.NumProcessArgs) },
	"num_original_source_ips":         func(f *FlowLog) (Value, bool) { return num(f.NumOriginalSourceIPs) },
	"tcp_mean_smooth_rtt":             func(f *FlowLog) (Value, bool) { return optNum(f.TCPMeanSmoothRTTMicros) },
	"tcp_max_smooth_rtt":              func(f *FlowLog) (Value, bool) { return optNum(f.TCPMaxSmoothRTTMicros) },
	"tcp_total_retransmissions":       func(f *FlowLog) (Value, bool) { return optNum(f.TCPTotalRetransmissions) },
	"tcp_lost_packets":                func(f *FlowLog) (Value, bool) { return optNum(f.TCPLostPackets) },
	"tcp_mean_send_congestion_window": func(f *FlowLog) (Value, bool) { return optNum(f.TCPMeanSendCongestionWindow) },
	"tcp_min_send_congestion_window":  func(f *FlowLog) (Value, bool) { return optNum(f.TCPMinSendCongestionWindow) },
	"tcp_mean_min_rtt":                func(f *FlowLog) (Value, bool) { return optNum(f.TCPMeanMinRTTMicros) },
	"tcp_max_min_rtt":                 func(f *FlowLog) (Value, bool) { return optNum(f.TCPMaxMinRTTMicros) },
	"tcp_mean_mss":                    func(f *FlowLog) (Value, bool) { return optNum(f.TCPMeanMSS) },
	"tcp_min_mss":                     func(f *FlowLog) (Value, bool) { return optNum(f.TCPMinMSS) },
	"tcp_unrecovered_to":              func(f *FlowLog) (Value, bool) { return optNum(f.TCPUnrecoveredTimeouts) },
	"cluster":                         func(f *FlowLog) (Value, bool) { return str(f.Cluster) },
}

func nonZero(n int64) (Value, bool) {
	if n == 0 {
		return Value{}, false
	}
	return num(n)
}

// dnsFields reads every keyword and numeric top-level field of a DNS log.
// Its times read as epoch seconds, like the other logs'.
var dnsFields = map[string]FieldFunc[DNSLog]{
	"start_time":       func(d *DNSLog) (Value, bool) { return unixSeconds(d.StartTime.Unix(), d.StartTime.IsZero()) },
	"end_time":         func(d *DNSLog) (Value, bool) { return unixSeconds(d.EndTime.Unix(), d.EndTime.IsZero()) },
	"type":             func(d *DNSLog) (Value, bool) { return str(d.Type) },
	"count":            func(d *DNSLog) (Value, bool) { return num(d.Count) },
	"client_ip":        func(d *DNSLog) (Value, bool) { return optStr(d.ClientIP) },
	"client_name":      func(d *DNSLog) (Value, bool) { return str(d.ClientName) },
	"client_name_aggr": func(d *DNSLog) (Value, bool) { return str(d.ClientNameAggr) },
	"client_namespace": func(d *DNSLog) (Value, bool) { return str(d.ClientNamespace) },
	"qname":            func(d *DNSLog) (Value, bool) { return str(d.QName) },
	"qclass":           func(d *DNSLog) (Value, bool) { return str(d.QClass) },
	"qtype":            func(d *DNSLog) (Value, bool) { return str(d.QType) },
	"rcode":            func(d *DNSLog) (Value, bool) { return str(d.RCode) },
	"latency_count":    func(d *DNSLog) (Value, bool) { return num(d.LatencyCount) },
	"latency_mean":     func(d *DNSLog) (Value, bool) { return num(d.LatencyMeanNanos) },
	"latency_max":      func(d *DNSLog) (Value, bool) { return num(d.LatencyMaxNanos) },
	"host":             func(d *DNSLog) (Value, bool) { return str(d.Host) },
	"cluster":          func(d *DNSLog) (Value, bool) { return str(d.Cluster) },
}

func unixSeconds(s int64, zero bool) (Value, bool) {
	if zero {
		return Value{}, false
	}
	return num(s)
}

// l7Fields reads every keyword and numeric top-level field of an L7 log.
var l7Fields = map[string]FieldFunc[L7Log]{
	"start_time":             func(l *L7Log) (Value, bool) { return num(int64(l.StartTime)) },
	"end_time":               func(l *L7Log) (Value, bool) { return num(int64(l.EndTime)) },
	"duration_mean":          func(l *L7Log) (Value, bool) { return num(l.DurationMeanNanos) },
	"duration_max":           func(l *L7Log) (Value, bool) { return num(l.DurationMaxNanos) },
	"bytes_in":               func(l *L7Log) (Value, bool) { return num(l.BytesIn) },
	"bytes_out":              func(l *L7Log) (Value, bool) { return num(l.BytesOut) },
	"count":                  func(l *L7Log) (Value, bool) { return num(l.Count) },
	"src_name_aggr":          func(l *L7Log) (Value, bool) { return str(l.SrcNameAggr) },
	"src_namespace":          func(l *L7Log) (Value, bool) { return str(l.SrcNamespace) },
	"src_type":               func(l *L7Log) (Value, bool) { return str(l.SrcType) },
	"dest_name_aggr":         func(l *L7Log) (Value, bool) { return str(l.DestNameAggr) },
	"dest_namespace":         func(l *L7Log) (Value, bool) { return str(l.DestNamespace) },
	"dest_type":              func(l *L7Log) (Value, bool) { return str(l.DestType) },
	"dest_service_name":      func(l *L7Log) (Value, bool) { return str(l.DestServiceName) },
	"dest_service_namespace": func(l *L7Log) (Value, bool) { return str(l.DestServiceNamespace) },
	"dest_service_port":      func(l *L7Log) (Value, bool) { return nonZero(l.DestServicePort) },
	"dest_service_port_name": func(l *L7Log) (Value, bool) { return str(l.DestServicePortName) },
	"dest_port_num":          func(l *L7Log) (Value, bool) { return optNum(l.DestPortNum) },
	"url":                    func(l *L7Log) (Value, bool) { return str(l.URL) },
	"response_code":          func(l *L7Log) (Value, bool) { return str(l.ResponseCode) },
	"method":                 func(l *L7Log) (Value, bool) { return str(l.Method) },
	"user_agent":             func(l *L7Log) (Value, bool) { return str(l.UserAgent) },
	"type":                   func(l *L7Log) (Value, bool) { return str(l.Type) },
	"host":                   func(l *L7Log) (Value, bool) { return str(l.Host) },
	"cluster":                func(l *L7Log) (Value, bool) { return str(l.Cluster) },
}

// The fields a query may read, by log type: decodeLog holds them to their
// types, and drops a misshapen value of any other field.
var (
	flowFieldSet = keySet(flowFields)
	dnsFieldSet  = keySet(dnsFields)
	l7FieldSet   = keySet(l7Fields)
)

// FlowField returns the reader of the flow log field name, so a caller
// that reads one field of many records looks the name up once.
func FlowField(name string) (FieldFunc[FlowLog], bool) {
	g, ok := flowFields[name]
	return g, ok
}

// DNSField returns the reader of the DNS log field name.
func DNSField(name string) (FieldFunc[DNSLog], bool) {
	g, ok := dnsFields[name]
	return g, ok
}

// L7Field returns the reader of the L7 log field name.
func L7Field(name string) (FieldFunc[L7Log], bool) {
	g, ok := l7Fields[name]
	return g, ok
}

// Field returns the flow log field name (as named in the index); ok is
// false when the record lacks it or no such field is known. An aggregated
// value ("-") is returned as it is.
func (f *FlowLog) Field(name string) (Value, bool) {
	if g, ok := flowFields[name]; ok {
		return g(f)
	}
	return Value{}, false
}

// Field returns the DNS log field name; times read as epoch seconds.
func (d *DNSLog) Field(name string) (Value, bool) {
	if g, ok := dnsFields[name]; ok {
		return g(d)
	}
	return Value{}, false
}

// Field returns the L7 log field name.
func (l *L7Log) Field(name string) (Value, bool) {
	if g, ok := l7Fields[name]; ok {
		return g(l)
	}
	return Value{}, false
}

// FieldNames lists, sorted, the fields of log type t that Field reads:
// the ones a query may group, filter or aggregate on.
func FieldNames(t LogType) []string {
	var names []string
	switch t {
	case Flows:
		names = keys(flowFields)
	case DNS:
		names = keys(dnsFields)
	case L7:
		names = keys(l7Fields)
	}
	sort.Strings(names)
	return names
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
