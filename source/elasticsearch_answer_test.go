package source

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// TestAnswersWithoutWhatWasAskedAreErrors: a 200 that lacks the
// aggregation asked for, lost shards or timed out is an error naming what
// is missing (so the engine retries the window), never a window of zero
// records; the recorded answer of a cluster without indices is no data.
func TestAnswersWithoutWhatWasAskedAreErrors(t *testing.T) {
	recorded := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	withoutAggs := func(name string) string {
		// The recorded answer with its aggregations renamed away.
		return strings.Replace(recorded(name), `"aggregations"`, `"aggregationz"`, 1)
	}
	count := func(es *Elasticsearch) error {
		_, err := es.Count(context.Background(), recordedWindow, calicolog.Flows)
		return err
	}
	aggregate := func(es *Elasticsearch) error {
		_, err := es.Aggregate(context.Background(), recordedWindow, recordedQuery)
		return err
	}
	for _, tc := range []struct {
		name    string
		body    string
		call    func(*Elasticsearch) error
		wantErr string // "" for none
	}{
		{"an empty object counted", `{}`, count, "no _shards"},
		{"an empty object aggregated", `{}`, aggregate, "no _shards"},
		{"a count without its malformed aggregation", withoutAggs("count.json"), count, "no aggregations.malformed"},
		{"a page without its groups", withoutAggs("composite_page1.json"), aggregate, "no aggregations.groups"},
		{"shards failed", `{"took":1,"timed_out":false,"_shards":{"total":3,"failed":1,"failures":[{"index":"i","reason":{"type":"x","reason":"y"}}]},"hits":{"total":{"value":0}},"aggregations":{"malformed":{"doc_count":0}}}`, count, "1 of 3 shards failed (first: index i: x: y)"},
		{"timed out", `{"took":1,"timed_out":true,"_shards":{"total":1,"failed":0},"hits":{"total":{"value":0}},"aggregations":{"malformed":{"doc_count":0}}}`, count, "timed_out is true"},
		{"a count without hits.total", `{"took":1,"_shards":{"total":1,"failed":0},"hits":{},"aggregations":{"malformed":{"doc_count":0}}}`, count, "no hits.total"},
		{"no index of the cluster (recorded)", recorded("count_no_index.json"), count, ""},
		{"the recorded count", recorded("count.json"), count, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, _ := fakeElasticsearch(t, ElasticsearchConfig{}, func(*testing.T, int, fakeRequest) (int, []byte) {
				return http.StatusOK, []byte(tc.body)
			})
			err := tc.call(es)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if _, ok := errors.AsType[*AnswerError](err); !ok {
				t.Errorf("error %v is not an *AnswerError", err)
			}
		})
	}
}

// TestAnswersLargerThanTheBoundAreNotReadWhole: a body beyond
// MaxResponseBytes is an error, read no further than the bound.
func TestAnswersLargerThanTheBoundAreNotReadWhole(t *testing.T) {
	huge := append([]byte(`{"took":1,"_shards":{"total":1,"failed":0},"pad":"`), bytes.Repeat([]byte("x"), 1<<20)...)
	huge = append(huge, `"}`...)
	es, _ := fakeElasticsearch(t, ElasticsearchConfig{MaxResponseBytes: 64 << 10}, func(*testing.T, int, fakeRequest) (int, []byte) {
		return http.StatusOK, huge
	})
	_, err := es.Count(context.Background(), recordedWindow, calicolog.Flows)
	if err == nil || !strings.Contains(err.Error(), "more than the 65536 bytes") || !strings.Contains(err.Error(), "--es.max-response-size") {
		t.Fatalf("error %v, want one naming the bound and its flag", err)
	}
}
