package perf

import (
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// MemoryResult is what holding trained models for a number of workloads
// costs.
type MemoryResult struct {
	Entities, Windows, Detectors int
	// HeapAlloc is the live heap after a collection, with the models (and
	// little else) in it; HeapSys what the Go heap holds from the system.
	HeapAlloc, HeapSys uint64
	// PeakRSS is the process's peak resident set (VmHWM), RSS the current
	// one (VmRSS), both after training.
	PeakRSS, RSS uint64
	// ModelBytes is the size of every detector's saved model.
	ModelBytes int64
	TrainTime  time.Duration
}

// Memory trains every registered detector on windows hourly windows of
// synthetic rows for entities workloads (every per-entity model then
// exists) and measures the process. Run it in a process of its own: the
// peak resident set is the whole process's.
// When heapProfile is set, a heap profile is written there after training.
// With defaultOnly, only the detectors enabled by default are trained.
func Memory(entities, windows int, heapProfile string, defaultOnly bool) (MemoryResult, error) {
	res := MemoryResult{Entities: entities}
	ds, err := AllDetectors("c", 5*time.Minute)
	if err != nil {
		return res, err
	}
	if defaultOnly {
		ds = DefaultDetectors(ds)
	}
	res.Detectors = len(ds)
	start := time.Now()
	_, res.Windows = Train(ds, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Hour, 5*time.Minute, entities, windows, windows)
	res.TrainTime = time.Since(start)
	ForgetKeys()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	res.HeapAlloc, res.HeapSys = m.HeapAlloc, m.HeapSys
	res.PeakRSS, res.RSS = ProcStatus("VmHWM"), ProcStatus("VmRSS")
	for _, d := range ds {
		if p, ok := d.(detect.Persistent); ok {
			var cw countingWriter
			if err := p.SaveModel(&cw); err != nil {
				return res, err
			}
			res.ModelBytes += cw.n
		}
	}
	if heapProfile != "" {
		f, err := os.Create(heapProfile)
		if err != nil {
			return res, err
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			f.Close()
			return res, err
		}
		if err := f.Close(); err != nil {
			return res, err
		}
	}
	runtime.KeepAlive(ds)
	return res, nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)
