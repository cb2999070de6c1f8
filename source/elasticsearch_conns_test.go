package source

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// TestElasticsearchReusesConnectionsAboveTwoAtOnce: with four searches in
// flight at a time, the source keeps its four connections open between
// rounds instead of opening new ones (Go's default transport keeps two
// idle connections per host and closes the rest).
func TestElasticsearchReusesConnectionsAboveTwoAtOnce(t *testing.T) {
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond) // keep the four requests of a round in flight together
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"took":1,"timed_out":false,"_shards":{"total":1,"failed":0},"hits":{"total":{"value":1}},"aggregations":{"malformed":{"doc_count":0}}}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	es, err := NewElasticsearch(ElasticsearchConfig{URLs: []string{srv.URL}, Naming: recordedNaming}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const atOnce, rounds = 4, 10
	for range rounds {
		var wg sync.WaitGroup
		for range atOnce {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := es.Count(context.Background(), recordedWindow, calicolog.Flows); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	if n := opened.Load(); n > atOnce {
		t.Errorf("%d connections opened for %d rounds of %d requests at once, want at most %d", n, rounds, atOnce, atOnce)
	}
}

// TestElasticsearchAsksForAnswersUncompressed: the source's requests do
// not offer gzip, so the node spends no CPU compressing answers.
func TestElasticsearchAsksForAnswersUncompressed(t *testing.T) {
	var offered atomic.Value
	offered.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		offered.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"took":1,"timed_out":false,"_shards":{"total":1,"failed":0},"hits":{"total":{"value":1}},"aggregations":{"malformed":{"doc_count":0}}}`))
	}))
	t.Cleanup(srv.Close)
	es, err := NewElasticsearch(ElasticsearchConfig{URLs: []string{srv.URL}, Naming: recordedNaming}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := es.Count(context.Background(), recordedWindow, calicolog.Flows); err != nil {
		t.Fatal(err)
	}
	if got := offered.Load().(string); strings.Contains(got, "gzip") {
		t.Errorf("Accept-Encoding %q offers gzip", got)
	}
}
