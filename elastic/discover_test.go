package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/esnode"
)

// recordingNode is an esnode answering with answer, and a client reading
// naming's indices through it.
func recordingNode(t *testing.T, naming calicolog.IndexNaming, answer esnode.Answer) (*Client, func() []esnode.Request) {
	t.Helper()
	url, requests := esnode.Start(t, answer)
	c, err := New(Config{URLs: []string{url}, Naming: naming, RetryBackoff: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, requests
}

// resolveAnswer is a canned answer of GET _resolve/index, shaped as
// Elasticsearch 8 gives it.
const resolveAnswer = `{
  "indices": [
    {"name": "tigera_secure_ee_flows.east.fluentd.20261120", "attributes": ["open"]},
    {"name": "tigera_secure_ee_flows.east.fluentd.20261121", "attributes": ["open"]},
    {"name": "tigera_secure_ee_flows.west.linseed-000001", "aliases": ["tigera_secure_ee_flows.west."], "attributes": ["open"]},
    {"name": "tigera_secure_ee_flows.eu.prod.fluentd.20261120", "attributes": ["open"]}
  ],
  "aliases": [
    {"name": "tigera_secure_ee_flows.west.", "indices": ["tigera_secure_ee_flows.west.linseed-000001"]},
    {"name": "tigera_secure_ee_flows.north.", "indices": ["tigera_secure_ee_flows.north.linseed-000003"]}
  ],
  "data_streams": []
}`

func TestDiscoverClustersLegacy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tenant   string
		pattern  string
		answer   string
		status   int
		wantPath string
		want     []string
	}{
		{"every cluster", "", "*", resolveAnswer, 200, "/_resolve/index/tigera_secure_ee_flows.*.*", []string{"east", "eu.prod", "north", "west"}},
		{"a pattern", "", "e*", resolveAnswer, 200, "/_resolve/index/tigera_secure_ee_flows.e*.*", []string{"east", "eu.prod"}},
		{"a tenant", "acme", "prod-*", `{"indices":[{"name":"tigera_secure_ee_flows.acme.prod-1.fluentd.20261120"},{"name":"tigera_secure_ee_flows.acme.prod-2.linseed-000001"},{"name":"tigera_secure_ee_flows.acme.staging.linseed-000001"}],"aliases":[],"data_streams":[]}`,
			200, "/_resolve/index/tigera_secure_ee_flows.acme.prod-*.*", []string{"prod-1", "prod-2"}},
		{"no index", "", "*", `{"indices":[],"aliases":[],"data_streams":[]}`, 200, "/_resolve/index/tigera_secure_ee_flows.*.*", []string{}},
		{"not found", "", "prod", `{"error":{"type":"index_not_found_exception","reason":"no such index [tigera_secure_ee_flows.prod.*]"},"status":404}`, 404, "/_resolve/index/tigera_secure_ee_flows.prod.*", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "ignored", Tenant: tc.tenant}
			es, reqs := recordingNode(t, naming, func(t *testing.T, n int, req esnode.Request) (int, []byte) {
				return tc.status, []byte(tc.answer)
			})
			got, err := es.DiscoverClusters(context.Background(), calicolog.LayoutLegacy, tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("clusters %q, want %q", got, tc.want)
			}
			rs := reqs()
			if len(rs) != 1 || rs[0].Method != http.MethodGet || rs[0].Path != tc.wantPath {
				t.Fatalf("requests %+v, want one GET %s", rs, tc.wantPath)
			}
			if got := rs[0].Query["expand_wildcards"]; len(got) != 1 || got[0] != "open" {
				t.Errorf("expand_wildcards=%q, want open", got)
			}
		})
	}
}

// clusterPage is a canned answer of the single layout's composite
// aggregation holding clusters, with an after_key when more follow.
func clusterPage(clusters []string, more bool) []byte {
	type bucket struct {
		Key      map[string]any `json:"key"`
		DocCount int            `json:"doc_count"`
	}
	agg := map[string]any{}
	var buckets []bucket
	for _, c := range clusters {
		buckets = append(buckets, bucket{Key: map[string]any{"cluster": c}, DocCount: 12})
	}
	agg["buckets"] = buckets
	if more {
		agg["after_key"] = map[string]any{"cluster": clusters[len(clusters)-1]}
	}
	b, _ := json.Marshal(map[string]any{"took": 3, "timed_out": false, "_shards": map[string]any{"total": 1, "failed": 0}, "hits": map[string]any{"hits": []any{}}, "aggregations": map[string]any{"clusters": agg}})
	return b
}

func TestDiscoverClustersSingle(t *testing.T) {
	var first []string
	for i := range discoverPageSize {
		first = append(first, fmt.Sprintf("c-%04d", i))
	}
	pages := [][]byte{clusterPage(first, true), clusterPage([]string{"prod", "z"}, true)}
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutSingle, Cluster: "ignored"}
	es, reqs := recordingNode(t, naming, func(t *testing.T, n int, req esnode.Request) (int, []byte) {
		if n >= len(pages) {
			t.Errorf("request %d: the pages were all given", n+1)
			return 500, nil
		}
		return 200, pages[n]
	})
	got, err := es.DiscoverClusters(context.Background(), calicolog.LayoutSingle, "*")
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]string(nil), first...), "prod", "z")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%d clusters (first %q), want %d", len(got), got[:min(3, len(got))], len(want))
	}
	rs := reqs()
	if len(rs) != 2 {
		t.Fatalf("%d requests, want 2 pages", len(rs))
	}
	for i, r := range rs {
		if r.Path != "/calico_flowlogs/_search" {
			t.Errorf("request %d: %s, want a search of calico_flowlogs", i+1, r.Path)
		}
		body, _ := json.Marshal(r.Body)
		if !strings.Contains(string(body), `"terms":{"field":"cluster"}`) {
			t.Errorf("request %d does not aggregate the cluster field: %s", i+1, body)
		}
		after := strings.Contains(string(body), `"after":{"cluster":"c-0499"}`)
		if after != (i == 1) {
			t.Errorf("request %d: after key present=%t: %s", i+1, after, body)
		}
	}

	// A pattern narrows the search in Elasticsearch and the answer here.
	es, reqs = recordingNode(t, naming, func(t *testing.T, n int, req esnode.Request) (int, []byte) {
		return 200, clusterPage([]string{"prod-eu", "prod-us", "staging"}, false)
	})
	got, err = es.DiscoverClusters(context.Background(), calicolog.LayoutSingle, "prod-*")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"prod-eu", "prod-us"}; !reflect.DeepEqual(got, want) {
		t.Errorf("clusters %q, want %q", got, want)
	}
	if body, _ := json.Marshal(reqs()[0].Body); !strings.Contains(string(body), `"wildcard":{"cluster":{"value":"prod-*"}}`) {
		t.Errorf("the search does not filter on the pattern: %s", body)
	}
}

func TestDiscoverClustersErrors(t *testing.T) {
	legacy := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "c"}
	for _, tc := range []struct {
		name    string
		layout  calicolog.Layout
		pattern string
		status  int
		answer  string
		wantErr string
	}{
		{"bad layout", "flat", "*", 200, `{}`, `unknown index layout "flat"`},
		{"bad pattern", calicolog.LayoutLegacy, "a,b", 200, `{}`, `cluster pattern "a,b"`},
		{"empty pattern", calicolog.LayoutLegacy, "", 200, `{}`, `cluster pattern is empty`},
		{"refused", calicolog.LayoutLegacy, "*", 403, `{"error":{"type":"security_exception","reason":"action [indices:admin/resolve/index] is unauthorized"},"status":403}`, "security_exception"},
		{"refused search", calicolog.LayoutSingle, "*", 400, `{"error":{"type":"illegal_argument_exception","reason":"Text fields are not optimised"},"status":400}`, "aggregate calico_flowlogs.cluster"},
		{"number key", calicolog.LayoutSingle, "*", 200, `{"_shards":{"total":1,"failed":0},"aggregations":{"clusters":{"buckets":[{"key":{"cluster":3},"doc_count":1}]}}}`, "want a keyword"},
		{"not json", calicolog.LayoutLegacy, "*", 200, `<html>`, "decode answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, _ := recordingNode(t, legacy, func(t *testing.T, n int, req esnode.Request) (int, []byte) {
				return tc.status, []byte(tc.answer)
			})
			got, err := es.DiscoverClusters(context.Background(), tc.layout, tc.pattern)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("DiscoverClusters = %q, %v; want an error containing %q", got, err, tc.wantErr)
			}
		})
	}
}
