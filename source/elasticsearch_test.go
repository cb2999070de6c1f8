package source

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/esnode"
)

// The answers under testdata/ were recorded from a real Elasticsearch
// 8.19.7 node by TestFixturesAreTheNodesAnswers (elasticsearch_integration_test.go,
// rerun it with -record after changing either): five flow documents indexed
// through EnsureTemplates and Bulk, then the very searches Aggregate (page
// size 2), Count and Samples send, over the window below. Three groups:
//
//	frontend-7d9c8f6b5-* to port 7070 of service cart: 1 record
//	scanner-* to port 22 of no service: 1 record, 10 bytes out
//	scanner-* to port 22 of service cart: 2 records, one with a null dest_ip
//
// plus one malformed record (a dest_port "abc") that Elasticsearch lists in
// _ignored.
var (
	recordedWindow = Window{Start: time.Unix(1795179600, 0).UTC(), End: time.Unix(1795179900, 0).UTC()}
	recordedNaming = calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "fixtures"}
	recordedIndex  = "tigera_secure_ee_flows.fixtures.*"
	recordedQuery  = Query{Name: "fixture", Log: calicolog.Flows,
		GroupBy: []string{"source_name_aggr", "dest_port", "dest_service_name"},
		Metrics: []Metric{
			{Name: "n", Kind: Count},
			{Name: "ips", Kind: Cardinality, Field: "dest_ip"},
			{Name: "bytes", Kind: Sum, Field: "bytes_out"},
			{Name: "max", Kind: Max, Field: "bytes_out"},
			{Name: "avg", Kind: Avg, Field: "bytes_out"},
			{Name: "rtt", Kind: Max, Field: "tcp_lost_packets"},
		}}
	recordedSampleFilter = []Term{{Field: "source_name_aggr", Values: []string{"scanner-*"}}}
)

func readRecorded(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeRequest is one request the fake Elasticsearch received.
type fakeRequest = esnode.Request

// fakeAnswer is what the fake answers to the n-th request (from 0).
type fakeAnswer = esnode.Answer

// fakeElasticsearch serves answer (an esnode) behind a Source configured
// like the recording, and returns the requests it received.
func fakeElasticsearch(t *testing.T, cfg ElasticsearchConfig, answer fakeAnswer) (*Elasticsearch, func() []fakeRequest) {
	t.Helper()
	url, requests := esnode.Start(t, answer)
	cfg.URLs = []string{url}
	if cfg.Naming == (calicolog.IndexNaming{}) {
		cfg.Naming = recordedNaming
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = time.Millisecond
	}
	es, err := NewElasticsearch(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return es, requests
}

// replay answers the n-th request with the n-th recorded file, after
// checking it searches the flow index.
func replay(files ...string) fakeAnswer {
	return func(t *testing.T, n int, req fakeRequest) (int, []byte) {
		if want := "/" + recordedIndex + "/_search"; req.Method != http.MethodPost && req.Method != http.MethodGet || req.Path != want {
			t.Errorf("request %d: %s %s, want a search of %s", n+1, req.Method, req.Path, want)
		}
		if n >= len(files) {
			t.Errorf("request %d: only %d recorded answers", n+1, len(files))
			return http.StatusInternalServerError, []byte(`{"error":"no more answers"}`)
		}
		return http.StatusOK, readRecorded(t, files[n])
	}
}

// at returns the value at path in a decoded JSON document, nil if absent.
func at(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// holds reports whether want is v or is found anywhere inside v.
func holds(v, want any) bool {
	if reflect.DeepEqual(v, want) {
		return true
	}
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if holds(e, want) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if holds(e, want) {
				return true
			}
		}
	}
	return false
}

// decoded is the JSON literal s decoded as a request body is.
func decoded(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

// windowRange is the filter that selects recordedWindow by end_time.
const windowRange = `{"range":{"end_time":{"gte":1795179600,"lt":1795179900,"format":"epoch_second"}}}`

func TestElasticsearchAggregateReplaysRecordedPages(t *testing.T) {
	es, requests := fakeElasticsearch(t, ElasticsearchConfig{PageSize: 2}, replay("composite_page1.json", "composite_page2.json"))
	rows, err := es.Aggregate(context.Background(), recordedWindow, recordedQuery)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		// A null dest_ip is indexed as 0.0.0.0, as Memory counts it; a
		// field no record has (tcp_lost_packets) reads 0.
		{Key: []string{"frontend-7d9c8f6b5-*", "7070", "cart"}, Values: []float64{1, 1, 2000, 2000, 2000, 0}},
		{Key: []string{"scanner-*", "22", ""}, Values: []float64{1, 1, 10, 10, 10, 0}},
		{Key: []string{"scanner-*", "22", "cart"}, Values: []float64{2, 2, 2000, 2000, 1000, 0}},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows =\n%v\nwant\n%v", rows, want)
	}

	reqs := requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 pages", len(reqs))
	}
	page1, page2 := reqs[0].Body, reqs[1].Body
	groups := []string{"aggs", "groups"}
	composite := append(groups, "composite")
	checks := []struct {
		name string
		ok   bool
	}{
		{"the window is selected by end_time in epoch seconds", holds(at(page1, "query", "bool", "filter"), decoded(t, windowRange))},
		{"malformed records (listed in _ignored) are excluded", holds(at(page1, "query", "bool", "must_not"), decoded(t, `{"exists":{"field":"_ignored"}}`))},
		{"records without source_name_aggr are excluded, by its group-by source, not an exists clause", reflect.DeepEqual(at(page1, append(composite, "sources")...).([]any)[0], decoded(t, `{"k0":{"terms":{"field":"source_name_aggr"}}}`)) &&
			!holds(at(page1, "query", "bool", "filter"), decoded(t, `{"exists":{"field":"source_name_aggr"}}`))},
		{"records without dest_name_aggr (not grouped by) are excluded by an exists clause", holds(at(page1, "query", "bool", "filter"), decoded(t, `{"exists":{"field":"dest_name_aggr"}}`))},
		{"and those whose source_name_aggr is empty", holds(at(page1, "query", "bool", "must_not"), decoded(t, `{"term":{"source_name_aggr":""}}`))},
		{"and those whose source_type is none of Calico's, by the terms around them", holds(at(page1, "query", "bool", "must_not"), decoded(t, `{"range":{"source_type":{"gt":"hep","lt":"net"}}}`))},
		{"no documents are fetched", at(page1, "size") == float64(0)},
		{"hits are not counted", at(page1, "track_total_hits") == false},
		{"a page holds PageSize groups", at(page1, append(composite, "size")...) == float64(2)},
		{"groups are keyed by the GroupBy fields in order, keeping records without those a record may lack", reflect.DeepEqual(at(page1, append(composite, "sources")...), decoded(t,
			`[{"k0":{"terms":{"field":"source_name_aggr"}}},{"k1":{"terms":{"field":"dest_port","missing_bucket":true}}},{"k2":{"terms":{"field":"dest_service_name","missing_bucket":true}}}]`))},
		{"a distinct count is a cardinality with a precision threshold", reflect.DeepEqual(at(page1, append(groups, "aggs", "m1")...), decoded(t, `{"cardinality":{"field":"dest_ip","precision_threshold":40000}}`))},
		{"a sum is a sum", reflect.DeepEqual(at(page1, append(groups, "aggs", "m2")...), decoded(t, `{"sum":{"field":"bytes_out"}}`))},
		{"a max is a max", reflect.DeepEqual(at(page1, append(groups, "aggs", "m3")...), decoded(t, `{"max":{"field":"bytes_out"}}`))},
		{"an average asks for the field", holds(at(page1, append(groups, "aggs", "m4")...), decoded(t, `{"field":"bytes_out"}`))},
		{"a count needs no sub-aggregation", at(page1, append(groups, "aggs", "m0")...) == nil},
		{"page 1 starts at the beginning", at(page1, append(composite, "after")...) == nil},
		{"page 2 starts after page 1's after_key, null key included", reflect.DeepEqual(at(page2, append(composite, "after")...), decoded(t, `{"k0":"scanner-*","k1":22,"k2":null}`))},
		{"page 2 asks the same query", reflect.DeepEqual(at(page2, "query"), at(page1, "query"))},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				b, _ := json.Marshal(page1)
				b2, _ := json.Marshal(page2)
				t.Errorf("request bodies do not say so:\npage 1: %s\npage 2: %s", b, b2)
			}
		})
	}
}

func TestElasticsearchAggregateStopsOnAShortPage(t *testing.T) {
	// With a page size of 3 the recorded first page (2 groups) is the last.
	es, requests := fakeElasticsearch(t, ElasticsearchConfig{PageSize: 3}, replay("composite_page1.json"))
	rows, err := es.Aggregate(context.Background(), recordedWindow, recordedQuery)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(requests()) != 1 {
		t.Errorf("%d rows from %d requests, want 2 rows from 1", len(rows), len(requests()))
	}
}

func TestElasticsearchCountReplaysRecordedAnswer(t *testing.T) {
	es, requests := fakeElasticsearch(t, ElasticsearchConfig{}, replay("count.json"))
	got, err := es.Count(context.Background(), recordedWindow, calicolog.Flows)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Records: 5, Malformed: 1}); got != want {
		t.Errorf("Count = %+v, want %+v", got, want)
	}
	body := requests()[0].Body
	checks := []struct {
		name string
		ok   bool
	}{
		{"the window is selected by end_time in epoch seconds", holds(at(body, "query", "bool", "filter"), decoded(t, windowRange))},
		{"every hit is counted exactly", at(body, "track_total_hits") == true},
		{"no documents are fetched", at(body, "size") == float64(0)},
		{"malformed records are counted by a filter aggregation on _ignored", holds(at(body, "aggs", "malformed", "filter"), decoded(t, `{"exists":{"field":"_ignored"}}`))},
		{"and on a missing required field", holds(at(body, "aggs", "malformed", "filter"), decoded(t, `{"exists":{"field":"dest_name_aggr"}}`))},
		{"malformed records are not excluded from the total", at(body, "query", "bool", "must_not") == nil},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				b, _ := json.Marshal(body)
				t.Errorf("request body does not say so: %s", b)
			}
		})
	}
}

func TestElasticsearchSamplesReplaysRecordedAnswer(t *testing.T) {
	es, requests := fakeElasticsearch(t, ElasticsearchConfig{}, replay("samples.json"))
	samples, err := es.Samples(context.Background(), recordedWindow, calicolog.Flows, recordedSampleFilter, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 3 {
		t.Fatalf("%d samples, want the 3 the node answered", len(samples))
	}
	var ends []int64
	for _, s := range samples {
		f, err := calicolog.DecodeFlowLog(s)
		if err != nil {
			t.Fatalf("sample %s does not decode: %v", s, err)
		}
		if f.SourceNameAggr != "scanner-*" {
			t.Errorf("sample from %q, want the filtered source", f.SourceNameAggr)
		}
		ends = append(ends, int64(f.EndTime))
	}
	if want := []int64{1795179780, 1795179780, 1795179720}; !reflect.DeepEqual(ends, want) {
		t.Errorf("sample end times %v, want %v (latest first)", ends, want)
	}
	body := requests()[0].Body
	checks := []struct {
		name string
		ok   bool
	}{
		{"n documents are fetched", at(body, "size") == float64(5)},
		{"the window is selected by end_time in epoch seconds", holds(at(body, "query", "bool", "filter"), decoded(t, windowRange))},
		{"the filters are terms filters", holds(at(body, "query", "bool", "filter"), decoded(t, `{"terms":{"source_name_aggr":["scanner-*"]}}`))},
		{"the latest end_time comes first", holds(at(body, "sort"), decoded(t, `{"end_time":"desc"}`))},
		{"malformed records are no evidence", holds(at(body, "query", "bool", "filter"), decoded(t, `{"exists":{"field":"_ignored"}}`))},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				b, _ := json.Marshal(body)
				t.Errorf("request body does not say so: %s", b)
			}
		})
	}
}

func TestElasticsearchSamplesOfNoneAsksNothing(t *testing.T) {
	es, requests := fakeElasticsearch(t, ElasticsearchConfig{}, replay())
	for _, n := range []int{0, -1} {
		samples, err := es.Samples(context.Background(), recordedWindow, calicolog.Flows, nil, n)
		if err != nil || samples != nil {
			t.Errorf("Samples(n=%d) = %v, %v; want nothing", n, samples, err)
		}
	}
	if len(requests()) != 0 {
		t.Errorf("%d requests sent for no samples", len(requests()))
	}
}

func TestElasticsearchVersionReplaysRecordedAnswer(t *testing.T) {
	es, requests := fakeElasticsearch(t, ElasticsearchConfig{}, func(t *testing.T, n int, req fakeRequest) (int, []byte) {
		return http.StatusOK, readRecorded(t, "nodes_local.json")
	})
	v, err := es.Version(context.Background())
	if err != nil || v != "8.19.7" {
		t.Errorf("Version() = %q, %v; want 8.19.7", v, err)
	}
	if req := requests()[0]; req.Path != "/_nodes/_local" || !reflect.DeepEqual(req.Query["filter_path"], []string{"nodes.*.version"}) {
		t.Errorf("asked %s?%v, want /_nodes/_local filtered to the version (the test node has no GET /)", req.Path, req.Query)
	}
}

func TestElasticsearchErrorNamesWhatFailed(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   []byte
		call   func(es *Elasticsearch) error
		want   []string
	}{
		{
			name:   "a query the index cannot run names the index, the status, Elasticsearch's error and its cause",
			status: http.StatusBadRequest, body: readRecorded(t, "error_bad_ip_filter.json"),
			call: func(es *Elasticsearch) error {
				q := Query{Name: "bad ip filter", Log: calicolog.Flows, GroupBy: []string{"source_name_aggr"},
					Filters: []Term{{Field: "dest_ip", Values: []string{"not-an-ip"}}}, Metrics: []Metric{{Name: "n", Kind: Count}}}
				_, err := es.Aggregate(context.Background(), recordedWindow, q)
				return err
			},
			want: []string{"bad ip filter", recordedIndex, "400", "search_phase_execution_exception", "all shards failed", "'not-an-ip' is not an IP string literal"},
		},
		{
			name:   "a count that fails names the index and the status",
			status: http.StatusBadRequest, body: readRecorded(t, "error_bad_ip_filter.json"),
			call: func(es *Elasticsearch) error {
				_, err := es.Count(context.Background(), recordedWindow, calicolog.Flows)
				return err
			},
			want: []string{recordedIndex, "400", "search_phase_execution_exception"},
		},
		{
			name:   "a refused index template names the template, the status and Elasticsearch's error",
			status: http.StatusBadRequest, body: readRecorded(t, "error_index_template.json"),
			call: func(es *Elasticsearch) error { return es.EnsureTemplates(context.Background()) },
			want: []string{"calico-anomaly-legacy-flows-fixtures", "400", "illegal_argument_exception", "template after composition is invalid"},
		},
		{
			name:   "a proxy's page that is not JSON is quoted",
			status: http.StatusForbidden, body: []byte("<html><body>403 Forbidden by policy</body></html>"),
			call: func(es *Elasticsearch) error {
				_, err := es.Samples(context.Background(), recordedWindow, calicolog.Flows, nil, 5)
				return err
			},
			want: []string{recordedIndex, "403", "Forbidden by policy"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es, _ := fakeElasticsearch(t, ElasticsearchConfig{}, func(t *testing.T, n int, req fakeRequest) (int, []byte) {
				return tc.status, tc.body
			})
			err := tc.call(es)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if es.Retries() != 0 {
				t.Errorf("retried %d times; a %d is not retried", es.Retries(), tc.status)
			}
		})
	}
}

func TestElasticsearchRetries(t *testing.T) {
	unavailable := []byte(`{"error":{"root_cause":[],"type":"search_phase_execution_exception","reason":"all shards failed"},"status":503}`)
	tests := []struct {
		name        string
		failures    []int // statuses answered before the recorded answer
		wantRetries uint64
		wantErr     string // "" when the count must succeed
	}{
		{"a 503 answered twice, then the answer", []int{503, 503}, 2, ""},
		{"a 429 (too many requests) once", []int{429}, 1, ""},
		{"a 502 and a 504 from a proxy", []int{502, 504}, 2, ""},
		{"a 503 that lasts past three retries fails naming it", []int{503, 503, 503, 503, 503}, 3, "503"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es, requests := fakeElasticsearch(t, ElasticsearchConfig{MaxRetries: 3}, func(t *testing.T, n int, req fakeRequest) (int, []byte) {
				if n < len(tc.failures) {
					return tc.failures[n], unavailable
				}
				return replay("count.json")(t, 0, req)
			})
			got, err := es.Count(context.Background(), recordedWindow, calicolog.Flows)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Count failed: %v", err)
			case tc.wantErr == "" && got != (Counts{Records: 5, Malformed: 1}):
				t.Errorf("Count = %+v after retries, want the recorded answer", got)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), recordedIndex)):
				t.Errorf("error %v does not name %s and the index", err, tc.wantErr)
			}
			if es.Retries() != tc.wantRetries {
				t.Errorf("Retries() = %d, want %d", es.Retries(), tc.wantRetries)
			}
			if want := int(tc.wantRetries) + 1; len(requests()) != want {
				t.Errorf("%d requests sent, want %d", len(requests()), want)
			}
		})
	}
}

func TestElasticsearchUnreachableErrorNamesTheAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more
	es, err := NewElasticsearch(ElasticsearchConfig{URLs: []string{"http://" + addr}, Naming: recordedNaming,
		MaxRetries: 1, RetryBackoff: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"count", func() error { _, err := es.Count(context.Background(), recordedWindow, calicolog.Flows); return err }},
		{"aggregate", func() error { _, err := es.Aggregate(context.Background(), recordedWindow, recordedQuery); return err }},
		{"version", func() error { _, err := es.Version(context.Background()); return err }},
	}
	for _, c := range calls {
		t.Run(c.name+" names the address", func(t *testing.T) {
			err := c.call()
			if err == nil || !strings.Contains(err.Error(), addr) {
				t.Errorf("error %v does not name %s", err, addr)
			}
			if c.name != "version" && !strings.Contains(err.Error(), recordedIndex) {
				t.Errorf("error %v does not name the index %s", err, recordedIndex)
			}
		})
	}
}

func TestElasticsearchRefusesAServerThatIsNotElasticsearch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(readRecorded(t, "count.json")) // the right body, without X-Elastic-Product
	}))
	defer srv.Close()
	es, err := NewElasticsearch(ElasticsearchConfig{URLs: []string{srv.URL}, Naming: recordedNaming}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = es.Count(context.Background(), recordedWindow, calicolog.Flows)
	if err == nil || !strings.Contains(err.Error(), recordedIndex) || !strings.Contains(strings.ToLower(err.Error()), "not elasticsearch") {
		t.Errorf("error %v does not say the server at the index is not Elasticsearch", err)
	}
}

func TestElasticsearchSendsItsCredentials(t *testing.T) {
	tests := []struct {
		name string
		cfg  ElasticsearchConfig
		want string
	}{
		{"an API key goes in the ApiKey scheme (the client spells it APIKey; Elasticsearch takes either)", ElasticsearchConfig{APIKey: "aWQ6a2V5"}, "APIKey aWQ6a2V5"},
		{"a user and password go in basic auth", ElasticsearchConfig{Username: "calico-reader", Password: "pw"}, "Basic Y2FsaWNvLXJlYWRlcjpwdw=="},
		{"no credentials, no header", ElasticsearchConfig{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.Header.Get("Authorization"))
				mu.Unlock()
				w.Header().Set("X-Elastic-Product", "Elasticsearch")
				w.Header().Set("Content-Type", "application/json")
				w.Write(readRecorded(t, "count.json"))
			}))
			defer srv.Close()
			cfg := tc.cfg
			cfg.URLs, cfg.Naming = []string{srv.URL}, recordedNaming
			es, err := NewElasticsearch(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := es.Count(context.Background(), recordedWindow, calicolog.Flows); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) == 0 || got[len(got)-1] != tc.want {
				t.Errorf("Authorization %q, want %q", got, tc.want)
			}
		})
	}
}

// TestElasticsearchExcludingTermIsMustNotTerms: a Term with Exclude asks
// Elasticsearch for records whose field holds none of the values, those
// without the field included, as the in-memory source keeps them.
func TestElasticsearchExcludingTermIsMustNotTerms(t *testing.T) {
	es, requests := fakeElasticsearch(t, ElasticsearchConfig{PageSize: 3}, replay("composite_page1.json"))
	q := recordedQuery
	q.Filters = []Term{{Field: "source_name_aggr", Values: []string{"frontend-*"}}, {Field: "source_namespace", Values: []string{"shop", "team-1"}, Exclude: true}}
	if _, err := es.Aggregate(context.Background(), recordedWindow, q); err != nil {
		t.Fatal(err)
	}
	body := requests()[0].Body
	filter := at(body, "query", "bool", "filter")
	if !holds(filter, decoded(t, `{"bool":{"must_not":[{"terms":{"source_namespace":["shop","team-1"]}}]}}`)) {
		b, _ := json.Marshal(body)
		t.Errorf("the excluding term is not a must_not terms filter: %s", b)
	}
	if !holds(filter, decoded(t, `{"terms":{"source_name_aggr":["frontend-*"]}}`)) {
		b, _ := json.Marshal(body)
		t.Errorf("the other term is not a terms filter: %s", b)
	}
}

// TestElasticsearchTermWithKnownIsPositive: a Term with Known asks for its
// values' terms and the ranges between every listed value (new values), as
// positive clauses, and leaves out the empty value.
func TestElasticsearchTermWithKnownIsPositive(t *testing.T) {
	es, requests := fakeElasticsearch(t, ElasticsearchConfig{PageSize: 3}, replay("composite_page1.json"))
	q := recordedQuery
	q.Filters = []Term{{Field: "source_namespace", Values: []string{"shop"}, Known: []string{"db", "team-1"}}}
	if _, err := es.Aggregate(context.Background(), recordedWindow, q); err != nil {
		t.Fatal(err)
	}
	body := requests()[0].Body
	want := decoded(t, `{"bool":{"should":[{"terms":{"source_namespace":["shop"]}},
		{"range":{"source_namespace":{"lt":"db"}}},{"range":{"source_namespace":{"gt":"db","lt":"shop"}}},
		{"range":{"source_namespace":{"gt":"shop","lt":"team-1"}}},{"range":{"source_namespace":{"gt":"team-1"}}}],
		"minimum_should_match":1,"must_not":[{"term":{"source_namespace":""}}]}}`)
	if !holds(at(body, "query", "bool", "filter"), want) {
		b, _ := json.Marshal(body)
		t.Errorf("the term is not its values and the ranges between the listed ones: %s", b)
	}
}
