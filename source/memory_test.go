package source

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

var (
	t0  = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	win = Window{Start: t0, End: t0.Add(5 * time.Minute)}
)

func flow(srcNS, srcAggr string, destIP string, port int64, end time.Time, bytesOut int64) calicolog.FlowLog {
	ip := destIP
	return calicolog.FlowLog{
		StartTime: calicolog.EpochSeconds(end.Add(-300 * time.Second).Unix()), EndTime: calicolog.EpochSeconds(end.Unix()),
		Action: "allow", Reporter: "src", SourceNamespace: srcNS, SourceNameAggr: srcAggr, SourceName: "-", SourceType: "wep",
		DestIP: &ip, DestPort: &port, DestNamespace: "db", DestNameAggr: "pg-*", DestType: "wep", BytesOut: bytesOut, NumFlows: 1,
	}
}

func TestMemoryAggregate(t *testing.T) {
	m := NewMemory("simulated")
	m.AddFlows(
		flow("shop", "a-*", "10.0.0.1", 80, t0.Add(time.Minute), 100),
		flow("shop", "a-*", "10.0.0.1", 81, t0.Add(2*time.Minute), 300),
		flow("shop", "a-*", "10.0.0.2", 80, t0.Add(3*time.Minute), 50),
		flow("shop", "b-*", "10.0.0.3", 443, t0.Add(4*time.Minute), 10),
		flow("shop", "a-*", "10.0.0.9", 9999, t0.Add(5*time.Minute), 1), // next window: end is exclusive
		flow("shop", "a-*", "10.0.0.8", 8888, t0.Add(-time.Second), 1),  // previous window
	)
	q := Query{Name: "q", Log: calicolog.Flows, GroupBy: []string{"source_namespace", "source_name_aggr"}, Metrics: []Metric{
		{Name: "ports", Kind: Cardinality, Field: "dest_port"},
		{Name: "ips", Kind: Cardinality, Field: "dest_ip"},
		{Name: "bytes", Kind: Sum, Field: "bytes_out"},
		{Name: "max", Kind: Max, Field: "bytes_out"},
		{Name: "avg", Kind: Avg, Field: "bytes_out"},
		{Name: "n", Kind: Count},
	}}
	tests := []struct {
		name    string
		filters []Term
		want    []Row
	}{
		{"grouped per source, window bounds respected", nil, []Row{
			{Key: []string{"shop", "a-*"}, Values: []float64{2, 2, 450, 300, 150, 3}},
			{Key: []string{"shop", "b-*"}, Values: []float64{1, 1, 10, 10, 10, 1}},
		}},
		{"filtered to one destination port", []Term{{Field: "dest_port", Values: []string{"80"}}}, []Row{
			{Key: []string{"shop", "a-*"}, Values: []float64{1, 2, 150, 100, 75, 2}},
		}},
		{"a filter nothing matches gives no rows", []Term{{Field: "reporter", Values: []string{"dst"}}}, []Row{}},
		{"an excluding filter leaves its values out", []Term{{Field: "dest_ip", Values: []string{"10.0.0.1", "10.0.0.3"}, Exclude: true}}, []Row{
			{Key: []string{"shop", "a-*"}, Values: []float64{1, 1, 50, 50, 50, 1}},
		}},
		{"an excluding filter keeps records without the field", []Term{{Field: "dest_service_name", Values: []string{"cart"}, Exclude: true}}, []Row{
			{Key: []string{"shop", "a-*"}, Values: []float64{2, 2, 450, 300, 150, 3}},
			{Key: []string{"shop", "b-*"}, Values: []float64{1, 1, 10, 10, 10, 1}},
		}},
		{"a filter on a field records lack keeps none", []Term{{Field: "dest_service_name", Values: []string{"cart"}}}, []Row{}},
		{"a term with Known keeps its values and those not known", []Term{{Field: "dest_ip", Values: []string{"10.0.0.2"}, Known: []string{"10.0.0.1", "10.0.0.9"}}}, []Row{
			{Key: []string{"shop", "a-*"}, Values: []float64{1, 1, 50, 50, 50, 1}},
			{Key: []string{"shop", "b-*"}, Values: []float64{1, 1, 10, 10, 10, 1}}, // 10.0.0.3: not known
		}},
		{"a term with Known leaves out records without the field", []Term{{Field: "dest_service_name", Values: []string{"cart"}, Known: []string{"db"}}}, []Row{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := q
			q.Filters = tc.filters
			got, err := m.Aggregate(context.Background(), win, q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMemoryCountsAndSkipsMalformed(t *testing.T) {
	m := NewMemory("file")
	good := `{"start_time":1764064500,"end_time":1764064800,"source_namespace":"shop","source_name_aggr":"a-*","source_type":"wep","dest_name_aggr":"b-*","dest_type":"wep","reporter":"src","action":"allow","dest_port":80}`
	docs := []struct {
		doc     string
		wantErr string
	}{
		{good, ""},
		{strings.Replace(good, `"dest_port":80`, `"dest_port":"abc"`, 1), "dest_port"},
		{strings.Replace(good, `"source_name_aggr":"a-*",`, ``, 1), "source_name_aggr"},
		{`{"end_time": "never"`, "unexpected end"},
	}
	for _, d := range docs {
		err := m.AddDocument(calicolog.Flows, []byte(d.doc))
		if (err == nil) != (d.wantErr == "") || (err != nil && !strings.Contains(err.Error(), d.wantErr)) {
			t.Errorf("AddDocument(%s) error = %v, want one naming %q", d.doc, err, d.wantErr)
		}
	}
	w := Window{Start: time.Unix(1764064800, 0), End: time.Unix(1764065100, 0)}
	c, err := m.Count(context.Background(), w, calicolog.Flows)
	if err != nil {
		t.Fatal(err)
	}
	if c.Records != 4 || c.Malformed != 3 {
		t.Fatalf("counts = %+v, want 4 records of which 3 malformed", c)
	}
	rows, _ := m.Aggregate(context.Background(), w, Query{Name: "q", Log: calicolog.Flows, GroupBy: []string{"source_name_aggr"}, Metrics: []Metric{{Name: "n", Kind: Count}}})
	if len(rows) != 1 || rows[0].Values[0] != 1 {
		t.Fatalf("malformed records reached the aggregation: %v", rows)
	}
	if c, _ := m.Count(context.Background(), w, calicolog.Flows); c.Malformed != 2 {
		t.Fatalf("the unplaced malformed record was reported twice: %+v", c)
	}
}

func TestMemorySamplesAndForget(t *testing.T) {
	m := NewMemory("simulated")
	m.AddFlows(flow("shop", "a-*", "10.0.0.1", 80, t0.Add(time.Minute), 1), flow("shop", "a-*", "10.0.0.2", 22, t0.Add(2*time.Minute), 1),
		flow("shop", "b-*", "10.0.0.3", 22, t0.Add(3*time.Minute), 1))
	got, err := m.Samples(context.Background(), win, calicolog.Flows, []Term{{Field: "source_name_aggr", Values: []string{"a-*"}}}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !strings.Contains(string(got[0]), `"10.0.0.2"`) {
		t.Fatalf("samples = %s, want a-*'s two records, newest first", got)
	}
	m.Forget(win.End)
	if c, _ := m.Count(context.Background(), win, calicolog.Flows); c.Records != 0 {
		t.Fatalf("%d records left after Forget", c.Records)
	}
}
