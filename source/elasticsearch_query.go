package source

import (
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// The query DSL pieces the Elasticsearch source builds its searches from.

func boolQuery(clauses map[string]any) map[string]any {
	return map[string]any{"bool": clauses}
}

func termQuery(field string, value any) map[string]any {
	return map[string]any{"term": map[string]any{field: value}}
}

func termsQuery(field string, values ...string) map[string]any {
	return map[string]any{"terms": map[string]any{field: values}}
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

// absent matches documents without a value for field, or with "" there
// (which the decoders read as missing too).
func absent(field string) map[string]any {
	return anyOf(not(existsQuery(field)), termQuery(field, ""))
}

func negative(fields ...string) []any {
	out := make([]any, len(fields))
	for i, f := range fields {
		out[i] = rangeQuery(f, map[string]any{"lt": 0})
	}
	return out
}

// malformedQuery matches the documents of log type t that break Calico's
// log contract, mirroring what calicolog's decoders refuse so that the
// in-memory and Elasticsearch sources skip and count the same records:
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
// A start_time after end_time is refused by the decoders but not matched
// here (it would take a script, which the stripped test node lacks); a
// document without end_time belongs to no window in Elasticsearch.
func malformedQuery(t calicolog.LogType) map[string]any {
	should := []any{existsQuery("_ignored")}
	switch t {
	case calicolog.Flows:
		should = append(should,
			absent("source_name_aggr"), absent("dest_name_aggr"),
			not(termsQuery("source_type", endpointTypes...)), not(termsQuery("dest_type", endpointTypes...)),
			not(termsQuery("reporter", "src", "dst")),
			rangeQuery("dest_port", map[string]any{"lt": 0}), rangeQuery("dest_port", map[string]any{"gt": 65535}))
		should = append(should, negative("bytes_in", "bytes_out", "packets_in", "packets_out", "num_flows")...)
	case calicolog.DNS:
		should = append(should, absent("client_name_aggr"), absent("qname"))
		should = append(should, negative("count", "latency_count", "latency_mean", "latency_max")...)
	case calicolog.L7:
		should = append(should, boolQuery(map[string]any{"filter": []any{absent("dest_name_aggr"), absent("dest_service_name")}}))
		should = append(should, negative("count", "bytes_in", "bytes_out", "duration_mean", "duration_max")...)
	}
	return anyOf(should...)
}

var endpointTypes = []string{calicolog.TypeWorkload, calicolog.TypeHost, calicolog.TypeNetSet, calicolog.TypeNetwork}
