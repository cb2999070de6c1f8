package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/elastic"
)

// compositeRequest is the search behind Aggregate: one composite
// aggregation ("groups") keyed by the query's GroupBy fields, with one
// sub-aggregation per metric, read a page at a time.
type compositeRequest struct {
	query   map[string]any
	sources []any
	aggs    map[string]any
	size    int
	after   map[string]any // the previous page's after_key
}

func groupKey(i int) string  { return "k" + strconv.Itoa(i) }
func metricKey(i int) string { return "m" + strconv.Itoa(i) }

// newCompositeRequest builds the request of q over the records filters
// select, skipping malformed ones.
//
// A field a well-formed record must have (see wellFormed) is not asked for
// with an exists clause when the request requires it otherwise: when q
// groups by it, its composite source leaves out the records without it
// (no missing_bucket), and when one of q's filters lists values for it,
// only records holding one of them match. Each exists clause cost
// Elasticsearch a walk of the field's doc values over the window's
// records, about 10 ms of CPU per million records, in every search: of
// the five a flow search asked, these leave two or three out.
func newCompositeRequest(q Query, filters []any, size int) (*compositeRequest, error) {
	required, wellFilter, wellMustNot := wellFormed(q.Log)
	filter := append(slices.Clip(filters), wellFilter...)
	for _, f := range required {
		if !slices.Contains(q.GroupBy, f) && !listsValues(q.Filters, f) {
			filter = append(filter, existsQuery(f))
		}
	}
	r := &compositeRequest{
		query: boolQuery(map[string]any{
			"filter":   filter,
			"must_not": wellMustNot,
		}),
		sources: make([]any, len(q.GroupBy)),
		aggs:    map[string]any{},
		size:    size,
	}
	for i, f := range q.GroupBy {
		terms := map[string]any{"field": f}
		if !slices.Contains(required, f) {
			// missing_bucket keeps records that lack the field, under a
			// null key.
			terms["missing_bucket"] = true
		}
		r.sources[i] = map[string]any{groupKey(i): map[string]any{"terms": terms}}
	}
	for i, m := range q.Metrics {
		switch m.Kind {
		case Count: // the bucket's doc_count
		case Sum:
			r.aggs[metricKey(i)] = map[string]any{"sum": map[string]any{"field": m.Field}}
		case Max:
			r.aggs[metricKey(i)] = map[string]any{"max": map[string]any{"field": m.Field}}
		case Avg:
			// stats rather than avg: its count lets two buckets whose keys
			// read the same be merged exactly.
			r.aggs[metricKey(i)] = map[string]any{"stats": map[string]any{"field": m.Field}}
		case Cardinality:
			// Exact (a hash set) below the threshold, HyperLogLog++ above.
			r.aggs[metricKey(i)] = map[string]any{"cardinality": map[string]any{"field": m.Field, "precision_threshold": 40000}}
		default:
			return nil, fmt.Errorf("query %s: metric %s: unsupported kind %s", q.Name, m.Name, m.Kind)
		}
	}
	return r, nil
}

// listsValues says whether a record matching filters must hold a value of
// field: a term on it that lists values and does not exclude them (one
// with Known also matches values it does not list, never a missing one).
func listsValues(filters []Term, field string) bool {
	for _, t := range filters {
		if t.Field == field && !t.Exclude && len(t.Values) > 0 {
			return true
		}
	}
	return false
}

// body is the search body of the next page.
func (r *compositeRequest) body() map[string]any {
	composite := map[string]any{"size": r.size, "sources": r.sources}
	if r.after != nil {
		composite["after"] = r.after
	}
	groups := map[string]any{"composite": composite}
	if len(r.aggs) > 0 {
		groups["aggs"] = r.aggs
	}
	return map[string]any{
		"size":             0,
		"track_total_hits": false,
		"query":            r.query,
		"aggs":             map[string]any{"groups": groups},
	}
}

// compositeResponse is one page of the composite aggregation.
type compositeResponse struct {
	elastic.SearchHeader
	Aggregations struct {
		Groups *compositeGroups `json:"groups"`
	} `json:"aggregations"`
	// rows, when set, has DecodeAnswer read the buckets into rows as it
	// meets them, instead of keeping each bucket's bytes to be read again.
	rows *pageRows `json:"-"`
}

// pageRows is where DecodeAnswer puts a page's rows: q's rows, added to
// acc; read counts the buckets.
type pageRows struct {
	q    Query
	acc  *rowMerger
	read int
	seen bool // a buckets member was read (a second is refused)
}

type compositeGroups struct {
	AfterKey map[string]any    `json:"after_key"`
	Buckets  []compositeBucket `json:"buckets"`
}

// CheckAnswer implements elastic.SearchAnswer.
func (r *compositeResponse) CheckAnswer() error {
	return r.CheckSearch(map[string]bool{"groups": r.Aggregations.Groups != nil})
}

// groups is the page's groups (none when no shard was searched).
func (r *compositeResponse) groups() compositeGroups {
	if r.Aggregations.Groups == nil {
		return compositeGroups{}
	}
	return *r.Aggregations.Groups
}

// bucketWeights says, per metric of a row, whether any record had the
// field (for Max) and how many did (for Avg), so rows can be merged.
type bucketWeights struct {
	present []bool
	counts  []float64
}

// keyString renders a composite key value: a string as it is, a number in
// decimal (keys of long fields come back as numbers), a boolean as true or
// false, null (a record without the field) as "".
func keyString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", nil
	case string(raw) == "true" || string(raw) == "false":
		return string(raw), nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("neither a string nor a number: %s", raw)
	}
	if i, err := n.Int64(); err == nil {
		return strconv.FormatInt(i, 10), nil
	}
	f, err := n.Float64()
	if err != nil {
		return n.String(), nil
	}
	if f == float64(int64(f)) {
		return strconv.FormatInt(int64(f), 10), nil
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

// rowMerger collects the rows of every page. Two buckets can read as the
// same key ("" and a missing value both read ""): they are merged into one
// row, exactly for Count, Sum, Max and Avg; a merged Cardinality is the
// larger of the two (a lower bound of the distinct values of both).
//
// Only a row with a key value "" (or "0", which a double's -0 and 0 both
// read as) can read as another's: the composite's buckets have distinct
// values, which keyString renders apart otherwise. Only those rows are
// indexed and keep their weights; the others are appended as they come.
// Keying every row cost a quarter of the CPU of reading a page.
type rowMerger struct {
	index map[string]int // a mergeable row's key: its index in out
	out   []Row
	ws    map[int]bucketWeights // a mergeable row's weights, by index in out
}

// mergeable says whether key may read as another bucket's key.
func mergeable(key []string) bool {
	for _, v := range key {
		if v == "" || v == "0" {
			return true
		}
	}
	return false
}

// add keeps row, whose Key and Values it keeps; w it copies if it needs
// it, so a caller may reuse w.
func (m *rowMerger) add(q Query, row Row, w bucketWeights) {
	if !mergeable(row.Key) {
		m.out = append(m.out, row)
		return
	}
	if m.index == nil {
		m.index, m.ws = map[string]int{}, map[int]bucketWeights{}
	}
	k := strings.Join(row.Key, "\x00")
	i, seen := m.index[k]
	if !seen {
		m.index[k] = len(m.out)
		m.ws[len(m.out)] = bucketWeights{present: slices.Clone(w.present), counts: slices.Clone(w.counts)}
		m.out = append(m.out, row)
		return
	}
	have, hw := m.out[i].Values, m.ws[i]
	for j, metric := range q.Metrics {
		switch metric.Kind {
		case Count, Sum:
			have[j] += row.Values[j]
		case Max:
			if w.present[j] && (!hw.present[j] || row.Values[j] > have[j]) {
				have[j] = row.Values[j]
			}
		case Avg:
			if n := hw.counts[j] + w.counts[j]; n > 0 {
				have[j] = (have[j]*hw.counts[j] + row.Values[j]*w.counts[j]) / n
			}
		case Cardinality:
			have[j] = max(have[j], row.Values[j])
		}
		hw.present[j] = hw.present[j] || w.present[j]
		hw.counts[j] += w.counts[j]
	}
}

func (m *rowMerger) rows() []Row {
	if m.out == nil {
		return []Row{}
	}
	return m.out
}
