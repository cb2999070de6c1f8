// Package perf holds what the performance figures of issue 11 are measured
// with: synthetic aggregation rows for any detector's queries at any
// number of entities, detectors trained on them, and the side-by-side of
// the aggregation path against the raw-document path Calico used.
package perf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// EntitiesPerNamespace is how many workloads share a namespace in the
// synthetic rows, so 10,000 entities span 200 namespaces.
const EntitiesPerNamespace = 50

// variants is how many rows an entity has for a group-by field that is not
// part of the entity (pods, processes, response codes, destinations...).
func variants(field string) int {
	switch {
	case field == "dest_ip" || field == "source_ip":
		return 3
	case field == "process_name":
		return 1
	case strings.HasSuffix(field, "namespace"), strings.HasSuffix(field, "name_aggr"), strings.HasSuffix(field, "_type"):
		return 1
	}
	return 2
}

// keyValue is the value of group-by field for entity e, variant v.
func keyValue(field string, e, v int, filters []source.Term) string {
	for _, t := range filters {
		if t.Field == field && len(t.Values) > 0 {
			return t.Values[v%len(t.Values)]
		}
	}
	switch {
	case strings.HasSuffix(field, "namespace"):
		return fmt.Sprintf("ns-%03d", e/EntitiesPerNamespace)
	case strings.HasSuffix(field, "name_aggr"):
		return fmt.Sprintf("wl-%05d-*", e)
	case strings.HasSuffix(field, "_type"):
		return "wep"
	case field == "source_name" || field == "dest_name":
		return fmt.Sprintf("wl-%05d-%d", e, v)
	case field == "process_name":
		return "/usr/bin/app"
	case field == "process_id":
		return strconv.Itoa(1000 + 10*e + v)
	case field == "response_code":
		return []string{"200", "404"}[v%2]
	case field == "method":
		return []string{"GET", "POST"}[v%2]
	case field == "dest_port":
		return []string{"8080", "53"}[v%2]
	case field == "dest_ip" || field == "source_ip":
		return fmt.Sprintf("10.%d.%d.%d", e/65536%256, e/256%256, v+1)
	}
	return "v" + strconv.Itoa(v)
}

// noise is a deterministic value in [-1, 1) for (entity, variant, window,
// metric): a splitmix64 hash, cheap enough for millions of rows.
func noise(e, v int, at time.Time, metric int) float64 {
	x := uint64(e)*0x9e3779b97f4a7c15 ^ uint64(v)<<48 ^ uint64(at.Unix())*0xbf58476d1ce4e5b9 ^ uint64(metric)<<56
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x%2000)/1000 - 1
}

// keyCache keeps the group keys of each query and entity count, so a
// window's rows cost only their values.
var (
	keyMu    sync.Mutex
	keyCache = map[string][][]string{}
)

func keys(q source.Query, entities, n int, only []int) [][]string {
	sum := 0
	for i, e := range only {
		sum += (i + 1) * e
	}
	id := fmt.Sprintf("%s\x00%v\x00%v\x00%d\x00%d/%d", q.Name, q.GroupBy, q.Filters, entities, len(only), sum)
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keyCache[id]; ok {
		return k
	}
	out := make([][]string, 0, entities*n)
	for _, e := range workloads(entities, only) {
		for v := range n {
			key := make([]string, len(q.GroupBy))
			for i, f := range q.GroupBy {
				key[i] = keyValue(f, e, v, q.Filters)
			}
			out = append(out, key)
		}
	}
	keyCache[id] = out
	return out
}

// ForgetKeys drops the cached keys, so a measurement of the heap sees only
// what the detectors keep.
func ForgetKeys() {
	keyMu.Lock()
	defer keyMu.Unlock()
	keyCache = map[string][][]string{}
}

// Rows is one window's answer to q for entities workloads, as a source
// would give it: each workload has a few rows (pods, codes, processes),
// with values that follow a daily curve plus a little deterministic noise,
// so learned models see normal, seasonal traffic. Rows share their keys
// across windows: callers must not change them.
func Rows(q source.Query, w source.Window, entities int) []source.Row {
	return rowsOf(q, w, entities, nil)
}

// rowsOf is Rows for the workloads only lists (nil: all of them).
func rowsOf(q source.Query, w source.Window, entities int, only []int) []source.Row {
	n := 1
	for _, f := range q.GroupBy {
		n = max(n, variants(f))
	}
	ks := keys(q, entities, n, only)
	day := 1 + 0.5*math.Sin(2*math.Pi*float64(w.Start.Hour()*60+w.Start.Minute())/(24*60))
	es := workloads(entities, only)
	out := make([]source.Row, 0, len(es)*n)
	values := make([]float64, len(es)*n*len(q.Metrics))
	for i, e := range es {
		base := 100 + float64(e%97)
		for v := range n {
			row := source.Row{Key: ks[i*n+v], Values: values[:len(q.Metrics):len(q.Metrics)]}
			values = values[len(q.Metrics):]
			fillValues(row.Values, q.Metrics, base*day, e, v, w.Start)
			out = append(out, row)
		}
	}
	source.SortRows(out)
	return out
}

// WindowRows is the answer to every query of d for one window.
func WindowRows(d detect.Detector, w source.Window, entities int) [][]source.Row {
	return windowRowsOf(d, w, entities, nil)
}

// windowRowsOf is WindowRows for the workloads only lists (nil: all).
func windowRowsOf(d detect.Detector, w source.Window, entities int, only []int) [][]source.Row {
	qs := d.Queries()
	out := make([][]source.Row, len(qs))
	for i, q := range qs {
		out[i] = rowsOf(q, w, entities, only)
	}
	return out
}

// workloads are the workload indexes only lists, or 0..entities-1 when it
// is nil.
func workloads(entities int, only []int) []int {
	if only != nil {
		return only
	}
	out := make([]int, entities)
	for e := range out {
		out[e] = e
	}
	return out
}

// Shares are the workloads each of ds reads on replica shard of an
// exporter sharded by namespace over entities workloads of cluster: for a
// detector whose queries the replica filters by namespace
// (detect.Scope.Sharded), those of the namespaces it owns
// (engine.ShardOfNamespace of their synthetic namespace), as its engine
// hands them; nil, every workload, for the others (dga) and without
// sharding.
func Shares(ds []detect.Detector, entities int, shard engine.Shard, cluster string) [][]int {
	out := make([][]int, len(ds))
	if !shard.Sharded() {
		return out
	}
	var own []int
	for e := range entities {
		if engine.ShardOfNamespace(cluster, keyValue("source_namespace", e, 0, nil), shard.Total) == shard.Index {
			own = append(own, e)
		}
	}
	if own == nil {
		own = []int{}
	}
	for i, d := range ds {
		if info, ok := detect.Lookup(d.Name()); ok && info.Scope.Sharded() {
			out[i] = own
		}
	}
	return out
}

// AllDetectors builds every registered detector, enabled by default or not,
// with its default settings.
func AllDetectors(cluster string, bucket time.Duration) ([]detect.Detector, error) {
	var out []detect.Detector
	for _, info := range detect.Registered() {
		d, err := info.New(detect.Options{Cluster: cluster, Bucket: bucket, Seed: 1})
		if err != nil {
			return nil, fmt.Errorf("detector %s: %w", info.Name, err)
		}
		out = append(out, d)
	}
	detect.ShareBaselines(out)
	return out, nil
}

// DefaultDetectors keeps those of ds that are enabled by default.
func DefaultDetectors(ds []detect.Detector) []detect.Detector {
	on := map[string]bool{}
	for _, info := range detect.Registered() {
		on[info.Name] = info.DefaultEnabled
	}
	var out []detect.Detector
	for _, d := range ds {
		if on[d.Name()] {
			out = append(out, d)
		}
	}
	detect.ShareBaselines(out)
	return out
}

// Train feeds detectors windows of synthetic rows for entities workloads,
// one window every step from start, until every learner is ready (and at
// least minWindows windows), at most maxWindows. Ready detectors judge
// their window (and so keep learning), as the engine does. It returns the
// start of the next window and how many windows it fed.
func Train(ds []detect.Detector, start time.Time, step, bucket time.Duration, entities, minWindows, maxWindows int) (time.Time, int) {
	return trainShares(ds, make([][]int, len(ds)), start, step, bucket, entities, minWindows, maxWindows)
}

// trainShares is Train with each detector reading the workloads of its
// share (see Shares).
func trainShares(ds []detect.Detector, shares [][]int, start time.Time, step, bucket time.Duration, entities, minWindows, maxWindows int) (time.Time, int) {
	at := start
	n := 0
	for ; n < maxWindows; n++ {
		if n >= minWindows && allReady(ds) {
			break
		}
		w := source.Window{Start: at, End: at.Add(bucket)}
		for i, d := range ds {
			rows := windowRowsOf(d, w, entities, shares[i])
			if d.Ready() {
				d.Judge(w, rows)
			} else if l, ok := d.(detect.Learner); ok {
				l.Learn(w, rows)
			}
		}
		at = at.Add(step)
	}
	return at, n
}

func allReady(ds []detect.Detector) bool {
	for _, d := range ds {
		if !d.Ready() {
			return false
		}
	}
	return true
}

// NotReady names the detectors that are not ready.
func NotReady(ds []detect.Detector) []string {
	var out []string
	for _, d := range ds {
		if !d.Ready() {
			out = append(out, d.Name())
		}
	}
	return out
}

// fillValues writes the values of workload e's row v at window start t:
// level (the workload's base on the daily curve) with a little
// deterministic noise, shaped to each metric's kind.
func fillValues(values []float64, metrics []source.Metric, level float64, e, v int, t time.Time) {
	for i, m := range metrics {
		x := level * (1 + 0.05*noise(e, v, t, i))
		switch m.Kind {
		case source.Count:
			x = math.Round(x)
		case source.Sum:
			x = math.Round(x * 1000)
		case source.Max:
			x = math.Round(x / 50)
		case source.Avg:
			x /= 10
		case source.Cardinality:
			x = 3
		}
		values[i] = x
	}
}
