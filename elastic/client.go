// Package elastic owns the exporter's Elasticsearch I/O: the client
// (go-elasticsearch, TLS, basic or API-key authentication, the tenant and
// layout of Calico's indices), its retries with backoff, the errors
// Elasticsearch answers with, searches (each answer's took counted and
// its shards and aggregations checked), the discovery of the Calico
// clusters an Elasticsearch holds, the bulk writer and the index
// templates. The log source, the events notifier and the simulator write
// and read through it.
package elastic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/backoff"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/redact"
)

// Config says how to reach Calico's Elasticsearch and where its logs are.
type Config struct {
	URLs     []string
	Username string
	Password string
	APIKey   string // base64 "id:key", as Elasticsearch issues it
	CACert   []byte // PEM
	// Naming is where Calico's indices are: their layout, cluster and
	// tenant.
	Naming calicolog.IndexNaming
	// PageSize is how many groups one page of a composite aggregation
	// holds (default source.DefaultPageSize). Without an index sorted by
	// the group keys, Elasticsearch visits every record of the window for
	// each page, so its time grows with the number of pages: on one window
	// of 216,859 records from 10,000 workloads, Elasticsearch's took for a
	// window's aggregations fell from 19.6 s at 1000 a page to 4.9 s at
	// 10000; on one of 10.8 million records, from 26.7 s at 10000 to
	// 17.7 s at 60000. A cluster whose search.max_buckets is below the page
	// size answers too_many_buckets_exception: the source then halves its
	// page size, logs it, and reads on from the page that failed.
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

// DefaultMaxResponseBytes is the largest answer read when none is set: a
// page of the source's default page size with a dozen metrics is about
// 30 MB.
const DefaultMaxResponseBytes = 256 << 20

// maxDoublings is how often the client's retry wait doubles at most.
const maxDoublings = 6

// retryStatuses are the answers a request is retried after: the node or a
// proxy before it is overloaded or restarting.
var retryStatuses = []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// Client sends requests to Elasticsearch, retries those that failed for a
// reason that may pass, and reads the answers. It is safe for concurrent
// use.
type Client struct {
	cfg     Config
	client  *elasticsearch.Client
	logger  log.Logger
	retries atomic.Uint64
	took    atomic.Int64 // milliseconds, summed over searches (Search)
}

// New returns a client for cfg, its defaults filled in; it does not
// contact the server until the first request. Credentials in a URL become
// the client's basic authentication, so no error, log line or page shows
// them.
func New(cfg Config, logger log.Logger) (*Client, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("elasticsearch: no URL")
	}
	if err := cfg.Naming.Validate(); err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
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
	c := &Client{cfg: cfg, logger: logger}
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:         cfg.URLs,
		Username:          cfg.Username,
		Password:          cfg.Password,
		APIKey:            cfg.APIKey,
		CACert:            cfg.CACert,
		RetryOnStatus:     retryStatuses,
		MaxRetries:        cfg.MaxRetries,
		RetryBackoff:      c.retryWait,
		Transport:         cfg.Transport,
		DisableMetaHeader: true,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch %s: %w", c.Addresses(), err)
	}
	c.client = client
	return c, nil
}

// MaxIdleConnsPerHost is how many idle connections to one Elasticsearch
// node the client keeps for reuse: above the window's concurrent queries,
// evidence look-ups and bulk writers, so none of them opens a connection
// per request (Go's default keeps 2).
const MaxIdleConnsPerHost = 16

// pooledTransport is Go's default transport keeping MaxIdleConnsPerHost
// idle connections per node, and asking for answers uncompressed: a
// window's answers are about 20 MB of JSON at 1 million flow records,
// which a node over plain HTTP would otherwise gzip (CPU outside its took)
// for the client to gunzip, to save bandwidth inside the cluster, where
// there is plenty (Elasticsearch never compresses over HTTPS by default).
func pooledTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	t.DisableCompression = true
	return t
}

// AnswerDecoder is an answer type that decodes itself from the raw JSON
// (faster than encoding/json for large answers); Do uses it when out
// implements it.
type AnswerDecoder interface {
	DecodeAnswer(body []byte) error
}

// retryWait is the client's wait before retry number attempt: RetryBackoff
// doubled per retry, with jitter. The client also asks after its last
// attempt, when no retry follows: that is neither waited nor counted.
func (c *Client) retryWait(attempt int) time.Duration {
	if attempt > c.cfg.MaxRetries {
		return 0
	}
	c.retries.Add(1)
	d := backoff.Wait(c.cfg.RetryBackoff, c.cfg.RetryBackoff<<maxDoublings, attempt)
	level.Debug(c.logger).Log("msg", "retrying Elasticsearch request", "attempt", attempt, "wait", d)
	return d
}

// Config is the client's configuration, its defaults filled in and the
// credentials taken out of its URLs.
func (c *Client) Config() Config { return c.cfg }

// Naming is where the client's Calico indices are.
func (c *Client) Naming() calicolog.IndexNaming { return c.cfg.Naming }

// Addresses are the client's URLs, comma-separated, without credentials.
func (c *Client) Addresses() string { return strings.Join(c.cfg.URLs, ",") }

// Retries counts requests retried after a 429, 502, 503, 504 or a network
// error, since the client was made.
func (c *Client) Retries() uint64 { return c.retries.Load() }

// Do runs req and decodes a 2xx JSON answer into out (unless out is nil);
// any other answer is an *Error naming what was asked (what), the HTTP
// status and Elasticsearch's error type and reason. An answer longer than
// MaxResponseBytes is an *AnswerError, read no further than the bound.
func (c *Client) Do(ctx context.Context, what string, req esapi.Request, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	res, err := req.Do(ctx, c.client)
	if err != nil {
		return fmt.Errorf("%s: elasticsearch %s: %w", what, c.Addresses(), err)
	}
	defer res.Body.Close()
	limit := c.cfg.MaxResponseBytes
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
	if d, ok := out.(AnswerDecoder); ok {
		decode = func(body []byte, _ any) error { return d.DecodeAnswer(body) }
	}
	if err := decode(body, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", what, err)
	}
	return nil
}

// nodesVersionResponse is the answer to GET _nodes/_local, filtered to the
// version.
type nodesVersionResponse struct {
	Nodes map[string]struct {
		Version string `json:"version"`
	} `json:"nodes"`
}

// Version asks the node for its version number.
func (c *Client) Version(ctx context.Context) (string, error) {
	var res nodesVersionResponse
	req := esapi.NodesInfoRequest{NodeID: []string{"_local"}, FilterPath: []string{"nodes.*.version"}}
	if err := c.Do(ctx, "node version", req, &res); err != nil {
		return "", err
	}
	for _, n := range res.Nodes {
		return n.Version, nil
	}
	return "", fmt.Errorf("node version: elasticsearch %s: no node answered", c.Addresses())
}
