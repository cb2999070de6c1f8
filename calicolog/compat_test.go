package calicolog

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// A DNS record with an EDNS OPT answer, whose class Calico writes as the
// UDP payload size (a number), decodes; the class is kept as its text.
func TestDNSRecordWithEDNSOptClassDecodes(t *testing.T) {
	d, err := DecodeDNSLog(readTestdata(t, "dns_edns.json"))
	if err != nil {
		t.Fatalf("a real DNS record refused: %v", err)
	}
	var classes []Text
	for _, rr := range d.RRSets {
		classes = append(classes, rr.Class)
	}
	if want := []Text{"IN", "1232"}; !slices.Equal(classes, want) {
		t.Errorf("rrsets classes %q, want %q", classes, want)
	}
	if d.QName != "frontend.hipstershop.svc.cluster.local" || d.ClientNameAggr != "loadgenerator-6b7c6d48f9-*" || d.LatencyMaxNanos != 1204000 {
		t.Errorf("read fields lost: %+v", d)
	}
}

// evidenceOnly lists the top-level fields of T's JSON that no query reads.
func evidenceOnly[T any](read map[string]bool) []string {
	var out []string
	rt := reflect.TypeFor[T]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" && !read[name] {
			out = append(out, name)
		}
	}
	return out
}

// oddValues are values of every JSON shape, none of them what Calico
// writes in any one field.
var oddValues = []string{`1232`, `-1.5e300`, `"text"`, `true`, `null`, `{"a":[1,{"b":null}]}`, `[1,"x",{"k":false},[]]`, `[{"class":1232,"rdata":"x"}]`, `{"labels":[1,2]}`}

// Fields the detectors do not read never make a record malformed, whatever
// their shape, and leave the fields that are read as they were.
func TestUnreadFieldsNeverMakeMalformed(t *testing.T) {
	type logCase struct {
		file   string
		fields []string
		decode func([]byte) (map[string]Value, error)
		read   []string
	}
	flowRead := func(b []byte) (map[string]Value, error) {
		f, err := DecodeFlowLog(b)
		return fieldValues(&f, []string{"source_name_aggr", "dest_port", "bytes_out", "end_time"}, (*FlowLog).Field), err
	}
	dnsRead := func(b []byte) (map[string]Value, error) {
		d, err := DecodeDNSLog(b)
		return fieldValues(&d, []string{"qname", "client_name_aggr", "latency_max", "end_time"}, (*DNSLog).Field), err
	}
	l7Read := func(b []byte) (map[string]Value, error) {
		l, err := DecodeL7Log(b)
		return fieldValues(&l, []string{"dest_service_name", "response_code", "count", "end_time"}, (*L7Log).Field), err
	}
	cases := []logCase{
		{"flow_policies_tcp.json", append(evidenceOnly[FlowLog](flowFieldSet), "nat_outgoing_ports", "a_field_of_a_newer_calico"), flowRead, nil},
		{"dns_edns.json", append(evidenceOnly[DNSLog](dnsFieldSet), "a_field_of_a_newer_calico"), dnsRead, nil},
		{"l7_ports.json", append(evidenceOnly[L7Log](l7FieldSet), "a_field_of_a_newer_calico"), l7Read, nil},
	}
	for _, lc := range cases {
		want, err := lc.decode(readTestdata(t, lc.file))
		if err != nil {
			t.Fatalf("%s: %v", lc.file, err)
		}
		for _, field := range lc.fields {
			for _, odd := range oddValues {
				doc := edited(t, lc.file, withField(field, json.RawMessage(odd)))
				got, err := lc.decode(doc)
				if err != nil {
					t.Errorf("%s with %s=%s: malformed: %v", lc.file, field, odd, err)
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s with %s=%s: read fields %v, want %v", lc.file, field, odd, got, want)
				}
			}
		}
	}
}

func fieldValues[R any](r *R, names []string, field func(*R, string) (Value, bool)) map[string]Value {
	out := map[string]Value{}
	for _, n := range names {
		if v, ok := field(r, n); ok {
			out[n] = v
		}
	}
	return out
}

// A keyword written as a number reads as its text.
func TestKeywordWrittenAsNumberReadsAsText(t *testing.T) {
	l, err := DecodeL7Log(edited(t, "l7_ports.json", withField("response_code", 503)))
	if err != nil || l.ResponseCode != "503" {
		t.Errorf("response_code 503 as a number: %q, %v", l.ResponseCode, err)
	}
}

// Fields Calico writes that evidence and explanations can use are kept:
// flow policies split by how they applied and every TCP statistic, DNS's
// nested latency, L7's destination port and service port name.
func TestDecodeKeepsWhatEvidenceCanUse(t *testing.T) {
	f, err := DecodeFlowLog(readTestdata(t, "flow_policies_tcp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Policies == nil || len(f.Policies.EnforcedPolicies) != 1 || len(f.Policies.PendingPolicies) != 1 ||
		!strings.Contains(f.Policies.PendingPolicies[0], "staged:default.deny-cart") {
		t.Errorf("policies = %+v", f.Policies)
	}
	for name, want := range map[string]float64{
		"tcp_mean_send_congestion_window": 10, "tcp_min_send_congestion_window": 10, "tcp_mean_min_rtt": 310,
		"tcp_max_min_rtt": 640, "tcp_mean_mss": 1448, "tcp_min_mss": 1448, "tcp_unrecovered_to": 0,
	} {
		if v, ok := f.Field(name); !ok || v.Num != want {
			t.Errorf("flow %s = %v (%v), want %v", name, v, ok, want)
		}
	}
	d, err := DecodeDNSLog(readTestdata(t, "dns_nested_latency.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Latency == nil || d.LatencyCount != 2 || d.LatencyMeanNanos != 2400000 || d.LatencyMaxNanos != 3100000 {
		t.Errorf("DNS nested latency: %+v, top-level %d %d %d", d.Latency, d.LatencyCount, d.LatencyMeanNanos, d.LatencyMaxNanos)
	}
	l, err := DecodeL7Log(readTestdata(t, "l7_ports.json"))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := l.Field("dest_port_num"); !ok || v.Num != 5050 {
		t.Errorf("l7 dest_port_num = %v %v", v, ok)
	}
	if v, ok := l.Field("dest_service_port_name"); !ok || v.Str != "grpc" {
		t.Errorf("l7 dest_service_port_name = %v %v", v, ok)
	}
}

// FuzzUnreadFieldsNeverMakeMalformed sets a field no query reads (picked
// by index, or one this exporter does not know) of a real record to any
// JSON value: the record must still decode.
func FuzzUnreadFieldsNeverMakeMalformed(f *testing.F) {
	for i, v := range oddValues {
		f.Add(uint8(i), []byte(v))
	}
	f.Add(uint8(3), []byte(`{"class":1232}`))
	f.Add(uint8(200), []byte(`[[[[]]]]`))
	files := []string{"flow_policies_tcp.json", "dns_edns.json", "l7_ports.json"}
	decoders := []func([]byte) error{
		func(b []byte) error { _, err := DecodeFlowLog(b); return err },
		func(b []byte) error { _, err := DecodeDNSLog(b); return err },
		func(b []byte) error { _, err := DecodeL7Log(b); return err },
	}
	fields := [][]string{
		append(evidenceOnly[FlowLog](flowFieldSet), "unknown_field"),
		append(evidenceOnly[DNSLog](dnsFieldSet), "unknown_field"),
		append(evidenceOnly[L7Log](l7FieldSet), "unknown_field"),
	}
	f.Fuzz(func(t *testing.T, pick uint8, value []byte) {
		if !json.Valid(value) {
			return
		}
		for i, file := range files {
			field := fields[i][int(pick)%len(fields[i])]
			doc := edited(t, file, withField(field, json.RawMessage(value)))
			if err := decoders[i](doc); err != nil {
				t.Fatalf("%s with %s=%s: %v", file, field, value, err)
			}
		}
	})
}
