package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// FreshNamesResult is what windows of workload names never seen before
// cost an engine whose models are bounded to MaxEntities per detector.
type FreshNamesResult struct {
	Windows, PerWindow, MaxEntities, Detectors int
	// HeapAlloc is the live heap after a collection; PeakRSS the
	// process's peak resident set (VmHWM).
	HeapAlloc, PeakRSS uint64
	// Entities is what each detector's model keeps at the end (detectors
	// that bound it); Evicted how many it forgot; Unbounded names the
	// detectors that keep per-entity state without saying how much.
	Entities  map[string]int
	Evicted   map[string]uint64
	Unbounded []string
	Took      time.Duration
}

// freshSource answers window i with the synthetic rows of workloads
// i*perWindow to (i+1)*perWindow-1: every window's names are new.
type freshSource struct {
	start     time.Time
	step      time.Duration
	perWindow int
}

func (f freshSource) Kind() string { return "elasticsearch" }

func (f freshSource) Count(context.Context, source.Window, calicolog.LogType) (source.Counts, error) {
	return source.Counts{Records: int64(f.perWindow)}, nil
}

func (f freshSource) Aggregate(_ context.Context, w source.Window, q source.Query) ([]source.Row, error) {
	first := int(w.Start.Sub(f.start)/f.step) * f.perWindow
	return RowsFrom(q, w, first, f.perWindow), nil
}

func (f freshSource) Samples(context.Context, source.Window, calicolog.LogType, []source.Term, int) ([]json.RawMessage, error) {
	return nil, nil
}

// RowsFrom is Rows for the n workloads numbered from first, with keys
// made afresh (not cached): each call may name other workloads.
func RowsFrom(q source.Query, w source.Window, first, n int) []source.Row {
	variantsOf := 1
	for _, f := range q.GroupBy {
		variantsOf = max(variantsOf, variants(f))
	}
	day := 1 + 0.5*math.Sin(2*math.Pi*float64(w.Start.Hour()*60+w.Start.Minute())/(24*60))
	out := make([]source.Row, 0, n*variantsOf)
	for e := first; e < first+n; e++ {
		base := 100 + float64(e%97)
		for v := range variantsOf {
			key := make([]string, len(q.GroupBy))
			for i, f := range q.GroupBy {
				key[i] = keyValue(f, e, v, q.Filters)
			}
			row := source.Row{Key: key, Values: make([]float64, len(q.Metrics))}
			fillValues(row.Values, q.Metrics, base*day, e, v, w.Start)
			out = append(out, row)
		}
	}
	source.SortRows(out)
	return out
}

// FreshNames runs windows five-minute windows of perWindow fresh workload
// names each through the engine, its models bounded to maxEntities per
// detector (0: no bound), and measures the process. Run it in a process
// of its own: the peak resident set is the whole process's.
// With only, just the detectors it names run.
func FreshNames(windows, perWindow, maxEntities int, defaultOnly bool, only []string) (FreshNamesResult, error) {
	res := FreshNamesResult{Windows: windows, PerWindow: perWindow, MaxEntities: maxEntities, Entities: map[string]int{}, Evicted: map[string]uint64{}}
	const step = 5 * time.Minute
	ds, err := AllDetectors("c", step)
	if err != nil {
		return res, err
	}
	if defaultOnly {
		ds = DefaultDetectors(ds)
	}
	if len(only) > 0 {
		ds = slices.DeleteFunc(ds, func(d detect.Detector) bool { return !slices.Contains(only, d.Name()) })
		if len(ds) == 0 {
			return res, fmt.Errorf("no detector named %v", only)
		}
	}
	res.Detectors = len(ds)
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	board := scoreboard.New(0)
	eng, err := engine.New(engine.Config{Interval: step, Bucket: step, Start: start, MaxEntitiesPerDetector: maxEntities},
		freshSource{start: start, step: step, perWindow: perWindow}, ds, board, nil, nil)
	if err != nil {
		return res, err
	}
	began := time.Now()
	for i := range windows {
		w := source.Window{Start: start.Add(time.Duration(i) * step), End: start.Add(time.Duration(i+1) * step)}
		if err := eng.ProcessWindow(context.Background(), w); err != nil {
			return res, err
		}
	}
	res.Took = time.Since(began)
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	res.HeapAlloc, res.PeakRSS = m.HeapAlloc, ProcStatus("VmHWM")
	snap := board.Snapshot()
	for _, d := range ds {
		if _, ok := d.(detect.EntityBounded); ok {
			st := snap.Detectors[d.Name()]
			res.Entities[d.Name()], res.Evicted[d.Name()] = st.Entities, st.EntitiesEvicted
		} else {
			res.Unbounded = append(res.Unbounded, d.Name())
		}
	}
	sort.Strings(res.Unbounded)
	runtime.KeepAlive(ds)
	return res, nil
}
