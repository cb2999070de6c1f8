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
	"github.com/go-kit/log/level"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/redact"
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
	// holds (default DefaultPageSize). Without an index sorted by the group
	// keys, Elasticsearch visits every record of the window for each page,
	// so its time grows with the number of pages: on one window of 216,859
	// records from 10,000 workloads, Elasticsearch's took for a window's
	// aggregations fell from 19.6 s at 1000 a page to 4.9 s at 10000; on
	// one of 10.8 million records, from 26.7 s at 10000 to 17.7 s at
	// 60000. A cluster whose search.max_buckets is below the page size
	// answers too_many_buckets_exception: the source then halves its page
	// size, logs it, and reads on from the page that failed.
	PageSize int
	// RequestTimeout bounds one request, retries included (default 30s).
	RequestTimeout time.Duration
	// MaxRetries is how often a request that failed with 429, 502, 503,
	// 504 or a network error is retried, with exponential backoff and
	// jitter (default 3).
	MaxRetries int
	// RetryBackoff is the wait before the first retry; it doubles with
	// each retry, up to 64 times (default 100ms).
	RetryBackoff time.Duration
	// MaxResponseBytes bounds one answer's body (default
	// DefaultMaxResponseBytes); a longer one is an error, not read whole.
	MaxResponseBytes int64
	// Transport carries the requests when set (a proxy, instrumentation,
	// or a test's recorder); by default the client's own.
	Transport http.RoundTripper
}

// Elasticsearch is a Source over Calico's log indices. It counts with
// aggregations inside Elasticsearch and pulls raw documents only as
// evidence samples. It is safe for concurrent use.
type Elasticsearch struct {
	cfg     ElasticsearchConfig
	client  *elasticsearch.Client
	logger  log.Logger
	retries atomic.Uint64
	took    atomic.Int64 // milliseconds, summed over searches
	// pageSize is the composite page in use: cfg.PageSize until the
	// cluster refuses that many buckets.
	pageSize atomic.Int64
}

// DefaultPageSize is the composite aggregation page when none is set:
// below Elasticsearch's default search.max_buckets (65,536).
const DefaultPageSize = 50000

// DefaultMaxResponseBytes is the largest answer read when none is set: a
// page of DefaultPageSize groups with a dozen metrics is about 30 MB.
const DefaultMaxResponseBytes = 256 << 20

// minPageSize is the smallest page the source shrinks to when the cluster
// refuses a page for its number of buckets.
const minPageSize = 1

var _ Source = (*Elasticsearch)(nil)

// NewElasticsearch returns a source for cfg; it does not contact the
// server until the first request.
func NewElasticsearch(cfg ElasticsearchConfig, logger log.Logger) (*Elasticsearch, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("elasticsearch: no URL")
	}
	if err := cfg.Naming.Validate(); err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	// Credentials in a URL become the client's basic authentication, so
	// no error, log line or page shows them.
	urls := make([]string, len(cfg.URLs))
	for i, raw := range cfg.URLs {
		clean, user, pass := redact.SplitURL(raw)
		urls[i] = clean
		if user != "" && cfg.Username == "" && cfg.APIKey == "" {
			cfg.Username, cfg.Password = user, pass
		}
	}
	cfg.URLs = urls
	redact.Secret(cfg.Password)
	redact.Secret(cfg.APIKey)
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 3
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 100 * time.Millisecond
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	if cfg.Transport == nil {
		cfg.Transport = pooledTransport()
	}
	es := &Elasticsearch{cfg: cfg, logger: logger}
	es.pageSize.Store(int64(cfg.PageSize))
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:         cfg.URLs,
		Username:          cfg.Username,
		Password:          cfg.Password,
		APIKey:            cfg.APIKey,
		CACert:            cfg.CACert,
		RetryOnStatus:     []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		MaxRetries:        cfg.MaxRetries,
		RetryBackoff:      es.backoff,
		Transport:         cfg.Transport,
		DisableMetaHeader: true,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch %s: %w", strings.Join(cfg.URLs, ","), err)
	}
	es.client = client
	return es, nil
}

// MaxIdleConnsPerHost is how many idle connections to one Elasticsearch
// node the source keeps for reuse: above the window's concurrent queries,
// evidence look-ups and bulk writers, so none of them opens a connection
// per request (Go's default keeps 2).
const MaxIdleConnsPerHost = 16

// pooledTransport is Go's default transport keeping MaxIdleConnsPerHost
// idle connections per node, and asking for answers uncompressed: a
// window's answers are about 20 MB of JSON at 1 million flow records,
// which a node over plain HTTP would otherwise gzip (CPU outside its took)
// for the source to gunzip, to save bandwidth inside the cluster, where
// there is plenty (Elasticsearch never compresses over HTTPS by default).
func pooledTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	t.DisableCompression = true
	return t
}

// backoff is the client's wait before retry number attempt: RetryBackoff
// doubled per retry, with jitter. The client also asks after its last
// attempt, when no retry follows: that is neither waited nor counted.
func (e *Elasticsearch) backoff(attempt int) time.Duration {
	if attempt > e.cfg.MaxRetries {
		return 0
	}
	e.retries.Add(1)
	d := e.cfg.RetryBackoff << min(attempt-1, 6)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	level.Debug(e.logger).Log("msg", "retrying Elasticsearch request", "attempt", attempt, "wait", d)
	return d
}

// Kind is "elasticsearch".
func (e *Elasticsearch) Kind() string { return "elasticsearch" }

// Retries counts requests retried after a 429, 502, 503, 504 or a network
// error, since the source was made.
func (e *Elasticsearch) Retries() uint64 { return e.retries.Load() }

// Took is the time Elasticsearch reported spending on this source's
// searches (their took, summed), since the source was made: the server's
// share of a window's reading, without the network and the decoding.
func (e *Elasticsearch) Took() time.Duration {
	return time.Duration(e.took.Load()) * time.Millisecond
}

// Naming is where the source looks for logs.
func (e *Elasticsearch) Naming() calicolog.IndexNaming { return e.cfg.Naming }

// do runs req and decodes a 2xx JSON answer into out; any other answer is
// an error naming what was asked, the HTTP status and Elasticsearch's
// error type and reason.
func (e *Elasticsearch) do(ctx context.Context, what string, req esapi.Request, out any) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
	defer cancel()
	res, err := req.Do(ctx, e.client)
	if err != nil {
		return fmt.Errorf("%s: elasticsearch %s: %w", what, strings.Join(e.cfg.URLs, ","), err)
	}
	defer res.Body.Close()
	limit := e.cfg.MaxResponseBytes
	body, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", what, err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("%s: %w", what, &AnswerError{Problem: fmt.Sprintf("more than the %d bytes answers may hold (--es.max-response-size)", limit)})
	}
	if res.IsError() {
		return fmt.Errorf("%s: %w", what, responseError(res.StatusCode, body))
	}
	if out == nil {
		return nil
	}
	decode := json.Unmarshal
	if d, ok := out.(interface{ decodeAnswer([]byte) error }); ok {
		decode = func(body []byte, _ any) error { return d.decodeAnswer(body) }
	}
	if err := decode(body, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", what, err)
	}
	if t, ok := out.(interface{ tookMillis() int64 }); ok {
		e.took.Add(t.tookMillis())
	}
	if c, ok := out.(interface{ check() error }); ok {
		if err := c.check(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
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

// windowFilter selects the records of w (by end_time) of this cluster. The
// range reads epoch seconds whatever the field's own format: flow and L7
// end_time are epoch_second dates, DNS end_time RFC 3339 ones.
func (e *Elasticsearch) windowFilter(w Window, terms []Term) []any {
	filters := []any{rangeQuery("end_time", map[string]any{
		"gte": w.Start.Unix(), "lt": w.End.Unix(), "format": "epoch_second",
	})}
	if field, value, ok := e.cfg.Naming.ClusterFilter(); ok {
		filters = append(filters, termQuery(field, value))
	}
	for _, t := range terms {
		filters = append(filters, map[string]any{"terms": map[string]any{t.Field: t.Values}})
	}
	return filters
}

// Count returns the records of t in w and how many of them are malformed
// (see malformedQuery), with one search that reads no document.
func (e *Elasticsearch) Count(ctx context.Context, w Window, t calicolog.LogType) (Counts, error) {
	if _, err := calicolog.ParseLogType(string(t)); err != nil {
		return Counts{}, err
	}
	body := map[string]any{
		"size":             0,
		"track_total_hits": true,
		"query":            boolQuery(map[string]any{"filter": e.windowFilter(w, nil)}),
		"aggs":             map[string]any{"malformed": map[string]any{"filter": malformedQuery(t)}},
	}
	var res countResponse
	if err := e.search(ctx, "count "+string(t)+" records", t, body, &res); err != nil {
		return Counts{}, err
	}
	return res.counts(), nil
}

// Aggregate runs q as one composite aggregation over w, paging with
// after_key until every group is read. Malformed records are skipped. A
// group key a record lacks reads "", and numbers in keys read in decimal.
func (e *Elasticsearch) Aggregate(ctx context.Context, w Window, q Query) ([]Row, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	req, err := newCompositeRequest(q, e.windowFilter(w, q.Filters), e.PageSize())
	if err != nil {
		return nil, err
	}
	var acc rowMerger
	for page := 1; ; page++ {
		var res compositeResponse
		if err := e.search(ctx, fmt.Sprintf("aggregate %s (page %d)", q.Name, page), q.Log, req.body(), &res); err != nil {
			if smaller, ok := e.shrinkPage(req.size, err); ok {
				level.Warn(e.logger).Log("msg", "Elasticsearch refused a page for its number of buckets (search.max_buckets); reading on with smaller pages",
					"query", q.Name, "page_size", req.size, "new_page_size", smaller, "err", err)
				req.size = smaller
				page--
				continue
			}
			return nil, err
		}
		groups := res.groups()
		for i := range groups.Buckets {
			row, weights, err := groups.Buckets[i].row(q)
			if err != nil {
				return nil, fmt.Errorf("aggregate %s on %s (page %d): %w", q.Name, e.cfg.Naming.SearchIndex(q.Log), page, err)
			}
			acc.add(q, row, weights)
		}
		if len(groups.Buckets) < req.size || len(groups.AfterKey) == 0 {
			break
		}
		req.after = groups.AfterKey
	}
	rows := acc.rows()
	SortRows(rows)
	return rows, nil
}

// PageSize is the composite aggregation page the source asks for now:
// the configured one, or less once the cluster refused that many buckets.
func (e *Elasticsearch) PageSize() int { return int(e.pageSize.Load()) }

// shrinkPage says whether err is the cluster refusing a page of size
// buckets (too_many_buckets_exception) and, if a smaller page is left to
// try, what size to read on with; the source keeps that size for later
// queries.
func (e *Elasticsearch) shrinkPage(size int, err error) (int, bool) {
	var ee *ElasticsearchError
	if !errors.As(err, &ee) || size <= minPageSize {
		return 0, false
	}
	const tooMany = "too_many_buckets_exception"
	if ee.Type != tooMany && ee.CauseType != tooMany && !strings.Contains(ee.Reason, tooMany) && !strings.Contains(ee.CauseReason, tooMany) {
		return 0, false
	}
	smaller := max(size/2, minPageSize)
	for {
		cur := e.pageSize.Load()
		if cur <= int64(smaller) || e.pageSize.CompareAndSwap(cur, int64(smaller)) {
			break
		}
	}
	return smaller, true
}

// Samples returns up to n well-formed documents of t in w matching filters,
// the latest end_time first, as evidence.
func (e *Elasticsearch) Samples(ctx context.Context, w Window, t calicolog.LogType, filters []Term, n int) ([]json.RawMessage, error) {
	if n <= 0 {
		return nil, nil
	}
	if _, err := calicolog.ParseLogType(string(t)); err != nil {
		return nil, err
	}
	body := map[string]any{
		"size":             n,
		"track_total_hits": false,
		"query":            boolQuery(map[string]any{"filter": append(e.windowFilter(w, filters), wellFormedQuery(t))}),
		"sort":             []any{map[string]any{"end_time": "desc"}, "_doc"},
	}
	var res samplesResponse
	if err := e.search(ctx, "sample "+string(t)+" records", t, body, &res); err != nil {
		return nil, err
	}
	if res.Hits == nil {
		return nil, nil
	}
	out := make([]json.RawMessage, 0, len(res.Hits.Hits))
	for _, h := range res.Hits.Hits {
		out = append(out, h.Source)
	}
	return out, nil
}

// Version asks the node for its version number.
func (e *Elasticsearch) Version(ctx context.Context) (string, error) {
	var res nodesVersionResponse
	req := esapi.NodesInfoRequest{NodeID: []string{"_local"}, FilterPath: []string{"nodes.*.version"}}
	if err := e.do(ctx, "node version", req, &res); err != nil {
		return "", err
	}
	for _, n := range res.Nodes {
		return n.Version, nil
	}
	return "", fmt.Errorf("node version: elasticsearch %s: no node answered", strings.Join(e.cfg.URLs, ","))
}
