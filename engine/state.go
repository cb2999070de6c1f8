package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/atomicfile"
)

// stateFile is the name of the engine's state under its storage folder.
const stateFile = "engine-state.json"

// state is what the engine keeps across restarts: where to resume, so a
// restart (or a SIGKILL in the middle of a window) neither skips nor
// rescores a completed window.
type state struct {
	// NextWindowStart is the start of the first window not yet completed.
	NextWindowStart time.Time `json:"next_window_start"`
	// Interval is the window length the state was written with; a state
	// written with another one is not resumed.
	Interval string `json:"interval"`
	// Cluster is the engine's Config.Cluster when the state was written;
	// a state of another cluster is not resumed (two clusters' engines
	// given the same folder). Empty in states written before clusters.
	Cluster string `json:"cluster,omitempty"`
	// Models names the folder, under the state's folder, holding the
	// models as they were when NextWindowStart was reached; empty when no
	// detector keeps a model.
	Models string `json:"models,omitempty"`
}

// loadState reads the state under dir; a missing file is no state.
func loadState(dir string) (state, bool, error) {
	path := filepath.Join(dir, stateFile)
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return state{}, false, nil
	}
	if err != nil {
		return state{}, false, err
	}
	var s state
	if err := json.Unmarshal(raw, &s); err != nil {
		return state{}, false, fmt.Errorf("%s: %w (remove it to start afresh)", path, err)
	}
	if s.NextWindowStart.IsZero() {
		return state{}, false, fmt.Errorf("%s: no next_window_start (remove it to start afresh)", path)
	}
	return s, true, nil
}

// saveState writes the state atomically: a crash leaves the old file or
// the new one, never half of one.
func saveState(dir string, s state) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, stateFile), raw)
}
