package calicolog

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// readTestdata returns the recorded document testdata/name.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edited returns the document testdata/name with edit applied to its
// top-level fields; numbers are kept exactly as written.
func edited(t testing.TB, name string, edit func(doc map[string]any)) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(readTestdata(t, name)))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	edit(doc)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func withField(field string, v any) func(map[string]any) {
	return func(d map[string]any) { d[field] = v }
}

func withoutFields(fields ...string) func(map[string]any) {
	return func(d map[string]any) {
		for _, f := range fields {
			delete(d, f)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

var (
	// The real record CALICO.md quotes: 313 s ending at 2023-02-04T00:03:21Z.
	recordedFlowStart = time.Date(2023, 2, 3, 23, 58, 8, 0, time.UTC)
	recordedFlowEnd   = time.Date(2023, 2, 4, 0, 3, 21, 0, time.UTC)
)

func TestDecodeFlowLogReadsRecordedDocuments(t *testing.T) {
	tests := []struct {
		name string
		file string
		want FlowLog
	}{
		{"a pod-to-pod flow keeps every field", "flow.json", FlowLog{
			StartTime: 1675468688, EndTime: 1675469001, Timestamp: 1675469001000,
			Host: "ip-10-0-1-23.ec2.internal", Action: "allow", Reporter: "src", Proto: "tcp",
			SourceIP: ptrTo("192.168.45.7"), SourceName: "frontend-7d9c8f6b5-x2k4p", SourceNameAggr: "frontend-7d9c8f6b5-*",
			SourceNamespace: "hipstershop", SourcePort: ptrTo[int64](43822), SourceType: TypeWorkload,
			SourceLabels: &LabelList{Labels: []string{"app=frontend", "pod-template-hash=7d9c8f6b5", "projectcalico.org/namespace=hipstershop"}},
			DestIP:       ptrTo("192.168.12.40"), DestName: "cartservice-5b8c7c8d6f-q7wlm", DestNameAggr: "cartservice-5b8c7c8d6f-*",
			DestNamespace: "hipstershop", DestPort: ptrTo[int64](7070), DestType: TypeWorkload,
			DestLabels:      &LabelList{Labels: []string{"app=cartservice", "pod-template-hash=5b8c7c8d6f"}},
			DestDomains:     []string{"cartservice.hipstershop.svc.cluster.local"},
			DestServiceName: "cartservice", DestServiceNamespace: "hipstershop", DestServicePort: "grpc", DestServicePortNum: ptrTo[int64](7070),
			BytesIn: 51234, BytesOut: 20480, PacketsIn: 88, PacketsOut: 61, NumFlows: 4, NumFlowsStarted: 3, NumFlowsCompleted: 2,
			ProcessName: "/src/server", NumProcessNames: 1, ProcessID: "2381", NumProcessIDs: 1,
			ProcessArgs: []string{"/src/server", "--port=8080"}, NumProcessArgs: 2,
			OriginalSourceIPs: []string{"203.0.113.9"}, NumOriginalSourceIPs: 1,
			Policies:               &PolicyList{AllPolicies: []string{"0|default|hipstershop/default.allow-frontend-to-cart|allow|0"}},
			TCPMeanSmoothRTTMicros: ptrTo[int64](1250), TCPMaxSmoothRTTMicros: ptrTo[int64](3400),
			TCPTotalRetransmissions: ptrTo[int64](1), TCPLostPackets: ptrTo[int64](0),
		}},
		{"an aggregated flow has no pod name, IP or port, and aggregated processes", "flow_aggregated.json", FlowLog{
			StartTime: 1675468688, EndTime: 1675469001, Timestamp: 1675469001000,
			Host: "ip-10-0-1-23.ec2.internal", Action: "deny", Reporter: "dst", Proto: "tcp",
			SourceIP: nil, SourceName: Aggregated, SourceNameAggr: "nginx-86c57db685-*", SourceNamespace: "default",
			SourcePort: nil, SourceType: TypeWorkload,
			SourceLabels: &LabelList{Labels: []string{"app=nginx", "pod-template-hash=86c57db685"}},
			DestIP:       nil, DestName: Aggregated, DestNameAggr: NamePublic, DestNamespace: Aggregated,
			DestPort: ptrTo[int64](443), DestType: TypeNetwork,
			BytesOut: 3120, PacketsOut: 52, NumFlows: 13, NumFlowsStarted: 13, NumFlowsCompleted: 13,
			ProcessName: "*", NumProcessNames: 2, ProcessID: "*", NumProcessIDs: 5, ProcessArgs: []string{"*"}, NumProcessArgs: 3,
			Policies: &PolicyList{AllPolicies: []string{"0|__PROFILE__|__PROFILE__.kns.default|deny|-1"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeFlowLog(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DecodeFlowLog(%s) =\n%+v\nwant\n%+v", tc.file, got, tc.want)
			}
		})
	}
}

func TestFlowLogUnits(t *testing.T) {
	f, err := DecodeFlowLog(readTestdata(t, "flow.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"start_time is epoch seconds", f.StartTime.Time(), recordedFlowStart},
		{"end_time is epoch seconds", f.EndTime.Time(), recordedFlowEnd},
		{"the record covers 313 s, not an aligned 5 minutes", f.EndTime.Time().Sub(f.StartTime.Time()), 313 * time.Second},
		{"@timestamp is epoch milliseconds of the same end", f.Timestamp.Time(), recordedFlowEnd},
		{"times are in UTC", f.EndTime.Time().Location(), time.UTC},
		{"a namespace is returned as it is", f.SourceNamespaceOrNone(), "hipstershop"},
	}
	agg, err := DecodeFlowLog(readTestdata(t, "flow_aggregated.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests = append(tests, struct {
		name      string
		got, want any
	}{"a namespace of - reads as not namespaced", (&FlowLog{SourceNamespace: agg.DestNamespace}).SourceNamespaceOrNone(), ""})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestDecodeDNSLogReadsRecordedDocument(t *testing.T) {
	want := DNSLog{
		StartTime: time.Date(2023, 2, 4, 0, 3, 8, 123456789, time.UTC),
		EndTime:   time.Date(2023, 2, 4, 0, 8, 21, 987654321, time.UTC),
		Type:      "log", Count: 12,
		ClientIP: nil, ClientName: Aggregated, ClientNameAggr: "frontend-7d9c8f6b5-*", ClientNamespace: "hipstershop",
		ClientLabels: map[string]string{"app": "frontend", "pod-template-hash": "7d9c8f6b5"},
		QName:        "productcatalogservice.hipstershop.svc.cluster.local", QClass: "IN", QType: "A", RCode: "NoError",
		RRSets:       []RRSet{{Name: "productcatalogservice.hipstershop.svc.cluster.local", Class: "IN", Type: "A", RData: []string{"10.96.142.17"}}},
		Servers:      []DNSServer{{IP: "192.168.3.10", Name: "coredns-565d847f94-9rpxh", NameAggr: "coredns-565d847f94-*", Namespace: "kube-system"}},
		LatencyCount: 12, LatencyMeanNanos: 452000, LatencyMaxNanos: 1830000,
		Host: "ip-10-0-1-23.ec2.internal",
	}
	got, err := DecodeDNSLog(readTestdata(t, "dns.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeDNSLog(dns.json) =\n%+v\nwant\n%+v", got, want)
	}
	units := []struct {
		name      string
		got, want any
	}{
		{"times keep their nanoseconds", got.StartTime.Nanosecond(), 123456789},
		{"the record spans its RFC 3339 times", got.EndTime.Sub(got.StartTime), 5*time.Minute + 13*time.Second + 864197532*time.Nanosecond},
		{"mean latency is nanoseconds (452 µs)", time.Duration(got.LatencyMeanNanos), 452 * time.Microsecond},
		{"max latency is nanoseconds (1.83 ms)", time.Duration(got.LatencyMaxNanos), 1830 * time.Microsecond},
	}
	for _, tc := range units {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestDecodeL7LogReadsRecordedDocument(t *testing.T) {
	want := L7Log{
		StartTime: 1675468688, EndTime: 1675469001, DurationMeanNanos: 3500000, DurationMaxNanos: 21000000,
		BytesIn: 18432, BytesOut: 96540, Count: 47,
		SrcNameAggr: "frontend-7d9c8f6b5-*", SrcNamespace: "hipstershop", SrcType: TypeWorkload,
		DestNameAggr: "productcatalogservice-6b654dbf57-*", DestNamespace: "hipstershop", DestType: TypeWorkload,
		DestServiceName: "productcatalogservice", DestServiceNamespace: "hipstershop", DestServicePort: 3550,
		URL:          "productcatalogservice.hipstershop.svc.cluster.local:3550/hipstershop.ProductCatalogService/ListProducts",
		ResponseCode: "200", Method: "POST", UserAgent: "grpc-go/1.31.0", Type: "html/1.1", Host: "ip-10-0-1-23.ec2.internal",
	}
	got, err := DecodeL7Log(readTestdata(t, "l7.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeL7Log(l7.json) =\n%+v\nwant\n%+v", got, want)
	}
	units := []struct {
		name      string
		got, want any
	}{
		{"end_time is epoch seconds", got.EndTime.Time(), recordedFlowEnd},
		{"mean duration is nanoseconds (3.5 ms)", time.Duration(got.DurationMeanNanos), 3500 * time.Microsecond},
		{"max duration is nanoseconds (21 ms)", time.Duration(got.DurationMaxNanos), 21 * time.Millisecond},
	}
	for _, tc := range units {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestDecodeEventReadsRecordedDocuments(t *testing.T) {
	tests := []struct {
		name string
		file string
		want Event
	}{
		{"an anomaly event with its time in epoch seconds", "event.json", Event{
			Time: EventTime{recordedFlowEnd}, Type: EventTypeAnomaly,
			Description: "port_scan detector found anomalies. Source hipstershop/frontend-7d9c8f6b5-* connected to 612 distinct ports in 5 minutes.",
			Severity:    100, Origin: "port_scan", Dismissed: false, Name: "port_scan",
			SourceNamespace: "hipstershop", SourceNameAggr: "frontend-7d9c8f6b5-*",
			DestNamespace: "payments", DestNameAggr: "postgres-0", DestPort: ptrTo[int64](5432),
			Host: "ip-10-0-1-23.ec2.internal", Protocol: "tcp",
			AttackVector: "Network", MitreTactic: "Discovery", MitreIDs: []string{"T1046"},
			Mitigations: []string{"Review the workload's network policy and restrict egress to the ports it needs"},
			Record: map[string]any{"flows": []any{map[string]any{
				"source_namespace": "hipstershop", "source_name_aggr": "frontend-7d9c8f6b5-*",
				"start_time": float64(1675468700), "end_time": float64(1675469001), "distinct_dest_ports": float64(612),
			}}},
		}},
		{"an event with its time as an ISO 8601 string", "event_iso_time.json", Event{
			Time: EventTime{recordedFlowEnd}, Type: EventTypeAnomaly,
			Description: "dga detector found anomalies. Client default/nginx-86c57db685-* queried names that look machine-generated.",
			Severity:    70, Origin: "dga", Dismissed: true,
			SourceIP: ptrTo("192.168.45.9"), SourceNamespace: "default", SourceName: "nginx-86c57db685-8mvzl", SourceNameAggr: "nginx-86c57db685-*",
			AttackVector: "Network", MitreTactic: "Command and Control", MitreIDs: []string{"T1568.002"},
			Record: map[string]any{"dns": []any{map[string]any{
				"client_namespace": "default", "client_name_aggr": "nginx-86c57db685-*", "qname": "xjw8q2lkd0pz.example.com", "score": 0.93,
			}}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeEvent(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DecodeEvent(%s) =\n%+v\nwant\n%+v", tc.file, got, tc.want)
			}
		})
	}
}

// decodeErrorOf runs each Decode function for its error only.
var decodeErrorOf = map[string]func([]byte) error{
	"flow log": func(b []byte) error { _, err := DecodeFlowLog(b); return err },
	"dns log":  func(b []byte) error { _, err := DecodeDNSLog(b); return err },
	"l7 log":   func(b []byte) error { _, err := DecodeL7Log(b); return err },
	"event":    func(b []byte) error { _, err := DecodeEvent(b); return err },
}

var recordFiles = map[string]string{"flow log": "flow.json", "dns log": "dns.json", "l7 log": "l7.json", "event": "event.json"}

func TestDecodeValidationErrorNamesTheField(t *testing.T) {
	tests := []struct {
		name      string
		record    string
		edit      func(map[string]any)
		wantField string
	}{
		{"a flow without end_time", "flow log", withoutFields("end_time"), "end_time"},
		{"a flow ending at the epoch", "flow log", withField("end_time", 0), "end_time"},
		{"a flow that starts after it ends", "flow log", withField("start_time", 1675469002), "start_time"},
		{"a flow without source_name_aggr", "flow log", withoutFields("source_name_aggr"), "source_name_aggr"},
		{"a flow with an empty dest_name_aggr", "flow log", withField("dest_name_aggr", ""), "dest_name_aggr"},
		{"a flow from a source_type Calico does not write", "flow log", withField("source_type", "pod"), "source_type"},
		{"a flow to a dest_type Calico does not write", "flow log", withField("dest_type", "WEP"), "dest_type"},
		{"a flow reported by neither src nor dst", "flow log", withField("reporter", "both"), "reporter"},
		{"a flow without a reporter", "flow log", withoutFields("reporter"), "reporter"},
		{"a flow with a negative bytes_out counter", "flow log", withField("bytes_out", -1), "bytes_out"},
		{"a flow with a negative packets_in counter", "flow log", withField("packets_in", -20), "packets_in"},
		{"a flow with a negative num_flows counter", "flow log", withField("num_flows", -3), "num_flows"},
		{"a flow to dest_port 65536", "flow log", withField("dest_port", 65536), "dest_port"},
		{"a flow to dest_port -1", "flow log", withField("dest_port", -1), "dest_port"},

		{"a DNS record without end_time", "dns log", withoutFields("end_time"), "end_time"},
		{"a DNS record that starts after it ends", "dns log", withField("start_time", "2023-02-04T00:08:22Z"), "start_time"},
		{"a DNS record without client_name_aggr", "dns log", withoutFields("client_name_aggr"), "client_name_aggr"},
		{"a DNS record without qname", "dns log", withoutFields("qname"), "qname"},
		{"a DNS record with an empty qname", "dns log", withField("qname", ""), "qname"},
		{"a DNS record with a negative latency", "dns log", withField("latency_max", -1), "latency_"},

		{"an L7 record without end_time", "l7 log", withoutFields("end_time"), "end_time"},
		{"an L7 record that starts after it ends", "l7 log", withField("start_time", 1675469002), "start_time"},
		{"an L7 record without a destination", "l7 log", withoutFields("dest_name_aggr", "dest_service_name"), "dest_name_aggr"},
		{"an L7 record with a negative duration", "l7 log", withField("duration_mean", -5), "duration_"},

		{"an event with severity 101", "event", withField("severity", 101), "severity"},
		{"an event with a negative severity", "event", withField("severity", -1), "severity"},
		{"an event without time", "event", withoutFields("time"), "time"},
		{"an event without type", "event", withoutFields("type"), "type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeErrorOf[tc.record](edited(t, recordFiles[tc.record], tc.edit))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error = %v, want a *FieldError", err)
			}
			if fe.Record != tc.record || !strings.Contains(fe.Field, tc.wantField) {
				t.Errorf("error names %s field %q, want %s field %q", fe.Record, fe.Field, tc.record, tc.wantField)
			}
			if !strings.Contains(err.Error(), tc.wantField) || !strings.HasPrefix(err.Error(), tc.record+": ") {
				t.Errorf("error %q does not read %q and name %q", err, tc.record+": ...", tc.wantField)
			}
		})
	}
}

func TestDecodeTypeErrorNamesTheField(t *testing.T) {
	tests := []struct {
		name      string
		record    string
		edit      func(map[string]any)
		wantField string
	}{
		{"a flow to dest_port \"abc\"", "flow log", withField("dest_port", "abc"), "dest_port"},
		{"a flow with bytes_out \"lots\"", "flow log", withField("bytes_out", "lots"), "bytes_out"},
		{"a flow with a fractional packets_in", "flow log", withField("packets_in", 1.5), "packets_in"},
		{"a flow ending \"yesterday\"", "flow log", withField("end_time", "yesterday"), "end_time"},
		{"a flow ending before the epoch", "flow log", withField("end_time", -5), "end_time"},
		{"a flow with a null start_time", "flow log", withField("start_time", nil), "start_time"},
		{"a flow with @timestamp true", "flow log", withField("@timestamp", true), "@timestamp"},
		{"a DNS record with count \"12\"", "dns log", withField("count", "12"), "count"},
		{"a DNS record ending in epoch seconds", "dns log", withField("end_time", 1675469001), "end_time"},
		{"a DNS record starting \"yesterday\"", "dns log", withField("start_time", "yesterday"), "start_time"},
		{"an L7 record ending \"soon\"", "l7 log", withField("end_time", "soon"), "end_time"},
		{"an event with severity \"high\"", "event", withField("severity", "high"), "severity"},
		{"an event at time \"yesterday\"", "event", withField("time", "yesterday"), "time"},
		{"an event whose record is a string", "event", withField("record", "evidence"), "record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeErrorOf[tc.record](edited(t, recordFiles[tc.record], tc.edit))
			if err == nil {
				t.Fatal("decoded without error")
			}
			if want := `field "` + tc.wantField + `"`; !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), tc.record+": ") {
				t.Errorf("error %q does not read %q and name %s", err, tc.record+": ...", want)
			}
		})
	}
}

func TestDecodeAcceptsWhatCalicoWrites(t *testing.T) {
	tests := []struct {
		name   string
		record string
		edit   func(map[string]any)
	}{
		{"a flow from a host endpoint", "flow log", withField("source_type", TypeHost)},
		{"a flow to a network set", "flow log", withField("dest_type", TypeNetSet)},
		{"a flow of one instant", "flow log", withField("start_time", 1675469001)},
		{"a flow without optional TCP stats, labels or policies", "flow log", withoutFields("tcp_mean_smooth_rtt", "tcp_max_smooth_rtt", "tcp_total_retransmissions", "tcp_lost_packets", "source_labels", "dest_labels", "policies")},
		{"a flow with a null dest_port", "flow log", withField("dest_port", nil)},
		{"a flow to the top port 65535", "flow log", withField("dest_port", 65535)},
		{"a flow with a field this exporter does not know", "flow log", withField("nat_outgoing_ports", []any{31000})},
		{"a flow with a label that is not a string (labels are evidence only)", "flow log", withField("source_labels", map[string]any{"labels": []any{1}})},
		{"a DNS record whose rdata is not a list (answers are evidence only)", "dns log", withField("rrsets", []any{map[string]any{"rdata": "10.0.0.1"}})},
		{"a DNS record with an EDNS OPT answer of class 1232", "dns log", withField("rrsets", []any{map[string]any{"name": "", "class": 1232, "type": "OPT", "rdata": []any{}}})},
		{"an L7 record with response_code 200 as a number", "l7 log", withField("response_code", 200)},
		{"a flow in the single-index layout with a cluster", "flow log", withField("cluster", "prod-eu")},
		{"a DNS record with an offset time zone", "dns log", withField("end_time", "2023-02-04T01:08:21.987654321+01:00")},
		{"a DNS record without rrsets (NXDomain)", "dns log", func(d map[string]any) { delete(d, "rrsets"); d["rcode"] = "NXDomain" }},
		{"an L7 record naming only its destination service", "l7 log", withoutFields("dest_name_aggr")},
		{"an event with severity 0", "event", withField("severity", 0)},
		{"an event without a record", "event", withoutFields("record")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := decodeErrorOf[tc.record](edited(t, recordFiles[tc.record], tc.edit)); err != nil {
				t.Errorf("error = %v, want none", err)
			}
		})
	}
}

func TestEpochSecondsDecodes(t *testing.T) {
	tests := []struct {
		name string
		json string
		want EpochSeconds
	}{
		{"an integer", `1675469001`, 1675469001},
		{"a float with a zero fraction", `1675469001.0`, 1675469001},
		{"a float drops its fraction", `1675469001.75`, 1675469001},
		{"an exponent", `1.675469001e9`, 1675469001},
		{"a quoted integer", `"1675469001"`, 1675469001},
		{"a quoted float", `"1675469001.5"`, 1675469001},
		{"surrounding spaces", ` 1675469001 `, 1675469001},
		{"the epoch itself", `0`, 0},
		{"the last second in range", `100000000000`, 100000000000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got EpochSeconds
			if err := got.UnmarshalJSON([]byte(tc.json)); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s decoded to %d, want %d", tc.json, got, tc.want)
			}
			// And inside a document, end_time in particular.
			f, err := DecodeFlowLog(edited(t, "flow.json", func(d map[string]any) {
				d["start_time"] = 0
				d["end_time"] = json.RawMessage(tc.json)
			}))
			if tc.want == 0 {
				return // end_time 0 is refused as missing, tested above
			}
			if err != nil || f.EndTime != tc.want {
				t.Errorf("flow end_time %s = %d, %v; want %d", tc.json, f.EndTime, err, tc.want)
			}
		})
	}
}

func TestEpochSecondsRefuses(t *testing.T) {
	tests := []struct {
		name string
		json string
	}{
		{"a negative time", `-1`},
		{"a time past epoch second 1e11", `100000000001`},
		{"a word", `"yesterday"`},
		{"an RFC 3339 string", `"2023-02-04T00:03:21Z"`},
		{"a quoted NaN", `"NaN"`},
		{"a quoted infinity", `"+Inf"`},
		{"null", `null`},
		{"a boolean", `true`},
		{"an empty string", `""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s EpochSeconds
			if err := s.UnmarshalJSON([]byte(tc.json)); err == nil {
				t.Errorf("%s decoded to %d, want an error", tc.json, s)
			}
			var m EpochMillis
			if err := m.UnmarshalJSON([]byte(tc.json)); err == nil && tc.json != `100000000001` {
				t.Errorf("%s decoded to %d epoch milliseconds, want an error", tc.json, m)
			}
		})
	}
}

func TestEpochTimesEncodeAsIntegers(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"epoch seconds", EpochSeconds(1675469001), `1675469001`},
		{"epoch milliseconds", EpochMillis(1675469001000), `1675469001000`},
		{"an event time as epoch seconds", EventTime{recordedFlowEnd}, `1675469001`},
		{"an event time drops its fraction of a second", EventTime{recordedFlowEnd.Add(999 * time.Millisecond)}, `1675469001`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("json.Marshal(%v) = %s, want %s", tc.v, b, tc.want)
			}
		})
	}
}

func TestEventTimeRoundTrips(t *testing.T) {
	tests := []struct {
		name string
		json string
		want time.Time
	}{
		{"epoch seconds", `1675469001`, recordedFlowEnd},
		{"epoch seconds as a float", `1675469001.0`, recordedFlowEnd},
		{"epoch seconds quoted", `"1675469001"`, recordedFlowEnd},
		{"an ISO 8601 string in UTC", `"2023-02-04T00:03:21Z"`, recordedFlowEnd},
		{"an ISO 8601 string with an offset reads as UTC", `"2023-02-04T01:03:21+01:00"`, recordedFlowEnd},
		{"an ISO 8601 string with nanoseconds", `"2023-02-04T00:03:21.123456789Z"`, recordedFlowEnd.Add(123456789)},
		{"the epoch", `0`, time.Unix(0, 0).UTC()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var et EventTime
			if err := json.Unmarshal([]byte(tc.json), &et); err != nil {
				t.Fatal(err)
			}
			if !et.Equal(tc.want) || et.Location() != time.UTC {
				t.Fatalf("%s decoded to %v, want %v in UTC", tc.json, et.Time, tc.want)
			}
			b, err := json.Marshal(et)
			if err != nil {
				t.Fatal(err)
			}
			var again EventTime
			if err := json.Unmarshal(b, &again); err != nil {
				t.Fatalf("re-reading %s: %v", b, err)
			}
			if want := tc.want.Truncate(time.Second); !again.Equal(want) {
				t.Errorf("%s encoded as %s, read back as %v; want %v (whole seconds)", tc.json, b, again.Time, want)
			}
		})
	}
}

func TestEventTimeRefusesWhatItCannotWriteBack(t *testing.T) {
	tests := []struct {
		name string
		json string
	}{
		{"an ISO time before 1970", `"1969-12-31T23:59:59Z"`},
		{"an ISO time in year 0", `"0000-01-01T00:00:00Z"`},
		{"an ISO time past epoch second 1e11", `"9999-12-31T23:59:59Z"`},
		{"negative epoch seconds", `-1`},
		{"a word", `"yesterday"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var et EventTime
			if err := json.Unmarshal([]byte(tc.json), &et); err == nil {
				t.Errorf("%s decoded to %v, want an error", tc.json, et.Time)
			}
		})
	}
}
