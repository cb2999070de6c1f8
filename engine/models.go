package engine

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// modelsPrefix starts the name of each generation of saved models.
const modelsPrefix = "models-"

// modelFile is where detector name's model is kept in a generation folder.
func modelFile(dir, name string) string { return filepath.Join(dir, name+".model") }

// saveSnapshot writes every persistent detector's model into a new
// generation folder, then the state naming it, then removes the older
// generations. A crash at any point leaves a state and the models it names
// from the same window: the old pair or the new one, never a mix.
func (e *Engine) saveSnapshot(next time.Time) error {
	st := state{NextWindowStart: next, Interval: e.cfg.Interval.String(), Cluster: e.cfg.Cluster}
	var persistent []detect.Detector
	for _, d := range e.detectors {
		if _, ok := d.(detect.Persistent); ok {
			persistent = append(persistent, d)
		}
	}
	if len(persistent) > 0 {
		st.Models = modelsPrefix + strconv.FormatInt(next.Unix(), 10)
		final := filepath.Join(e.cfg.StateDir, st.Models)
		tmp := final + ".partial"
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		for _, d := range persistent {
			if err := writeModel(modelFile(tmp, d.Name()), d.(detect.Persistent)); err != nil {
				os.RemoveAll(tmp)
				return fmt.Errorf("save %s model: %w", d.Name(), err)
			}
		}
		if err := syncDir(tmp); err != nil {
			return err
		}
		if err := os.RemoveAll(final); err != nil {
			return err
		}
		if err := os.Rename(tmp, final); err != nil {
			return err
		}
	}
	if err := saveState(e.cfg.StateDir, st); err != nil {
		return err
	}
	if err := syncDir(e.cfg.StateDir); err != nil {
		return err
	}
	e.board.ModelsSaved(time.Now())
	removeOldGenerations(e.cfg.StateDir, st.Models)
	return nil
}

func writeModel(path string, p detect.Persistent) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	if err := p.SaveModel(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// removeOldGenerations deletes model folders other than keep.
func removeOldGenerations(dir, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, en := range entries {
		if en.IsDir() && strings.HasPrefix(en.Name(), modelsPrefix) && en.Name() != keep {
			os.RemoveAll(filepath.Join(dir, en.Name()))
		}
	}
}

// loadModels loads each persistent detector's model from the generation
// the state names. A model that is missing (a detector enabled since), or
// unusable (corrupt, another format) is reported and learned afresh; the
// exporter never stops for it. It returns how many models were loaded.
func (e *Engine) loadModels(st state) int {
	if st.Models == "" {
		return 0
	}
	dir := filepath.Join(e.cfg.StateDir, st.Models)
	loaded := 0
	for _, d := range e.detectors {
		p, ok := d.(detect.Persistent)
		if !ok {
			continue
		}
		path := modelFile(dir, d.Name())
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			level.Info(e.logger).Log("msg", "no saved model; it learns afresh", "detector", d.Name(), "path", path)
			continue
		}
		if err == nil {
			err = p.LoadModel(bufio.NewReaderSize(f, 1<<16))
			f.Close()
		}
		if err != nil {
			e.board.ModelLoadFailed(d.Name())
			level.Error(e.logger).Log("msg", "saved model unusable; it learns afresh", "detector", d.Name(), "path", path, "err", err)
			continue
		}
		loaded++
		e.board.SetReady(d.Name(), d.Ready())
		level.Info(e.logger).Log("msg", "model loaded", "detector", d.Name(), "path", path, "ready", d.Ready())
	}
	return loaded
}
