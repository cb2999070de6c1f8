package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/elastic"
)

// ElasticsearchConfig says how to reach Calico's Elasticsearch, where its
// logs are and how large a page of groups to ask for: the elastic
// package's settings, which it owns.
type ElasticsearchConfig = elastic.Config

// AnswerError is an answer of Elasticsearch that cannot be trusted (see
// elastic.AnswerError): the source's answer checks refuse answers with it.
type AnswerError = elastic.AnswerError

// Elasticsearch is a Source over Calico's log indices. It counts with
// aggregations inside Elasticsearch and pulls raw documents only as
// evidence samples. It reads through its elastic.Client, whose bulk
// writer, templates, retry count and version it offers as its own. It is
// safe for concurrent use.
type Elasticsearch struct {
	*elastic.Client
	logger log.Logger
	// pageSize is the composite page in use: the configured one until the
	// cluster refuses that many buckets.
	pageSize atomic.Int64
}

// DefaultPageSize is the composite aggregation page when none is set:
// below Elasticsearch's default search.max_buckets (65,536).
const DefaultPageSize = 50000

// minPageSize is the smallest page the source shrinks to when the cluster
// refuses a page for its number of buckets.
const minPageSize = 1

var _ Source = (*Elasticsearch)(nil)

// NewElasticsearch returns a source for cfg; it does not contact the
// server until the first request.
func NewElasticsearch(cfg ElasticsearchConfig, logger log.Logger) (*Elasticsearch, error) {
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	client, err := elastic.New(cfg, logger)
	if err != nil {
		return nil, err
	}
	es := &Elasticsearch{Client: client, logger: logger}
	es.pageSize.Store(int64(cfg.PageSize))
	return es, nil
}

// Kind is "elasticsearch".
func (e *Elasticsearch) Kind() string { return "elasticsearch" }

// search runs body over the logs of t, naming the index in errors.
func (e *Elasticsearch) search(ctx context.Context, what string, t calicolog.LogType, body any, out any) error {
	index := e.Naming().SearchIndex(t)
	return e.Search(ctx, fmt.Sprintf("%s on %s", what, index), index, body, out)
}

// windowFilter selects the records of w (by end_time) of this cluster. The
// range reads epoch seconds whatever the field's own format: flow and L7
// end_time are epoch_second dates, DNS end_time RFC 3339 ones.
func (e *Elasticsearch) windowFilter(w Window, terms []Term) []any {
	filters := []any{rangeQuery("end_time", map[string]any{
		"gte": w.Start.Unix(), "lt": w.End.Unix(), "format": "epoch_second",
	})}
	if field, value, ok := e.Naming().ClusterFilter(); ok {
		filters = append(filters, termQuery(field, value))
	}
	for _, t := range terms {
		terms := map[string]any{"terms": map[string]any{t.Field: t.Values}}
		switch {
		case t.Exclude:
			filters = append(filters, not(terms))
		case len(t.Known) > 0:
			filters = append(filters, listedOrNew(t))
		default:
			filters = append(filters, terms)
		}
	}
	return filters
}

// listedOrNew matches the documents whose field holds one of t.Values or
// a value neither t.Values nor t.Known lists, as positive clauses: the
// terms of Values, and the term ranges between every listed value (see
// outside), which hold only values not seen yet. An empty value reads as
// none, as the decoders read it.
func listedOrNew(t Term) map[string]any {
	var should []any
	if len(t.Values) > 0 {
		should = append(should, map[string]any{"terms": map[string]any{t.Field: t.Values}})
	}
	should = append(should, outside(t.Field, append(slices.Clone(t.Values), t.Known...)...)...)
	return boolQuery(map[string]any{"should": should, "minimum_should_match": 1, "must_not": []any{termQuery(t.Field, "")}})
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
		read := pageRows{q: q, acc: &acc}
		res := compositeResponse{rows: &read}
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
		if read.read < req.size || len(groups.AfterKey) == 0 {
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
	var ee *elastic.Error
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
