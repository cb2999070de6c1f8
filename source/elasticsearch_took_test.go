package source

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// TestElasticsearchTookSumsEverySearch: Took adds up what Elasticsearch
// reported for each search (every page of an aggregation, counts), and
// nothing for an answer that failed.
func TestElasticsearchTookSumsEverySearch(t *testing.T) {
	answers := []struct {
		status int
		body   string
	}{
		{http.StatusOK, `{"took":7,"_shards":{"total":1,"failed":0},"aggregations":{"groups":{"after_key":{"k0":"a"},"buckets":[{"key":{"k0":"a"},"doc_count":1}]}}}`},
		{http.StatusOK, `{"took":5,"_shards":{"total":1,"failed":0},"aggregations":{"groups":{"buckets":[]}}}`},
		{http.StatusOK, `{"took":30,"_shards":{"total":1,"failed":0},"hits":{"total":{"value":3}},"aggregations":{"malformed":{"doc_count":0}}}`},
		{http.StatusBadRequest, `{"took":1000,"error":{"type":"x","reason":"y"},"status":400}`},
	}
	es, _ := fakeElasticsearch(t, ElasticsearchConfig{PageSize: 1}, func(t *testing.T, n int, req fakeRequest) (int, []byte) {
		if n >= len(answers) {
			return http.StatusInternalServerError, []byte(`{"error":"no more answers"}`)
		}
		return answers[n].status, []byte(answers[n].body)
	})
	q := Query{Name: "q", Log: calicolog.Flows, GroupBy: []string{"source_name_aggr"}, Metrics: []Metric{{Name: "n", Kind: Count}}}
	if _, err := es.Aggregate(context.Background(), recordedWindow, q); err != nil {
		t.Fatal(err)
	}
	if got, want := es.Took(), 12*time.Millisecond; got != want {
		t.Errorf("after two pages Took = %v, want %v", got, want)
	}
	if _, err := es.Count(context.Background(), recordedWindow, calicolog.Flows); err != nil {
		t.Fatal(err)
	}
	if _, err := es.Count(context.Background(), recordedWindow, calicolog.Flows); err == nil {
		t.Fatal("a 400 answer gave no error")
	}
	if got, want := es.Took(), 42*time.Millisecond; got != want {
		t.Errorf("after a count and a failed one Took = %v, want %v", got, want)
	}
}
