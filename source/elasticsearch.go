package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// ElasticsearchConfig says how to reach Calico's Elasticsearch and where
// its logs are.
type ElasticsearchConfig struct {
	URLs     []string
	Username string
	Password string
	APIKey   string // base64 "id:key", as Elasticsearch issues it
	CACert   []byte // PEM
	Naming   calicolog.IndexNaming
	// PageSize is how many groups one page of a composite aggregation
	// holds (default 1000).
	PageSize int
	// RequestTimeout bounds one request, retries included (default 30s).
	RequestTimeout time.Duration
	// MaxRetries is how often a request that failed with 429, 502, 503,
	// 504 or a network error is retried, with exponential backoff and
	// jitter (default 3).
	MaxRetries int
}

// Elasticsearch is a Source over Calico's log indices. It counts with
// aggregations inside Elasticsearch and pulls raw documents only as
// evidence samples. It is safe for concurrent use.
type Elasticsearch struct {
	cfg     ElasticsearchConfig
	client  *elasticsearch.Client
	logger  log.Logger
	retries atomic.Uint64
}

// NewElasticsearch returns a source for cfg; it does not contact the
// server until the first query.
func NewElasticsearch(cfg ElasticsearchConfig, logger log.Logger) (*Elasticsearch, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("elasticsearch: no URL")
	}
	if err := cfg.Naming.Validate(); err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 1000
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 3
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	es := &Elasticsearch{cfg: cfg, logger: logger}
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:         cfg.URLs,
		Username:          cfg.Username,
		Password:          cfg.Password,
		APIKey:            cfg.APIKey,
		CACert:            cfg.CACert,
		RetryOnStatus:     []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		MaxRetries:        cfg.MaxRetries,
		RetryBackoff:      es.backoff,
		DisableMetaHeader: true,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	es.client = client
	return es, nil
}

// backoff waits 100ms·2^attempt with full jitter, and counts the retry.
func (e *Elasticsearch) backoff(attempt int) time.Duration {
	e.retries.Add(1)
	d := 100 * time.Millisecond << min(attempt, 6)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Kind is "elasticsearch".
func (e *Elasticsearch) Kind() string { return "elasticsearch" }

// Retries counts requests retried inside the client.
func (e *Elasticsearch) Retries() uint64 { return e.retries.Load() }

// Naming is where the source looks for logs.
func (e *Elasticsearch) Naming() calicolog.IndexNaming { return e.cfg.Naming }

// esError is Elasticsearch's error body.
type esError struct {
	Error struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
	Status int `json:"status"`
}

// do runs req and decodes a 2xx JSON answer into out; any other answer is
// an error naming what was asked, the status and Elasticsearch's reason.
func (e *Elasticsearch) do(ctx context.Context, what string, req esapi.Request, out any) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
	defer cancel()
	res, err := req.Do(ctx, e.client)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", what, err)
	}
	if res.IsError() {
		var ee esError
		if json.Unmarshal(body, &ee) == nil && ee.Error.Type != "" {
			return fmt.Errorf("%s: %s: %s: %s", what, res.Status(), ee.Error.Type, ee.Error.Reason)
		}
		return fmt.Errorf("%s: %s: %s", what, res.Status(), truncateBody(body))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", what, err)
	}
	return nil
}

func truncateBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func (e *Elasticsearch) search(ctx context.Context, what string, t calicolog.LogType, body any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	index := e.cfg.Naming.SearchIndex(t)
	yes := true
	req := esapi.SearchRequest{
		Index:             []string{index},
		Body:              bytes.NewReader(b),
		IgnoreUnavailable: &yes,
		AllowNoIndices:    &yes,
	}
	return e.do(ctx, fmt.Sprintf("%s on %s", what, index), req, out)
}

// windowFilter selects the records of w (by end_time) of this cluster.
func (e *Elasticsearch) windowFilter(w Window, extra []Term) []any {
	filters := []any{map[string]any{"range": map[string]any{"end_time": map[string]any{
		"gte": w.Start.Unix(), "lt": w.End.Unix(), "format": "epoch_second",
	}}}}
	if field, value, ok := e.cfg.Naming.ClusterFilter(); ok {
		filters = append(filters, map[string]any{"term": map[string]any{field: value}})
	}
	for _, t := range extra {
		filters = append(filters, map[string]any{"terms": map[string]any{t.Field: t.Values}})
	}
	return filters
}

// requiredFields are the fields without which a record of a log type
// cannot be attributed to an entity; a record lacking them is malformed.
var requiredFields = map[calicolog.LogType][]string{
	calicolog.Flows: {"source_name_aggr", "dest_name_aggr"},
	calicolog.DNS:   {"client_name_aggr", "qname"},
	calicolog.L7:    {"dest_name_aggr"},
}

// malformedQuery matches the records of t that break the log contract: a
// value Elasticsearch could not index (listed in _ignored, as the index's
// ignore_malformed setting keeps them) or a required field missing.
func malformedQuery(t calicolog.LogType) map[string]any {
	should := []any{map[string]any{"exists": map[string]any{"field": "_ignored"}}}
	for _, f := range requiredFields[t] {
		should = append(should, map[string]any{"bool": map[string]any{"must_not": map[string]any{"exists": map[string]any{"field": f}}}})
	}
	return map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}}
}

// Count returns the records of t in w and how many are malformed.
func (e *Elasticsearch) Count(ctx context.Context, w Window, t calicolog.LogType) (Counts, error) {
	body := map[string]any{
		"size":             0,
		"track_total_hits": true,
		"query":            map[string]any{"bool": map[string]any{"filter": e.windowFilter(w, nil)}},
		"aggs":             map[string]any{"malformed": map[string]any{"filter": malformedQuery(t)}},
	}
	var res countResponse
	if err := e.search(ctx, "count "+string(t)+" records", t, body, &res); err != nil {
		return Counts{}, err
	}
	return Counts{Records: res.Hits.Total.Value, Malformed: res.Aggregations.Malformed.DocCount}, nil
}

// Aggregate runs q as one composite aggregation over w, paging with
// after_key until every group is read.
func (e *Elasticsearch) Aggregate(ctx context.Context, w Window, q Query) ([]Row, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	sources := make([]any, len(q.GroupBy))
	for i, f := range q.GroupBy {
		sources[i] = map[string]any{groupKey(i): map[string]any{"terms": map[string]any{"field": f, "missing_bucket": true}}}
	}
	subAggs := map[string]any{}
	for i, m := range q.Metrics {
		switch m.Kind {
		case Count:
		case Sum, Max, Avg:
			subAggs[metricKey(i)] = map[string]any{m.Kind.String(): map[string]any{"field": m.Field}}
		case Cardinality:
			subAggs[metricKey(i)] = map[string]any{"cardinality": map[string]any{"field": m.Field, "precision_threshold": 40000}}
		default:
			return nil, fmt.Errorf("query %s: metric %s: unsupported kind %s", q.Name, m.Name, m.Kind)
		}
	}
	query := map[string]any{"bool": map[string]any{
		"filter":   e.windowFilter(w, q.Filters),
		"must_not": []any{malformedQuery(q.Log)},
	}}
	var rows []Row
	var after map[string]any
	for page := 0; ; page++ {
		composite := map[string]any{"size": e.cfg.PageSize, "sources": sources}
		if after != nil {
			composite["after"] = after
		}
		body := map[string]any{
			"size":             0,
			"track_total_hits": false,
			"query":            query,
			"aggs":             map[string]any{"groups": map[string]any{"composite": composite, "aggs": subAggs}},
		}
		var res compositeResponse
		if err := e.search(ctx, fmt.Sprintf("aggregate %s (page %d)", q.Name, page+1), q.Log, body, &res); err != nil {
			return nil, err
		}
		for _, b := range res.Aggregations.Groups.Buckets {
			row, err := b.row(q)
			if err != nil {
				return nil, fmt.Errorf("aggregate %s: %w", q.Name, err)
			}
			rows = append(rows, row)
		}
		if len(res.Aggregations.Groups.Buckets) < e.cfg.PageSize || len(res.Aggregations.Groups.AfterKey) == 0 {
			break
		}
		after = res.Aggregations.Groups.AfterKey
	}
	SortRows(rows)
	return rows, nil
}

// Samples returns up to n documents of t in w matching filters, newest
// first, as evidence.
func (e *Elasticsearch) Samples(ctx context.Context, w Window, t calicolog.LogType, filters []Term, n int) ([]json.RawMessage, error) {
	if n <= 0 {
		return nil, nil
	}
	body := map[string]any{
		"size":             n,
		"track_total_hits": false,
		"query":            map[string]any{"bool": map[string]any{"filter": e.windowFilter(w, filters)}},
		"sort":             []any{map[string]any{"end_time": "desc"}, "_doc"},
	}
	var res samplesResponse
	if err := e.search(ctx, "sample "+string(t)+" records", t, body, &res); err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, len(res.Hits.Hits))
	for _, h := range res.Hits.Hits {
		out = append(out, h.Source)
	}
	return out, nil
}

// Version asks the node for its version.
func (e *Elasticsearch) Version(ctx context.Context) (string, error) {
	var res struct {
		Nodes map[string]struct {
			Version string `json:"version"`
		} `json:"nodes"`
	}
	req := esapi.NodesInfoRequest{NodeID: []string{"_local"}, FilterPath: []string{"nodes.*.version"}}
	if err := e.do(ctx, "node version", req, &res); err != nil {
		return "", err
	}
	for _, n := range res.Nodes {
		return n.Version, nil
	}
	return "", errors.New("node version: no node answered")
}
