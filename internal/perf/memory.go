package perf

import (
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// MemoryResult is what holding trained models for a number of workloads
// costs, and what judging one more window with them costs.
type MemoryResult struct {
	Entities, Windows, Detectors int
	// Own is how many of the Entities workloads the replica's
	// namespace-scoped detectors hold (Entities without sharding).
	Own int
	// HeapAlloc is the live heap after a collection, with the models (and
	// little else) in it; HeapSys what the Go heap holds from the system.
	HeapAlloc, HeapSys uint64
	// PeakRSS is the process's peak resident set (VmHWM), RSS the current
	// one (VmRSS), both after training.
	PeakRSS, RSS uint64
	// ModelBytes is the size of every detector's saved model.
	ModelBytes int64
	TrainTime  time.Duration
	// Scored is set when windows were judged after training: the CPU
	// time the first, which closes the hour of every baseline, took on one
	// core (GOMAXPROCS=1, collections included), the allocations and bytes
	// allocated per workload, and the verdicts; Within the same of the
	// next window, within the hour.
	Scored              bool
	ScoreCPU, ScoreWall time.Duration
	AllocsPerEntity     float64
	AllocBytesPerEntity float64
	Verdicts            int
	Within              struct {
		CPU, Wall           time.Duration
		AllocsPerEntity     float64
		AllocBytesPerEntity float64
		Verdicts            int
	}
	// RecentWindows is how many 5-minute windows were learned after the
	// hourly ones (MemoryConfig.RecentDay).
	RecentWindows int
	// ExtraWindows is how many more windows were learned before the
	// window judged, so that every detector judges it.
	ExtraWindows int
	// NotReady names the detectors still learning when the window was
	// judged (they learned it instead).
	NotReady []string
	// PeakRSSAfterScoring is the peak resident set once the window was
	// judged too.
	PeakRSSAfterScoring uint64
}

// MemoryConfig says what Memory trains and measures.
type MemoryConfig struct {
	Entities, Windows int
	// HeapProfile, when set, is where a heap profile is written after
	// training.
	HeapProfile string
	// DefaultOnly trains only the detectors enabled by default.
	DefaultOnly bool
	// Score judges one more window after the memory is measured.
	Score bool
	// RecentDay, after the hourly windows, learns a day of windows at the
	// bucket (5 minutes), as a running exporter learns every window: the
	// state kept per window and not per hour (the isolation detectors' day
	// of recent feature rows per workload) is then full, as it is in a
	// deployment, instead of holding the few hourly windows.
	RecentDay bool
	// Shard, when sharded, makes the process one replica of an exporter
	// sharded by namespace over the Entities workloads: each detector
	// learns the rows its engine would hand it (see Shares).
	Shard engine.Shard
}

// Memory trains every registered detector on windows hourly windows of
// synthetic rows for entities workloads (every per-entity model then
// exists) and measures the process. Run it in a process of its own: the
// peak resident set is the whole process's.
// When heapProfile is set, a heap profile is written there after training.
// With defaultOnly, only the detectors enabled by default are trained.
func Memory(entities, windows int, heapProfile string, defaultOnly bool) (MemoryResult, error) {
	return MemoryOf(MemoryConfig{Entities: entities, Windows: windows, HeapProfile: heapProfile, DefaultOnly: defaultOnly})
}

// MemoryOf is Memory with every option, scoring a window after training
// when cfg.Score is set.
func MemoryOf(cfg MemoryConfig) (MemoryResult, error) {
	res := MemoryResult{Entities: cfg.Entities}
	ds, err := AllDetectors("c", 5*time.Minute)
	if err != nil {
		return res, err
	}
	if cfg.DefaultOnly {
		ds = DefaultDetectors(ds)
	}
	res.Detectors = len(ds)
	shares := Shares(ds, cfg.Entities, cfg.Shard, "c")
	res.Own = cfg.Entities
	for _, s := range shares {
		if s != nil {
			res.Own = len(s)
		}
	}
	start := time.Now()
	var next time.Time
	next, res.Windows = trainShares(ds, shares, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Hour, 5*time.Minute, cfg.Entities, cfg.Windows, cfg.Windows)
	if cfg.RecentDay {
		day := int(24 * time.Hour / (5 * time.Minute))
		// A whole day: the window after it starts an hour, as after the
		// hourly windows alone.
		next, res.RecentWindows = trainShares(ds, shares, next, 5*time.Minute, 5*time.Minute, cfg.Entities, day, day)
	}
	res.TrainTime = time.Since(start)
	ForgetKeys()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	res.HeapAlloc, res.HeapSys = m.HeapAlloc, m.HeapSys
	res.PeakRSS, res.RSS = ProcStatus("VmHWM"), ProcStatus("VmRSS")
	if cfg.HeapProfile != "" {
		if err := writeHeapProfile(cfg.HeapProfile); err != nil {
			return res, err
		}
	}
	if cfg.Score {
		// Detectors that need more history than the windows measured (the
		// isolation forests calibrate for half a day after their first
		// fit) learn on until they judge, at most a day more.
		next, res.ExtraWindows = trainShares(ds, shares, next, time.Hour, 5*time.Minute, cfg.Entities, 0, 24)
		scoreOnce(ds, shares, next, cfg.Entities, &res)
	}
	for _, d := range ds {
		if p, ok := d.(detect.Persistent); ok {
			var cw countingWriter
			if err := p.SaveModel(&cw); err != nil {
				return res, err
			}
			res.ModelBytes += cw.n
		}
	}
	runtime.KeepAlive(ds)
	return res, nil
}

// scoreOnce judges, on one core, the window at at (the first of its hour:
// every baseline closes the hour before) and then the next one, within the
// same hour as most windows are, and records their costs in res. The rows
// are built first and kept out of the figures.
func scoreOnce(ds []detect.Detector, shares [][]int, at time.Time, entities int, res *MemoryResult) {
	res.NotReady = NotReady(ds)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	res.Scored = true
	res.ScoreCPU, res.ScoreWall, res.AllocsPerEntity, res.AllocBytesPerEntity, res.Verdicts = judgeWindow(ds, shares, at, entities, res.Own)
	res.Within.CPU, res.Within.Wall, res.Within.AllocsPerEntity, res.Within.AllocBytesPerEntity, res.Within.Verdicts = judgeWindow(ds, shares, at.Add(5*time.Minute), entities, res.Own)
	res.PeakRSSAfterScoring = ProcStatus("VmHWM")
}

// judgeWindow judges the window at at with every detector (the ones still
// learning learn it) and measures it; allocations are per workload of the
// own (the replica's share).
func judgeWindow(ds []detect.Detector, shares [][]int, at time.Time, entities, own int) (cpu, wall time.Duration, allocs, bytes float64, verdicts int) {
	w := source.Window{Start: at, End: at.Add(5 * time.Minute)}
	rows := make([][][]source.Row, len(ds))
	for i, d := range ds {
		rows[i] = windowRowsOf(d, w, entities, shares[i])
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0, wall0 := CPUTime(), time.Now()
	for i, d := range ds {
		if d.Ready() {
			verdicts += len(d.Judge(w, rows[i]))
		} else if l, ok := d.(detect.Learner); ok {
			l.Learn(w, rows[i])
		}
	}
	cpu, wall = CPUTime()-cpu0, time.Since(wall0)
	runtime.ReadMemStats(&m1)
	n := float64(max(own, 1))
	return cpu, wall, float64(m1.Mallocs-m0.Mallocs) / n, float64(m1.TotalAlloc-m0.TotalAlloc) / n, verdicts
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)
