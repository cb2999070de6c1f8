// Package source owns reading Calico logs for one closed window: the Source
// interface that detectors' aggregations run against, and its
// implementations (Elasticsearch, and the in-memory store the simulated
// cluster and files feed). Counting happens where the data is: a source
// answers aggregations, it never hands raw documents out to be counted.
package source

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// Window is a closed time range [Start, End) aligned to the bucket size. A
// record belongs to the window that holds its end_time.
type Window struct {
	Start time.Time
	End   time.Time
}

// Contains reports whether t falls in [Start, End).
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

func (w Window) String() string {
	return w.Start.UTC().Format(time.RFC3339) + "/" + w.End.UTC().Format(time.RFC3339)
}

// MetricKind is what an aggregation computes over a field for each group.
type MetricKind int

// The aggregations a detector can ask for.
const (
	// Count is the number of records in the group (no field).
	Count MetricKind = iota
	// Sum of a numeric field.
	Sum
	// Max of a numeric field.
	Max
	// Avg of a numeric field over records.
	Avg
	// Cardinality is the number of distinct values of a field. Elasticsearch
	// computes it with HyperLogLog++ (exact below its precision threshold).
	Cardinality
)

func (k MetricKind) String() string {
	switch k {
	case Count:
		return "count"
	case Sum:
		return "sum"
	case Max:
		return "max"
	case Avg:
		return "avg"
	case Cardinality:
		return "cardinality"
	}
	return fmt.Sprintf("MetricKind(%d)", int(k))
}

// Metric is one value computed per group.
type Metric struct {
	Name  string // how the detector refers to it
	Kind  MetricKind
	Field string // empty for Count
}

// Term keeps only records whose Field equals one of Values; with Exclude,
// only records whose Field equals none of them (a record without the field
// is kept).
//
// Known, when set (without Exclude), also keeps the records whose Field
// holds a value that neither Values nor Known lists: a value the caller
// has not seen yet. Records without the field, or with an empty value
// (which the decoders read as none), are not kept. A replica sharded by namespace (engine.Shard) asks so
// for the rows of its own namespaces and of any new one, and none of
// those it knows are other replicas'; Elasticsearch then reads only the
// postings of those values, where an excluding term walks those of every
// other value.
type Term struct {
	Field   string
	Values  []string
	Exclude bool
	Known   []string
}

// Query is the aggregation one detector needs over one log type: records of
// the window, filtered by Filters, grouped by the GroupBy fields, with
// Metrics computed per group.
type Query struct {
	Name    string
	Log     calicolog.LogType
	GroupBy []string
	Filters []Term
	Metrics []Metric
}

// Validate checks a query is complete.
func (q Query) Validate() error {
	if q.Name == "" {
		return fmt.Errorf("query has no name")
	}
	if _, err := calicolog.ParseLogType(string(q.Log)); err != nil {
		return fmt.Errorf("query %s: %w", q.Name, err)
	}
	if len(q.GroupBy) == 0 {
		return fmt.Errorf("query %s: no group-by fields", q.Name)
	}
	for _, m := range q.Metrics {
		if m.Name == "" || (m.Kind != Count && m.Field == "") {
			return fmt.Errorf("query %s: metric %q needs a name and a field", q.Name, m.Name)
		}
	}
	return nil
}

// Row is one group of a query's answer: Key holds the GroupBy values in
// order ("" where a record had none), Values the Metrics in order.
type Row struct {
	Key    []string
	Values []float64
}

// Counts is what a source read and skipped for one log type in one window.
type Counts struct {
	Records   int64 // records in the window, malformed included
	Malformed int64 // records skipped because they break the log contract
	// UnknownType counts malformed records whose log type could not be
	// told (a file source's plain documents in a file that names none),
	// reported once, by the first Count after they were read; they are in
	// neither Records nor Malformed.
	UnknownType int64
}

// Source answers a window's aggregations. Implementations are safe for
// concurrent use. An error means the window could not be read and must be
// tried again later; it never means "no data" (that is zero rows).
type Source interface {
	// Kind names the implementation ("elasticsearch", "simulated", "file").
	Kind() string
	// Aggregate runs q over window w, skipping malformed records.
	Aggregate(ctx context.Context, w Window, q Query) ([]Row, error)
	// Count returns how many records of log type t the window holds and how
	// many of them are malformed.
	Count(ctx context.Context, w Window, t calicolog.LogType) (Counts, error)
	// Samples returns up to n raw records of log type t in w that match
	// every filter, as alert evidence.
	Samples(ctx context.Context, w Window, t calicolog.LogType, filters []Term, n int) ([]json.RawMessage, error)
}

// Align returns the start of the bucket holding t, for buckets of size
// bucket aligned to the Unix epoch (so 5-minute buckets start at :00, :05, ...).
func Align(t time.Time, bucket time.Duration) time.Time {
	return t.Truncate(bucket)
}
