//go:build integration

package source_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/elastic"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testbed"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// editor passes requests to the test bed node and edits its 200 answers
// to searches.
type editor struct{ edit func([]byte) []byte }

func (e editor) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || res.StatusCode != http.StatusOK || !strings.HasSuffix(req.URL.Path, "/_search") {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	body = e.edit(body)
	res.Body, res.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	res.Header.Del("Content-Length")
	return res, nil
}

// TestElasticsearchAnswerChecksOnTheNode proves the answer checks against
// the real node: its own answers pass, the same answers with the
// aggregation taken out, or replaced by {}, are refused naming what is
// missing, and the size bound refuses them before they are read whole.
func TestElasticsearchAnswerChecksOnTheNode(t *testing.T) {
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: unique("answers")}
	writer := newES(t, naming, 0, nil)
	ctx := context.Background()
	var ops []elastic.BulkOp
	for _, d := range []doc{flowDoc("a", day0.Add(time.Minute), nil), flowDoc("b", day0.Add(2*time.Minute), set("source_name_aggr", "scanner-*"))} {
		ops = append(ops, elastic.BulkOp{Index: naming.WriteIndex(d.log, day0), ID: d.id, Doc: d.body})
	}
	if _, err := writer.Bulk(ctx, ops); err != nil {
		t.Fatal(err)
	}
	refresh(t, writer, naming)
	q := source.Query{Name: "answers", Log: calicolog.Flows, GroupBy: []string{"source_name_aggr"}, Metrics: []source.Metric{{Name: "n", Kind: source.Count}}}

	for _, tc := range []struct {
		name     string
		edit     func([]byte) []byte
		maxBytes int64
		wantErr  string
	}{
		{"the node's answers", func(b []byte) []byte { return b }, 0, ""},
		{"aggregations taken out", func(b []byte) []byte { return bytes.Replace(b, []byte(`"aggregations"`), []byte(`"aggregationz"`), 1) }, 0, "no aggregations."},
		{"an empty object", func([]byte) []byte { return []byte(`{}`) }, 0, "no _shards"},
		{"larger than the bound", func(b []byte) []byte { return b }, 64, "more than the 64 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, err := source.NewElasticsearch(source.ElasticsearchConfig{URLs: []string{testbed.ElasticsearchURL(t)}, Naming: naming,
				Transport: editor{tc.edit}, MaxResponseBytes: tc.maxBytes}, nil)
			if err != nil {
				t.Fatal(err)
			}
			c, cerr := es.Count(ctx, win, calicolog.Flows)
			rows, aerr := es.Aggregate(ctx, win, q)
			if tc.wantErr == "" {
				if cerr != nil || aerr != nil {
					t.Fatalf("count %v, aggregate %v; want no error", cerr, aerr)
				}
				if c.Records != 2 || len(rows) != 2 {
					t.Fatalf("count %+v and %d rows, want 2 records in 2 groups", c, len(rows))
				}
				return
			}
			for what, err := range map[string]error{"count": cerr, "aggregate": aerr} {
				if _, ok := errors.AsType[*source.AnswerError](err); !ok || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%s: error %v, want an *AnswerError containing %q", what, err, tc.wantErr)
				}
			}
		})
	}
}
