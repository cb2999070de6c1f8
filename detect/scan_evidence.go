package detect

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// maxProbedValues is how many of the distinct values a scan reached its
// evidence asks records of.
const maxProbedValues = 20

// probedEvidence narrows an anomalous scan's evidence query to records
// reaching values the scan counted: up to maxProbedValues of the entity's
// distinct values of field in rows (each row's last key part), spread
// evenly over them in order. Without it the first records of the source
// are mostly its ordinary traffic (its DNS lookups, the services it
// calls) and the page shows no probe; with it, a 600-port scan's evidence
// shows ports across the scanned range and the target it probed.
func probedEvidence(field string, rows []source.Row, key []string, queries []EvidenceQuery) []EvidenceQuery {
	if len(queries) == 0 || len(key) < 3 {
		return queries
	}
	var values []string
	for _, r := range rows {
		if len(r.Key) == len(key)+1 && r.Key[0] == key[0] && r.Key[1] == key[1] && r.Key[2] == key[2] && r.Key[len(key)] != "" {
			values = append(values, r.Key[len(key)])
		}
	}
	if len(values) == 0 {
		return queries
	}
	slices.SortFunc(values, func(a, b string) int {
		x, errX := strconv.ParseFloat(a, 64)
		y, errY := strconv.ParseFloat(b, 64)
		if errX == nil && errY == nil {
			return cmp.Compare(x, y)
		}
		return cmp.Compare(a, b)
	})
	values = slices.Compact(values)
	picked := values
	if len(values) > maxProbedValues {
		picked = make([]string, 0, maxProbedValues)
		for i := 0; i < maxProbedValues; i++ {
			picked = append(picked, values[i*len(values)/maxProbedValues])
		}
	}
	q := queries[0]
	q.Filters = append([]source.Term{{Field: field, Values: picked}}, q.Filters...)
	return append([]EvidenceQuery{q}, queries[1:]...)
}
