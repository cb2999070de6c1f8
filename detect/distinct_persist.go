package detect

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
)

// savedScan is the saved form of a distinctScan model.
type savedScan struct {
	Format      int                     `json:"format"`
	SlowWindows int                     `json:"slow_windows"`
	History     map[string]*scanHistory `json:"history"`
	Recent      []savedRing             `json:"recent"`
}

type savedRing struct {
	Entity Entity      `json:"entity"`
	Slots  []savedSlot `json:"slots"`
}

type savedSlot struct {
	Start   int64             `json:"start"`
	Fast    bool              `json:"fast,omitempty"`
	Hashes  []uint64          `json:"hashes"`
	Sources map[string]uint32 `json:"sources,omitempty"`
}

// savedScanFormat is the version of savedScan this build writes and reads.
const savedScanFormat = 1

// SaveModel writes each workload's history and the windows of the slow
// span, so a slow scan across a restart is still counted whole.
func (d *distinctScan) SaveModel(w io.Writer) error {
	s := savedScan{Format: savedScanFormat, SlowWindows: d.slowWindows, History: d.history}
	for e, r := range d.recent {
		sr := savedRing{Entity: e}
		for _, sl := range r.slots {
			ss := savedSlot{Start: sl.start, Fast: sl.fast, Hashes: sl.sketch.Hashes}
			for _, c := range sl.sources {
				if ss.Sources == nil {
					ss.Sources = map[string]uint32{}
				}
				ss.Sources[c.ip] = uint32(min(c.count, math.MaxUint32))
			}
			sr.Slots = append(sr.Slots, ss)
		}
		s.Recent = append(s.Recent, sr)
	}
	slices.SortFunc(s.Recent, func(a, b savedRing) int { return entityKeyCompare(a.Entity, b.Entity) })
	body, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("%s model: %w", d.name, err)
	}
	return writeModelFile(w, d.name, d.learned, body)
}

// LoadModel replaces the model with a saved one; on error the model is
// unchanged.
func (d *distinctScan) LoadModel(r io.Reader) error {
	learned, parts, err := readModelFile(r, d.name, 1)
	if err != nil {
		return err
	}
	var s savedScan
	if err := json.Unmarshal(parts[0], &s); err != nil {
		return fmt.Errorf("%s model: %v: %w", d.name, err, errModelFile)
	}
	if s.Format != savedScanFormat {
		return fmt.Errorf("%s model: format %d, this build reads %d: %w", d.name, s.Format, savedScanFormat, errModelFile)
	}
	history := map[string]*scanHistory{}
	for k, h := range s.History {
		if h == nil || len(h.Fast) == 0 || len(h.Fast) != len(h.Slow) || h.Next < 0 || h.Next > len(h.Fast) || h.Seen < 0 ||
			math.IsNaN(h.UsualFast) || math.IsNaN(h.UsualSlow) || h.UsualFast < 0 || h.UsualSlow < 0 {
			return fmt.Errorf("%s model: history of %s is inconsistent: %w", d.name, k, errModelFile)
		}
		if h.UsualAt > h.Seen || h.UsualAt < 0 {
			h.UsualAt = 0 // recomputed at its next use
		}
		// A shorter history_windows than the file's keeps the latest windows.
		if n := len(h.Fast); n > d.historyLen {
			keep := &scanHistory{Seen: h.Seen, Last: h.Last}
			for i := n - d.historyLen; i < n; i++ {
				j := (h.Next + i) % n
				keep.add(float64(h.Fast[j]), float64(h.Slow[j]), h.Last, d.historyLen)
			}
			keep.Seen = h.Seen
			h = keep
		}
		history[k] = h
	}
	recent := map[Entity]*scanRing{}
	for _, sr := range s.Recent {
		ring := &scanRing{}
		for _, ss := range sr.Slots {
			if len(ss.Hashes) > sketchSize || !slices.IsSorted(ss.Hashes) || len(ring.slots) > 0 && ss.Start <= ring.slots[len(ring.slots)-1].start {
				return fmt.Errorf("%s model: a window of %s holds a malformed sketch or is out of order: %w", d.name, sr.Entity.Key(), errModelFile)
			}
			sl := scanSlot{start: ss.Start, fast: ss.Fast, sketch: model.DistinctSketch{Hashes: ss.Hashes, K: sketchSize}}
			for ip, n := range ss.Sources {
				sl.sources = append(sl.sources, sourceCount{ip: ip, count: float64(n)})
			}
			sl.sources = topSourceCounts(sl.sources)
			ring.slots = append(ring.slots, sl)
		}
		// Keep the latest windows when slow_windows shrank.
		if extra := len(ring.slots) - d.slowWindows; extra > 0 {
			ring.slots = ring.slots[extra:]
		}
		recent[sr.Entity] = ring
	}
	d.history, d.recent, d.learned = history, recent, learned
	return nil
}
