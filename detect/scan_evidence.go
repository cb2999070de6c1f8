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
// reaching values the scan counted: up to maxProbedValues of entity e's
// distinct values of the field cols reads in rows, spread evenly over
// them in order. Without it the first records of the source are mostly
// its ordinary traffic (its DNS lookups, the services it calls) and the
// page shows no probe; with it, a 600-port scan's evidence shows ports
// across the scanned range and the target it probed.
func probedEvidence(field string, cols entityFieldColumns, rows []source.Row, e Entity, queries []EvidenceQuery) []EvidenceQuery {
	if len(queries) == 0 {
		return queries
	}
	var values []string
	for _, r := range rows {
		if cols.fits(r) && r.Key[cols.entity.namespace] == e.Namespace && r.Key[cols.entity.workload] == e.Workload &&
			r.Key[cols.entity.typ] == e.Type && r.Key[cols.field] != "" {
			values = append(values, r.Key[cols.field])
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
