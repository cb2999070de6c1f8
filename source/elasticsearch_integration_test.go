//go:build integration

package source_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/elastic"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// These tests talk to the test bed's real Elasticsearch 8.19 node.

var record = flag.Bool("record", false, "rewrite source/testdata/*.json from the live Elasticsearch node")

var (
	day0   = time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)
	bucket = 5 * time.Minute
	win    = source.Window{Start: day0, End: day0.Add(bucket)}
)

// contractQueries are the shapes of query detectors ask: distinct counts
// per source, sums and maxima per destination, filtered counts, numeric
// keys, DNS and L7.
var contractQueries = []source.Query{
	{Name: "distinct per source", Log: calicolog.Flows, GroupBy: []string{"source_namespace", "source_name_aggr", "source_type"},
		Metrics: []source.Metric{{Name: "ports", Kind: source.Cardinality, Field: "dest_port"}, {Name: "ips", Kind: source.Cardinality, Field: "dest_ip"}, {Name: "n", Kind: source.Count}}},
	{Name: "bytes per destination", Log: calicolog.Flows, GroupBy: []string{"dest_namespace", "dest_name_aggr"},
		Metrics: []source.Metric{{Name: "in", Kind: source.Sum, Field: "bytes_in"}, {Name: "out", Kind: source.Sum, Field: "bytes_out"}, {Name: "max", Kind: source.Max, Field: "bytes_out"}, {Name: "avg", Kind: source.Avg, Field: "bytes_out"}, {Name: "flows", Kind: source.Sum, Field: "num_flows"}}},
	{Name: "denied by port", Log: calicolog.Flows, GroupBy: []string{"dest_port"}, Filters: []source.Term{{Field: "action", Values: []string{"deny"}}},
		Metrics: []source.Metric{{Name: "n", Kind: source.Count}}},
	{Name: "process restarts", Log: calicolog.Flows, GroupBy: []string{"source_namespace", "source_name_aggr", "process_name"},
		Metrics: []source.Metric{{Name: "pids", Kind: source.Cardinality, Field: "process_id"}, {Name: "rtt", Kind: source.Max, Field: "tcp_max_smooth_rtt"}}},
	{Name: "dns per client", Log: calicolog.DNS, GroupBy: []string{"client_namespace", "client_name_aggr"},
		Metrics: []source.Metric{{Name: "count", Kind: source.Sum, Field: "count"}, {Name: "qnames", Kind: source.Cardinality, Field: "qname"}, {Name: "latency", Kind: source.Max, Field: "latency_max"}, {Name: "mean", Kind: source.Avg, Field: "latency_mean"}}},
	{Name: "dns errors", Log: calicolog.DNS, GroupBy: []string{"client_name_aggr", "rcode"}, Filters: []source.Term{{Field: "rcode", Values: []string{"NXDomain", "ServFail"}}},
		Metrics: []source.Metric{{Name: "n", Kind: source.Count}}},
	{Name: "l7 per service", Log: calicolog.L7, GroupBy: []string{"dest_namespace", "dest_name_aggr", "method"},
		Metrics: []source.Metric{{Name: "count", Kind: source.Sum, Field: "count"}, {Name: "duration", Kind: source.Avg, Field: "duration_mean"}, {Name: "max", Kind: source.Max, Field: "duration_max"}}},
	{Name: "l7 codes", Log: calicolog.L7, GroupBy: []string{"dest_service_name", "response_code"},
		Metrics: []source.Metric{{Name: "n", Kind: source.Count}, {Name: "urls", Kind: source.Cardinality, Field: "url"}}},
	// port_scan and ip_sweep: one row per source and value (a long and an
	// ip key, null ones included), and the outside sources by address.
	{Name: "ports per source", Log: calicolog.Flows, GroupBy: []string{"source_namespace", "source_name_aggr", "source_type", "dest_port"},
		Metrics: []source.Metric{{Name: "records", Kind: source.Count}}},
	{Name: "ips per source", Log: calicolog.Flows, GroupBy: []string{"source_namespace", "source_name_aggr", "source_type", "dest_ip"},
		Metrics: []source.Metric{{Name: "records", Kind: source.Count}}},
	{Name: "outside sources", Log: calicolog.Flows, GroupBy: []string{"source_namespace", "source_name_aggr", "source_type", "source_ip"},
		Filters: []source.Term{{Field: "source_type", Values: []string{"net"}}},
		Metrics: []source.Metric{{Name: "distinct", Kind: source.Cardinality, Field: "dest_port"}}},
}

func unique(prefix string) string { return fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1e9) }

func newES(t *testing.T, naming calicolog.IndexNaming, pageSize int, rt http.RoundTripper) *source.Elasticsearch {
	t.Helper()
	es, err := source.NewElasticsearch(source.ElasticsearchConfig{URLs: []string{testbed.ElasticsearchURL(t)}, Naming: naming, PageSize: pageSize, Transport: rt}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := es.EnsureTemplates(context.Background()); err != nil {
		t.Fatal(err)
	}
	return es
}

func refresh(t *testing.T, es *source.Elasticsearch, naming calicolog.IndexNaming) {
	t.Helper()
	for _, lt := range calicolog.LogTypes {
		if err := es.Refresh(context.Background(), naming.SearchIndex(lt)); err != nil {
			t.Fatal(err)
		}
	}
}

// doc is one raw log document as Calico would write it.
type doc struct {
	log  calicolog.LogType
	id   string
	body map[string]any
}

func flowDoc(id string, end time.Time, edit func(map[string]any)) doc {
	d := map[string]any{
		"start_time": end.Unix() - 313, "end_time": end.Unix(), "@timestamp": end.UnixMilli(), "host": "node-1",
		"action": "allow", "reporter": "src", "proto": "tcp",
		"source_ip": nil, "source_name": "-", "source_name_aggr": "frontend-7d9c8f6b5-*", "source_namespace": "shop", "source_port": nil, "source_type": "wep",
		"dest_ip": "10.0.1.5", "dest_name": "cart-5b8c7c8d6f-q7wlm", "dest_name_aggr": "cart-5b8c7c8d6f-*", "dest_namespace": "shop", "dest_port": 7070, "dest_type": "wep",
		"dest_service_name": "cart", "dest_service_namespace": "shop", "dest_service_port": "grpc", "dest_service_port_num": 7070,
		"bytes_in": 5000, "bytes_out": 2000, "packets_in": 10, "packets_out": 8, "num_flows": 2, "num_flows_started": 1, "num_flows_completed": 1,
		"http_requests_allowed_in": 0, "http_requests_denied_in": 0,
		"process_name": "/src/server", "num_process_names": 1, "process_id": "2381", "num_process_ids": 1, "num_process_args": 0, "num_original_source_ips": 0,
		"tcp_max_smooth_rtt": 3400,
	}
	if edit != nil {
		edit(d)
	}
	return doc{calicolog.Flows, id, d}
}

func dnsDoc(id string, end time.Time, edit func(map[string]any)) doc {
	d := map[string]any{
		"start_time": end.Add(-5 * time.Minute).Format(time.RFC3339Nano), "end_time": end.Add(123456789).Format(time.RFC3339Nano),
		"type": "log", "count": 3, "client_ip": nil, "client_name": "-", "client_name_aggr": "frontend-7d9c8f6b5-*", "client_namespace": "shop",
		"qname": "cart.shop.svc.cluster.local", "qclass": "IN", "qtype": "A", "rcode": "NoError",
		"servers":       []any{map[string]any{"ip": "10.96.0.10", "name": "coredns-565d847f94-9rpxh", "name_aggr": "coredns-565d847f94-*", "namespace": "kube-system"}},
		"latency_count": 3, "latency_mean": 450000, "latency_max": 1800000, "host": "node-1",
	}
	if edit != nil {
		edit(d)
	}
	return doc{calicolog.DNS, id, d}
}

func l7Doc(id string, end time.Time, edit func(map[string]any)) doc {
	d := map[string]any{
		"start_time": end.Unix() - 300, "end_time": end.Unix(), "duration_mean": 3500000, "duration_max": 21000000,
		"bytes_in": 1800, "bytes_out": 9600, "count": 4,
		"src_name_aggr": "frontend-7d9c8f6b5-*", "src_namespace": "shop", "src_type": "wep",
		"dest_name_aggr": "catalog-6b654dbf57-*", "dest_namespace": "shop", "dest_type": "wep",
		"dest_service_name": "catalog", "dest_service_namespace": "shop", "dest_service_port": 3550,
		"url": "catalog.shop.svc.cluster.local:3550/ListProducts", "response_code": "200", "method": "POST", "user_agent": "grpc-go/1.31.0", "type": "html/1.1",
	}
	if edit != nil {
		edit(d)
	}
	return doc{calicolog.L7, id, d}
}

func set(kv ...any) func(map[string]any) {
	return func(d map[string]any) {
		for i := 0; i < len(kv); i += 2 {
			d[kv[i].(string)] = kv[i+1]
		}
	}
}

func drop(fields ...string) func(map[string]any) {
	return func(d map[string]any) {
		for _, f := range fields {
			delete(d, f)
		}
	}
}

// knownDocs are records of the window win and of its neighbours, well
// formed and not, of every log type.
func knownDocs() []doc {
	at := func(d time.Duration) time.Time { return day0.Add(d) }
	return []doc{
		flowDoc("f-first-second", win.Start, nil),
		flowDoc("f-other-port", at(time.Minute), set("dest_port", 7071, "dest_ip", "10.0.1.6", "bytes_out", 10)),
		flowDoc("f-denied-scan-1", at(2*time.Minute), set("action", "deny", "dest_port", 22, "dest_ip", "10.0.1.7", "source_name_aggr", "scanner-*")),
		flowDoc("f-denied-scan-2", at(2*time.Minute), set("action", "deny", "dest_port", 23, "dest_ip", "10.0.1.7", "source_name_aggr", "scanner-*")),
		flowDoc("f-denied-null-port", at(3*time.Minute), set("action", "deny", "dest_port", nil, "dest_ip", nil, "dest_name_aggr", "pub", "dest_type", "net", "dest_namespace", "-")),
		flowDoc("f-no-service", at(3*time.Minute), drop("dest_service_name", "dest_service_namespace", "dest_service_port", "dest_service_port_num", "tcp_max_smooth_rtt")),
		flowDoc("f-process-restart", at(4*time.Minute), set("process_id", "2999", "tcp_max_smooth_rtt", 9000)),
		flowDoc("f-host", at(4*time.Minute+59*time.Second), set("source_type", "hep", "source_name_aggr", "node-1", "source_namespace", "-")),
		flowDoc("f-outside-scan", at(4*time.Minute), set("source_type", "net", "source_name_aggr", "pub", "source_namespace", "-", "source_name", "-",
			"source_ip", "198.51.100.9", "reporter", "dst", "action", "deny", "dest_port", 2222)),
		flowDoc("f-malformed-port", at(time.Minute), set("dest_port", "abc")),
		flowDoc("f-malformed-bytes", at(time.Minute), set("bytes_in", "lots")),
		flowDoc("f-malformed-no-source", at(2*time.Minute), drop("source_name_aggr")),
		flowDoc("f-malformed-reporter", at(2*time.Minute), set("reporter", "both")),
		flowDoc("f-malformed-negative", at(2*time.Minute), set("packets_out", -1)),
		flowDoc("f-previous-window", win.Start.Add(-time.Second), nil),
		flowDoc("f-next-window", win.End, nil),

		dnsDoc("d-1", at(time.Minute), nil),
		dnsDoc("d-2", at(2*time.Minute), set("qname", "x7k2jq9.example.com", "rcode", "NXDomain", "latency_max", 9000000)),
		dnsDoc("d-3", at(3*time.Minute), set("client_name_aggr", "checkout-*", "rcode", "ServFail")),
		dnsDoc("d-malformed-latency", at(time.Minute), set("latency_mean", "slow")),
		dnsDoc("d-malformed-no-qname", at(time.Minute), drop("qname")),
		dnsDoc("d-malformed-client-ip", at(time.Minute), set("client_ip", "not-an-ip")),
		dnsDoc("d-next-window", win.End, nil),

		l7Doc("l-1", at(time.Minute), nil),
		l7Doc("l-2", at(2*time.Minute), set("method", "GET", "response_code", "404", "url", "catalog/x")),
		l7Doc("l-3", at(2*time.Minute), set("dest_name_aggr", nil)),
		l7Doc("l-malformed-count", at(time.Minute), set("count", "many")),
		l7Doc("l-malformed-no-destination", at(time.Minute), drop("dest_name_aggr", "dest_service_name")),
		l7Doc("l-previous-window", win.Start.Add(-time.Minute), nil),
	}
}

// load writes docs into Elasticsearch under naming and into a Memory, the
// same bytes to both.
func load(t *testing.T, es *source.Elasticsearch, naming calicolog.IndexNaming, docs []doc) *source.Memory {
	t.Helper()
	mem := source.NewMemory("file")
	var ops []elastic.BulkOp
	for _, d := range docs {
		body := d.body
		if naming.Layout == calicolog.LayoutSingle {
			body = maps(body, "cluster", naming.Cluster)
		}
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		mem.AddDocument(d.log, raw)
		ops = append(ops, elastic.BulkOp{Index: naming.WriteIndex(d.log, day0), ID: naming.Cluster + "-" + d.id, Doc: json.RawMessage(raw)})
	}
	if _, err := es.Bulk(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	refresh(t, es, naming)
	return mem
}

func maps(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

// compare checks the same queries over the same windows give the same
// answer from Elasticsearch and from memory.
func compare(t *testing.T, es *source.Elasticsearch, mem source.Source, windows []source.Window, queries []source.Query) (rows map[string]int) {
	t.Helper()
	ctx := context.Background()
	rows = map[string]int{}
	for _, w := range windows {
		for _, lt := range calicolog.LogTypes {
			want, err := mem.Count(ctx, w, lt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := es.Count(ctx, w, lt)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s %s: count %+v, in memory %+v", w, lt, got, want)
			}
		}
		for _, q := range queries {
			want, err := mem.Aggregate(ctx, w, q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := es.Aggregate(ctx, w, q)
			if err != nil {
				t.Fatal(err)
			}
			source.SortRows(want)
			source.SortRows(got)
			rows[q.Name] += len(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s:\nelasticsearch %v\nmemory        %v", w, q.Name, got, want)
			}
		}
	}
	return rows
}

// TestElasticsearchAnswersLikeMemoryOnKnownRecords is the source contract on
// hand-written documents, malformed ones and window boundaries included:
// the same documents written to the real Elasticsearch and to the
// in-memory source give the same counts and rows, in every index layout,
// read three groups a page.
func TestElasticsearchAnswersLikeMemoryOnKnownRecords(t *testing.T) {
	other := unique("neighbour")
	layouts := []struct {
		name   string
		naming calicolog.IndexNaming
	}{
		{"legacy layout", calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: unique("known")}},
		{"legacy layout with a tenant", calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: unique("known"), Tenant: "acme"}},
		{"single layout shared with another cluster", calicolog.IndexNaming{Layout: calicolog.LayoutSingle, Cluster: unique("known")}},
	}
	windows := []source.Window{{Start: win.Start.Add(-bucket), End: win.Start}, win, {Start: win.End, End: win.End.Add(bucket)}}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			es := newES(t, l.naming, 3, nil)
			mem := load(t, es, l.naming, knownDocs())
			if l.naming.Layout == calicolog.LayoutSingle {
				// The other cluster's copies of the same documents, in the
				// same indices, must not be counted.
				otherNaming := calicolog.IndexNaming{Layout: calicolog.LayoutSingle, Cluster: other}
				load(t, newES(t, otherNaming, 3, nil), otherNaming, knownDocs())
			}
			rows := compare(t, es, mem, windows, contractQueries)
			for _, q := range contractQueries {
				if rows[q.Name] == 0 {
					t.Errorf("query %q found no rows in any window; the test data is wrong", q.Name)
				}
			}

			// And the answers are the right ones, not only the same ones.
			ctx := context.Background()
			counts := map[calicolog.LogType]source.Counts{}
			for _, lt := range calicolog.LogTypes {
				counts[lt], _ = es.Count(ctx, win, lt)
			}
			wantCounts := map[calicolog.LogType]source.Counts{
				calicolog.Flows: {Records: 14, Malformed: 5}, calicolog.DNS: {Records: 6, Malformed: 3}, calicolog.L7: {Records: 5, Malformed: 2},
			}
			if !reflect.DeepEqual(counts, wantCounts) {
				t.Errorf("counts %v, want %v", counts, wantCounts)
			}
			got, err := es.Aggregate(ctx, win, contractQueries[2])
			if err != nil {
				t.Fatal(err)
			}
			want := []source.Row{{Key: []string{"0"}, Values: []float64{1}}, {Key: []string{"22"}, Values: []float64{1}}, {Key: []string{"2222"}, Values: []float64{1}}, {Key: []string{"23"}, Values: []float64{1}}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("denied by port: %v, want %v (a null port reads as Calico's null_value 0)", got, want)
			}
			got, err = es.Aggregate(ctx, win, contractQueries[0])
			if err != nil {
				t.Fatal(err)
			}
			want = []source.Row{
				{Key: []string{"-", "node-1", "hep"}, Values: []float64{1, 1, 1}},
				{Key: []string{"-", "pub", "net"}, Values: []float64{1, 1, 1}}, // the scanner outside the cluster
				{Key: []string{"shop", "frontend-7d9c8f6b5-*", "wep"}, Values: []float64{3, 3, 5}},
				{Key: []string{"shop", "scanner-*", "wep"}, Values: []float64{2, 1, 2}},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("distinct per source: %v, want %v", got, want)
			}
		})
	}
}

// TestElasticsearchAnswersLikeMemory is the source contract on simulated
// traffic with a port scan: thirty minutes of a cluster, every window,
// seven groups a page.
func TestElasticsearchAnswersLikeMemory(t *testing.T) {
	other := unique("other")
	layouts := []struct {
		name   string
		naming calicolog.IndexNaming
	}{
		{"legacy layout", calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: unique("legacy")}},
		{"legacy layout with a tenant", calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: unique("tenanted"), Tenant: "acme"}},
		{"single layout shared with another cluster", calicolog.IndexNaming{Layout: calicolog.LayoutSingle, Cluster: unique("single")}},
	}
	from, to := day0, day0.Add(30*time.Minute)
	scan := simulate.PortScan{At: day0.Add(12 * time.Minute), Namespace: "shop", Workload: "frontend", TargetNamespace: "payments", TargetWorkload: "postgres", FirstPort: 1, LastPort: 600}
	writeSimulated := func(t *testing.T, naming calicolog.IndexNaming, c *simulate.Cluster) *source.Elasticsearch {
		es := newES(t, naming, 7, nil)
		if _, err := simulate.WriteElasticsearch(context.Background(), es, naming, c, from, to, bucket); err != nil {
			t.Fatal(err)
		}
		refresh(t, es, naming)
		return es
	}
	var windows []source.Window
	for w := from; w.Before(to); w = w.Add(bucket) {
		windows = append(windows, source.Window{Start: w, End: w.Add(bucket)})
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			c := simulate.New(simulate.Options{Seed: 3, Cluster: l.naming.Cluster}, scan)
			es := writeSimulated(t, l.naming, c)
			if l.naming.Layout == calicolog.LayoutSingle {
				otherNaming := calicolog.IndexNaming{Layout: calicolog.LayoutSingle, Cluster: other}
				writeSimulated(t, otherNaming, simulate.New(simulate.Options{Seed: 4, Cluster: other}, scan))
			}
			rows := compare(t, es, simulate.NewSource(c), windows, contractQueries)
			for _, q := range contractQueries[:3] {
				if rows[q.Name] == 0 {
					t.Errorf("query %q found no rows in any window; the test data is wrong", q.Name)
				}
			}
		})
	}
}

// countingTransport counts the requests it carries.
type countingTransport struct {
	mu       sync.Mutex
	requests []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.requests = append(c.requests, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func TestElasticsearchPagesReturnEveryGroupOnce(t *testing.T) {
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: unique("paging")}
	es := newES(t, naming, 3, nil)
	var docs []doc
	for i := range 25 {
		// 25 sources, the even ones with two records.
		src := fmt.Sprintf("worker-%02d-*", i)
		docs = append(docs, flowDoc(fmt.Sprintf("p%d", i), day0.Add(time.Duration(i)*time.Second), set("source_name_aggr", src)))
		if i%2 == 0 {
			docs = append(docs, flowDoc(fmt.Sprintf("p%d-b", i), day0.Add(time.Minute), set("source_name_aggr", src, "dest_port", 9000+i)))
		}
	}
	load(t, es, naming, docs)
	ct := &countingTransport{}
	es, err := source.NewElasticsearch(source.ElasticsearchConfig{URLs: []string{testbed.ElasticsearchURL(t)}, Naming: naming, PageSize: 3, Transport: ct}, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := source.Query{Name: "per source", Log: calicolog.Flows, GroupBy: []string{"source_name_aggr"},
		Metrics: []source.Metric{{Name: "n", Kind: source.Count}, {Name: "ports", Kind: source.Cardinality, Field: "dest_port"}}}
	rows, err := es.Aggregate(context.Background(), win, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 25 {
		t.Fatalf("%d rows, want 25: %v", len(rows), rows)
	}
	for i, r := range rows {
		want := source.Row{Key: []string{fmt.Sprintf("worker-%02d-*", i)}, Values: []float64{1, 1}}
		if i%2 == 0 {
			want.Values = []float64{2, 2}
		}
		if !reflect.DeepEqual(r, want) {
			t.Errorf("row %d = %v, want %v", i, r, want)
		}
	}
	if pages := len(ct.requests); pages != 9 {
		t.Errorf("%d requests for 25 groups three a page, want 9: %v", pages, ct.requests)
	}
}

// maxBuckets sets the cluster's search.max_buckets (0 restores the default).
func maxBuckets(t *testing.T, n int) {
	t.Helper()
	value := "null"
	if n > 0 {
		value = fmt.Sprint(n)
	}
	res, err := rawClient(t, nil).Cluster.PutSettings(strings.NewReader(`{"persistent":{"search.max_buckets":` + value + `}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.IsError() {
		t.Fatalf("set search.max_buckets to %s: %s", value, res)
	}
}

// A cluster whose search.max_buckets is below the page size refuses the
// page; the source halves its pages until they pass, reads every group
// once, and keeps the smaller size for the next queries.
func TestElasticsearchShrinksPagesTheClusterRefuses(t *testing.T) {
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: unique("buckets")}
	es := newES(t, naming, 20, nil)
	var docs []doc
	for i := range 25 {
		docs = append(docs, flowDoc(fmt.Sprintf("b%d", i), day0.Add(time.Duration(i)*time.Second), set("source_name_aggr", fmt.Sprintf("worker-%02d-*", i))))
	}
	load(t, es, naming, docs)
	maxBuckets(t, 8)
	t.Cleanup(func() { maxBuckets(t, 0) })
	q := source.Query{Name: "per source", Log: calicolog.Flows, GroupBy: []string{"source_name_aggr"},
		Metrics: []source.Metric{{Name: "n", Kind: source.Count}}}
	for run := range 2 {
		rows, err := es.Aggregate(context.Background(), win, q)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if len(rows) != 25 {
			t.Fatalf("run %d: %d rows, want 25", run, len(rows))
		}
		for i, r := range rows {
			if want := fmt.Sprintf("worker-%02d-*", i); r.Key[0] != want || r.Values[0] != 1 {
				t.Errorf("run %d row %d = %v, want %s with 1 record", run, i, r, want)
			}
		}
		if got := es.PageSize(); got != 5 {
			t.Errorf("run %d: page size %d, want 5 (20 halved until at most 8)", run, got)
		}
	}
}

func TestElasticsearchSamplesReturnFilteredDocuments(t *testing.T) {
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: unique("samples")}
	es := newES(t, naming, 0, nil)
	mem := load(t, es, naming, knownDocs())
	ctx := context.Background()
	tests := []struct {
		name    string
		log     calicolog.LogType
		filters []source.Term
		n       int
		wantIDs []string // by dest_port, qname or url
		field   string
	}{
		{"the scanner's flows, latest first", calicolog.Flows, []source.Term{{Field: "source_name_aggr", Values: []string{"scanner-*"}}}, 10, []string{"22", "23"}, "dest_port"},
		{"at most n flows", calicolog.Flows, []source.Term{{Field: "source_namespace", Values: []string{"shop"}}, {Field: "dest_name_aggr", Values: []string{"cart-5b8c7c8d6f-*"}}}, 2, []string{"7070", "7070"}, "dest_port"},
		{"every well-formed flow of a source, malformed ones never", calicolog.Flows, []source.Term{{Field: "source_name_aggr", Values: []string{"frontend-7d9c8f6b5-*"}}}, 20, []string{"7070", "7070", "7070", "7071", "<nil>"}, "dest_port"},
		{"an outside address's flows (a scan's evidence)", calicolog.Flows, []source.Term{{Field: "source_type", Values: []string{"net"}}, {Field: "source_ip", Values: []string{"198.51.100.9"}}}, 5, []string{"2222"}, "dest_port"},
		{"NXDomain answers", calicolog.DNS, []source.Term{{Field: "rcode", Values: []string{"NXDomain"}}}, 5, []string{"x7k2jq9.example.com"}, "qname"},
		{"a filter nothing matches", calicolog.L7, []source.Term{{Field: "method", Values: []string{"TRACE"}}}, 5, nil, "url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := es.Samples(ctx, win, tc.log, tc.filters, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, raw := range got {
				var m map[string]any
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, fmt.Sprint(m[tc.field]))
				for _, f := range tc.filters {
					if !slices.Contains(f.Values, fmt.Sprint(m[f.Field])) {
						t.Errorf("sample %s does not match filter %v", raw, f)
					}
				}
			}
			slices.Sort(ids)
			if !reflect.DeepEqual(ids, tc.wantIDs) {
				t.Errorf("samples %s, want ones with %s %v", got, tc.field, tc.wantIDs)
			}
			fromMemory, err := mem.Samples(ctx, win, tc.log, tc.filters, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(fromMemory) != len(got) {
				t.Errorf("%d samples from Elasticsearch, %d from memory", len(got), len(fromMemory))
			}
		})
	}
}

// TestElasticsearchBulkWritesOnce writes documents with IDs twice: the
// second time every one already exists, which is not an error.
func TestElasticsearchBulkWritesOnce(t *testing.T) {
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: unique("bulk")}
	es := newES(t, naming, 0, nil)
	ops := []elastic.BulkOp{
		{Index: naming.EventsIndex(), ID: "port_scan-shop-frontend-1", Doc: map[string]any{"time": day0.Unix(), "type": calicolog.EventTypeAnomaly, "severity": 100, "origin": "port_scan", "description": "d"}},
		{Index: naming.WriteIndex(calicolog.Flows, day0), ID: "flow-1", Doc: flowDoc("", day0, nil).body},
		{Index: naming.WriteIndex(calicolog.Flows, day0), Doc: flowDoc("", day0, nil).body},
	}
	ctx := context.Background()
	res, err := es.Bulk(ctx, ops)
	if err != nil || res != (elastic.BulkResult{Written: 3}) {
		t.Fatalf("first bulk: %+v, %v; want 3 written", res, err)
	}
	res, err = es.Bulk(ctx, ops)
	if err != nil || res != (elastic.BulkResult{Written: 1, Existed: 2}) {
		t.Fatalf("second bulk: %+v, %v; want the two with IDs to exist already and the one without written again", res, err)
	}
	// A document Elasticsearch refuses (an object where a keyword goes) is
	// reported with its index, ID and reason; the others are written.
	bad := []elastic.BulkOp{
		{Index: naming.WriteIndex(calicolog.Flows, day0), ID: "refused", Doc: map[string]any{"end_time": day0.Unix(), "source_name_aggr": map[string]any{"a": 1}}},
		{Index: naming.WriteIndex(calicolog.Flows, day0), ID: "fine", Doc: flowDoc("", day0, nil).body},
	}
	res, err = es.Bulk(ctx, bad)
	var be *elastic.BulkError
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].ID != "refused" || be.Items[0].Status != http.StatusBadRequest || res.Written != 1 {
		t.Fatalf("bulk with a refused document: %+v, %v", res, err)
	}
	if !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "document_parsing_exception") {
		t.Errorf("error %q does not name the document and the reason", err)
	}
	v, err := es.Version(ctx)
	if err != nil || !strings.HasPrefix(v, "8.19.") {
		t.Errorf("version %q, %v; want 8.19.x", v, err)
	}
}

// TestElasticsearchSkipsAndCountsMalformed writes documents Calico's
// contract forbids next to good ones and a record on each window boundary.
func TestElasticsearchSkipsAndCountsMalformed(t *testing.T) {
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: unique("malformed")}
	es := newES(t, naming, 0, nil)
	ctx := context.Background()
	index := naming.WriteIndex(calicolog.Flows, day0)
	ops := []elastic.BulkOp{
		{Index: index, ID: "good", Doc: flowDoc("", day0.Add(time.Minute), nil).body},
		{Index: index, ID: "at-start", Doc: flowDoc("", win.Start, nil).body},
		{Index: index, ID: "at-end-belongs-to-next", Doc: flowDoc("", win.End, nil).body},
		{Index: index, ID: "port-not-a-number", Doc: flowDoc("", day0.Add(2*time.Minute), set("dest_port", "abc")).body},
		{Index: index, ID: "bytes-not-a-number", Doc: flowDoc("", day0.Add(2*time.Minute), set("bytes_in", "lots")).body},
		{Index: index, ID: "no-source-name", Doc: flowDoc("", day0.Add(3*time.Minute), drop("source_name_aggr")).body},
	}
	if _, err := es.Bulk(ctx, ops); err != nil {
		t.Fatal(err)
	}
	refresh(t, es, naming)
	c, err := es.Count(ctx, win, calicolog.Flows)
	if err != nil {
		t.Fatal(err)
	}
	if c != (source.Counts{Records: 5, Malformed: 3}) {
		t.Errorf("counts = %+v, want 5 records (the one at the window's end belongs to the next) of which 3 malformed", c)
	}
	rows, err := es.Aggregate(ctx, win, contractQueries[0])
	if err != nil {
		t.Fatal(err)
	}
	want := []source.Row{{Key: []string{"shop", "frontend-7d9c8f6b5-*", "wep"}, Values: []float64{1, 1, 2}}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows = %v, want %v (malformed records skipped)", rows, want)
	}
	next, err := es.Count(ctx, source.Window{Start: win.End, End: win.End.Add(bucket)}, calicolog.Flows)
	if err != nil || next != (source.Counts{Records: 1}) {
		t.Errorf("next window: %+v, %v; want the record ending at its start", next, err)
	}
}

func TestElasticsearchErrorsNameWhatFailed(t *testing.T) {
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: unique("errors")}
	es := newES(t, naming, 0, nil)
	load(t, es, naming, knownDocs()[:1])
	_, err := es.Aggregate(context.Background(), win, source.Query{Name: "sum of a keyword", Log: calicolog.Flows, GroupBy: []string{"source_namespace"},
		Metrics: []source.Metric{{Name: "bad", Kind: source.Sum, Field: "source_name_aggr"}}})
	for _, want := range []string{"sum of a keyword", naming.SearchIndex(calicolog.Flows), "HTTP 400", "search_phase_execution_exception", "Field [source_name_aggr] of type [keyword] is not supported for aggregation [sum]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %q", err, want)
		}
	}

	unreachable, err := source.NewElasticsearch(source.ElasticsearchConfig{URLs: []string{"http://127.0.0.1:1"}, MaxRetries: 1, RetryBackoff: time.Millisecond,
		Naming: calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = unreachable.Count(context.Background(), win, calicolog.Flows)
	if err == nil || !strings.Contains(err.Error(), "tigera_secure_ee_flows.cluster.*") || !strings.Contains(err.Error(), "http://127.0.0.1:1") {
		t.Errorf("error %v does not name the index and the address", err)
	}
	if unreachable.Retries() != 1 {
		t.Errorf("%d retries counted, want 1", unreachable.Retries())
	}
}

// recorder keeps the answers of the real node, to write them as fixtures.
type recorder struct {
	mu    sync.Mutex
	calls []recorded
}

type recorded struct {
	status int
	body   []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.calls = append(r.calls, recorded{res.StatusCode, body})
	r.mu.Unlock()
	return res, nil
}

// take returns the answers recorded since the last take.
func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

// normalize drops what changes from run to run (timings, sequence
// numbers, node IDs, temp paths) from a recorded answer.
func normalize(t *testing.T, body []byte) []byte {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("recorded answer %s: %v", body, err)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range []string{"took", "_seq_no", "_primary_term", "_version"} {
				delete(x, k)
			}
			if x["node"] != nil {
				x["node"] = "NODE"
			}
			if x["index_uuid"] != nil {
				x["index_uuid"] = "INDEX_UUID"
			}
			if nodes, ok := x["nodes"].(map[string]any); ok && len(nodes) == 1 {
				for _, n := range nodes {
					x["nodes"] = map[string]any{"NODE": walk(n)}
				}
				return x
			}
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return v
	}
	out, err := json.MarshalIndent(walk(v), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// TestFixturesAreTheNodesAnswers runs the requests whose answers the unit
// tests replay (source/testdata/*.json) against the real node, and checks
// the fixtures still are its answers; with -record it rewrites them.
func TestFixturesAreTheNodesAnswers(t *testing.T) {
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "fixtures"}
	ctx := context.Background()
	rec := &recorder{}
	es := newES(t, naming, 2, rec)
	// Start from empty indices so the answers are the same every run.
	for _, lt := range calicolog.LogTypes {
		req := esapi.IndicesDeleteRequest{Index: []string{naming.WriteIndex(lt, day0)}}
		if res, err := req.Do(ctx, rawClient(t, rec)); err == nil {
			res.Body.Close()
		}
	}
	if err := es.EnsureTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	rec.take()
	fixtures := map[string]recorded{}
	one := func(name string, status int) {
		t.Helper()
		calls := rec.take()
		if len(calls) != 1 || calls[0].status != status {
			t.Fatalf("%s: answers %v, want one with status %d", name, calls, status)
		}
		fixtures[name] = calls[0]
	}

	// Three groups: frontend to 7070 (a), the scanner to 22 of a service (c,
	// d; one with a null IP), the scanner to 22 of no service (e).
	docs := []doc{
		flowDoc("a", day0.Add(time.Minute), nil),
		flowDoc("c", day0.Add(2*time.Minute), set("source_name_aggr", "scanner-*", "dest_port", 22, "dest_ip", nil)),
		flowDoc("d", day0.Add(3*time.Minute), set("source_name_aggr", "scanner-*", "dest_port", 22, "dest_ip", "10.0.1.9", "bytes_out", 0)),
		flowDoc("e", day0.Add(3*time.Minute), func(d map[string]any) {
			drop("dest_service_name", "dest_service_namespace", "dest_service_port", "dest_service_port_num")(d)
			set("source_name_aggr", "scanner-*", "dest_port", 22, "dest_ip", "10.0.1.10", "bytes_out", 10)(d)
		}),
		flowDoc("malformed", day0.Add(3*time.Minute), set("dest_port", "abc")),
	}
	var ops []elastic.BulkOp
	for _, d := range docs {
		ops = append(ops, elastic.BulkOp{Index: naming.WriteIndex(d.log, day0), ID: d.id, Doc: d.body})
	}
	if _, err := es.Bulk(ctx, ops); err != nil {
		t.Fatal(err)
	}
	rec.take()
	refresh(t, es, naming)
	rec.take()

	// Two pages of two groups, keyed by a long (numbers) and a keyword
	// some records lack (null).
	q := source.Query{Name: "fixture", Log: calicolog.Flows, GroupBy: []string{"source_name_aggr", "dest_port", "dest_service_name"},
		Metrics: []source.Metric{{Name: "n", Kind: source.Count}, {Name: "ips", Kind: source.Cardinality, Field: "dest_ip"}, {Name: "bytes", Kind: source.Sum, Field: "bytes_out"},
			{Name: "max", Kind: source.Max, Field: "bytes_out"}, {Name: "avg", Kind: source.Avg, Field: "bytes_out"}, {Name: "rtt", Kind: source.Max, Field: "tcp_lost_packets"}}}
	if _, err := es.Aggregate(ctx, win, q); err != nil {
		t.Fatal(err)
	}
	calls := rec.take()
	if len(calls) != 2 {
		t.Fatalf("%d pages, want 2", len(calls))
	}
	fixtures["composite_page1"], fixtures["composite_page2"] = calls[0], calls[1]

	if _, err := es.Count(ctx, win, calicolog.Flows); err != nil {
		t.Fatal(err)
	}
	one("count", http.StatusOK)
	if _, err := es.Samples(ctx, win, calicolog.Flows, []source.Term{{Field: "source_name_aggr", Values: []string{"scanner-*"}}}, 5); err != nil {
		t.Fatal(err)
	}
	one("samples", http.StatusOK)
	if _, err := es.Aggregate(ctx, win, source.Query{Name: "bad", Log: calicolog.Flows, GroupBy: []string{"source_namespace"},
		Metrics: []source.Metric{{Name: "bad", Kind: source.Sum, Field: "source_name_aggr"}}}); err == nil {
		t.Fatal("a sum of a keyword field did not fail")
	}
	one("error_400", http.StatusBadRequest)
	if _, err := es.Bulk(ctx, []elastic.BulkOp{
		{Index: naming.WriteIndex(calicolog.Flows, day0), ID: "a", Doc: docs[0].body},
		{Index: naming.WriteIndex(calicolog.Flows, day0), ID: "refused", Doc: map[string]any{"end_time": day0.Unix(), "source_name_aggr": map[string]any{"a": 1}}},
		{Index: naming.WriteIndex(calicolog.Flows, day0), ID: "new", Doc: flowDoc("", day0.Add(time.Minute), nil).body},
	}); err == nil {
		t.Fatal("a bulk with a refused document did not fail")
	}
	one("bulk_partial", http.StatusOK)
	if _, err := es.Version(ctx); err != nil {
		t.Fatal(err)
	}
	one("nodes_version", http.StatusOK)
	// No index of the cluster: a 200 that searched no shard and so holds
	// no aggregations, which is no data, not a broken answer.
	noIndex, err := source.NewElasticsearch(source.ElasticsearchConfig{URLs: []string{testbed.ElasticsearchURL(t)},
		Naming: calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "fixtures-no-index"}, Transport: rec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := noIndex.Count(ctx, win, calicolog.Flows); err != nil || c != (source.Counts{}) {
		t.Fatalf("count without an index: %+v, %v; want zero and no error", c, err)
	}
	one("count_no_index", http.StatusOK)

	// A 503: an index whose shard cannot be assigned anywhere.
	unassigned := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "fixtures-unassigned"}
	create := esapi.IndicesCreateRequest{Index: unassigned.WriteIndex(calicolog.Flows, day0), WaitForActiveShards: "0",
		Body: strings.NewReader(`{"settings":{"number_of_replicas":0,"index.routing.allocation.require._name":"no-such-node"}}`)}
	if res, err := create.Do(ctx, rawClient(t, http.DefaultTransport)); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	t.Cleanup(func() {
		req := esapi.IndicesDeleteRequest{Index: []string{unassigned.WriteIndex(calicolog.Flows, day0)}}
		if res, err := req.Do(context.Background(), rawClient(t, http.DefaultTransport)); err == nil {
			res.Body.Close()
		}
	})
	es503, err := source.NewElasticsearch(source.ElasticsearchConfig{URLs: []string{testbed.ElasticsearchURL(t)}, Naming: unassigned, MaxRetries: 1, RetryBackoff: time.Millisecond, Transport: rec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := es503.Count(ctx, win, calicolog.Flows); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("count on an unassigned shard: %v, want a 503", err)
	}
	if calls := rec.take(); len(calls) != 2 || calls[1].status != http.StatusServiceUnavailable {
		t.Fatalf("answers %v, want two 503s (one retry)", calls)
	} else {
		fixtures["error_503"] = calls[1]
	}
	if es503.Retries() != 1 {
		t.Errorf("%d retries counted, want 1", es503.Retries())
	}

	for name, r := range fixtures {
		path := filepath.Join("testdata", name+".json")
		got := normalize(t, r.body)
		if *record {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (record the fixtures with: go test -tags integration -run TestFixturesAreTheNodesAnswers ./source -record)", err)
		}
		if !bytes.Equal(normalize(t, want), got) {
			t.Errorf("%s is no longer what the node answers; it now answers\n%s", path, got)
		}
	}
}

// rawClient sends esapi requests the source does not make straight to
// the test bed node, through rt.
func rawClient(t *testing.T, rt http.RoundTripper) *elasticsearch.Client {
	t.Helper()
	c, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{testbed.ElasticsearchURL(t)}, Transport: rt})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
