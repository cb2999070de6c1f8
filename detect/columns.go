package detect

import (
	"fmt"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// rowColumns are the positions of a query's group-by fields in the keys
// of its rows, resolved by name once, when the detector is built, from the
// query it sends. Detectors read a row's values through them by field
// name, so a reordered or longer group-by cannot shift what they read.
type rowColumns struct {
	query  string
	width  int // fields grouped by: a row with another key length is malformed
	fields map[string]int
}

// columnsOf resolves the group-by fields of q.
func columnsOf(q source.Query) rowColumns {
	c := rowColumns{query: q.Name, width: len(q.GroupBy), fields: make(map[string]int, len(q.GroupBy))}
	for i, f := range q.GroupBy {
		c.fields[f] = i
	}
	return c
}

// col is the position of field in the rows. It panics when the query
// does not group by field: the detector's own query is wrong, a mistake
// every test of the detector finds.
func (c rowColumns) col(field string) int {
	i, ok := c.fields[field]
	if !ok {
		panic(fmt.Sprintf("detect: query %s does not group by %s", c.query, field))
	}
	return i
}

// fits reports whether r carries a value for every field grouped by.
func (c rowColumns) fits(r source.Row) bool { return len(r.Key) == c.width }

// entityColumns are the positions of an entity's namespace, aggregated
// name and type in a query's rows.
type entityColumns struct{ namespace, workload, typ int }

// entity resolves the entity fields of side ("source", "dest"): its
// namespace, name_aggr and type. They must lead the group-by, in that
// order, so a row's first three values are its entity's key (evidence
// filters and window groups keep them without copying); it panics when
// they do not.
func (c rowColumns) entity(side string) entityColumns {
	e := entityColumns{namespace: c.col(side + "_namespace"), workload: c.col(side + "_name_aggr"), typ: c.col(side + "_type")}
	if e != (entityColumns{0, 1, 2}) {
		panic(fmt.Sprintf("detect: query %s does not group by its entity's fields first", c.query))
	}
	return e
}

// of is the entity of row r in cluster.
func (e entityColumns) of(cluster string, r source.Row) Entity {
	return Entity{Cluster: cluster, Namespace: r.Key[e.namespace], Workload: r.Key[e.workload], Type: r.Key[e.typ]}
}

// key is the entity's values of row r: namespace, name_aggr, type.
func (e entityColumns) key(r source.Row) []string { return r.Key[:3] }

// entityFieldColumns are the fields of a query grouped by an entity and
// one more field (a method, a response code, a pod, a destination).
type entityFieldColumns struct {
	rowColumns
	entity entityColumns
	field  int
}

// entityFieldColumnsOf resolves the entity of side and field in q.
func entityFieldColumnsOf(q source.Query, side, field string) entityFieldColumns {
	c := entityFieldColumns{rowColumns: columnsOf(q)}
	c.entity, c.field = c.rowColumns.entity(side), c.col(field)
	return c
}
