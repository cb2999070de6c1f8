package source

import (
	"slices"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// The query DSL pieces the Elasticsearch source builds its searches from.

func boolQuery(clauses map[string]any) map[string]any {
	return map[string]any{"bool": clauses}
}

func termQuery(field string, value any) map[string]any {
	return map[string]any{"term": map[string]any{field: value}}
}

func rangeQuery(field string, bounds map[string]any) map[string]any {
	return map[string]any{"range": map[string]any{field: bounds}}
}

func existsQuery(field string) map[string]any {
	return map[string]any{"exists": map[string]any{"field": field}}
}

func anyOf(queries ...any) map[string]any {
	return boolQuery(map[string]any{"should": queries, "minimum_should_match": 1})
}

func not(q any) map[string]any { return boolQuery(map[string]any{"must_not": []any{q}}) }

// outside matches documents with a value of keyword field outside values:
// term ranges between the values (in the byte order Lucene keeps terms
// in), so Elasticsearch reads only the postings of the few terms that are
// not allowed, where "not one of values" (a negation) would walk every
// document of the window.
func outside(field string, values ...string) []any {
	vs := slices.Clone(values)
	slices.Sort(vs)
	vs = slices.Compact(vs)
	out := make([]any, 0, len(vs)+1)
	out = append(out, rangeQuery(field, map[string]any{"lt": vs[0]}))
	for i := 1; i < len(vs); i++ {
		out = append(out, rangeQuery(field, map[string]any{"gt": vs[i-1], "lt": vs[i]}))
	}
	return append(out, rangeQuery(field, map[string]any{"gt": vs[len(vs)-1]}))
}

func negative(fields ...string) []any {
	out := make([]any, len(fields))
	for i, f := range fields {
		out[i] = rangeQuery(f, map[string]any{"lt": 0})
	}
	return out
}

// present matches documents with a value for field other than "" (the
// decoders read "" as missing).
func present(field string) map[string]any {
	return boolQuery(map[string]any{"filter": []any{existsQuery(field)}, "must_not": []any{termQuery(field, "")}})
}

// wellFormed is what a document of log type t must have to keep Calico's
// log contract, mirroring what calicolog's decoders refuse so that the
// in-memory and Elasticsearch sources skip and count the same records: it
// must match every filter clause and no must_not clause. A document breaks
// the contract with
//   - a value the index could not store (a port "abc", bytes "lots"): the
//     index templates set ignore_malformed, so such a document is kept with
//     the field listed in its _ignored metadata field;
//   - flows: no source_name_aggr or dest_name_aggr, a source_type or
//     dest_type other than wep, hep, ns and net, a reporter other than src
//     and dst, a negative byte, packet or flow counter, a dest_port outside
//     0..65535;
//   - DNS: no client_name_aggr or qname, a negative count or latency;
//   - L7: neither dest_name_aggr nor dest_service_name, a negative count,
//     byte counter or duration.
//
// It is written as a conjunction of cheap clauses: positive ones that
// Elasticsearch intersects (exists), and negated ones that match few
// documents (a term "", a range below zero, the terms outside an allowed
// set). Written as "not malformed", the negation of a disjunction that
// itself holds negations, it cost Elasticsearch a walk over every document
// of the window per negation, and most of each search's time: 1.3 s of a
// 1.33 s search over 1 million flow records against 0.05 s for this form.
//
// A start_time after end_time is refused by the decoders but not matched
// here (it would take a script, which the stripped test node lacks); a
// document without end_time belongs to no window in Elasticsearch.
//
// The fields a document must have are returned apart (required), so that
// a search can leave out the exists clause of a field it otherwise
// requires (see newCompositeRequest); filter holds the other positive
// clauses.
func wellFormed(t calicolog.LogType) (required []string, filter, mustNot []any) {
	mustNot = []any{existsQuery("_ignored")}
	switch t {
	case calicolog.Flows:
		required = []string{"source_name_aggr", "dest_name_aggr", "source_type", "dest_type", "reporter"}
		mustNot = append(mustNot, termQuery("source_name_aggr", ""), termQuery("dest_name_aggr", ""))
		mustNot = append(mustNot, outside("source_type", endpointTypes...)...)
		mustNot = append(mustNot, outside("dest_type", endpointTypes...)...)
		mustNot = append(mustNot, outside("reporter", "src", "dst")...)
		mustNot = append(mustNot, rangeQuery("dest_port", map[string]any{"lt": 0}), rangeQuery("dest_port", map[string]any{"gt": 65535}))
		mustNot = append(mustNot, negative("bytes_in", "bytes_out", "packets_in", "packets_out", "num_flows")...)
	case calicolog.DNS:
		required = []string{"client_name_aggr", "qname"}
		mustNot = append(mustNot, termQuery("client_name_aggr", ""), termQuery("qname", ""))
		mustNot = append(mustNot, negative("count", "latency_count", "latency_mean", "latency_max")...)
	case calicolog.L7:
		filter = append(filter, anyOf(present("dest_name_aggr"), present("dest_service_name")))
		mustNot = append(mustNot, negative("count", "bytes_in", "bytes_out", "duration_mean", "duration_max")...)
	}
	return required, filter, mustNot
}

// wellFormedQuery matches the documents of log type t that keep Calico's
// log contract (see wellFormed).
func wellFormedQuery(t calicolog.LogType) map[string]any {
	required, filter, mustNot := wellFormed(t)
	for _, f := range required {
		filter = append(filter, existsQuery(f))
	}
	q := map[string]any{"must_not": mustNot}
	if len(filter) > 0 {
		q["filter"] = filter
	}
	return boolQuery(q)
}

// malformedQuery matches the documents of log type t that break Calico's
// log contract: those wellFormedQuery does not match.
func malformedQuery(t calicolog.LogType) map[string]any {
	return not(wellFormedQuery(t))
}

var endpointTypes = []string{calicolog.TypeWorkload, calicolog.TypeHost, calicolog.TypeNetSet, calicolog.TypeNetwork}
