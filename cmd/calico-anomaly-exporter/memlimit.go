package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"
)

// memLimitFlags are --auto-gomemlimit and its ratio, named as Prometheus
// names them: the Go runtime's soft memory limit set from the container's
// memory limit, so the garbage collector works harder as the heap nears
// the limit instead of the kernel killing the exporter. Models are most of
// the heap, and between two collections the heap may otherwise grow to
// twice what is live.
type memLimitFlags struct {
	enabled bool
	ratio   float64
}

func addMemLimitFlags(app *kingpin.Application) *memLimitFlags {
	f := &memLimitFlags{}
	app.Flag("auto-gomemlimit", "Set the Go runtime's soft memory limit (GOMEMLIMIT) to --auto-gomemlimit.ratio of the container's memory limit (cgroup v2 memory.max or v1 memory.limit_in_bytes). An explicit GOMEMLIMIT in the environment wins.").Default("true").BoolVar(&f.enabled)
	app.Flag("auto-gomemlimit.ratio", "Share of the container's memory limit given to the Go runtime as its soft limit, above 0 and at most 1.").Default("0.9").Float64Var(&f.ratio)
	return f
}

// cgroupRoot is where the cgroup file systems are mounted.
var cgroupRoot = "/sys/fs/cgroup"

// cgroupMemoryLimit returns the memory limit of the process's cgroup in
// bytes; ok is false when there is none (no cgroup, "max", or v1's
// "unlimited" value close to 2^63).
func cgroupMemoryLimit(root string) (limit uint64, ok bool, err error) {
	for _, file := range []string{"memory.max", "memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(filepath.Join(root, file))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		text := strings.TrimSpace(string(b))
		if text == "max" {
			return 0, false, nil
		}
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %q is not a number of bytes", filepath.Join(root, file), text)
		}
		if n >= math.MaxInt64/2 {
			return 0, false, nil // cgroup v1 writes a huge page-aligned number for no limit
		}
		return n, true, nil
	}
	return 0, false, nil
}

// apply sets the runtime's soft memory limit and says what it did, as
// key-value pairs for the log; set is false when nothing was changed.
func (f *memLimitFlags) apply(getenv func(string) string, root string, setLimit func(int64) int64) (kv []any, set bool, err error) {
	if !f.enabled {
		return nil, false, nil
	}
	if f.ratio <= 0 || f.ratio > 1 {
		return nil, false, fmt.Errorf("--auto-gomemlimit.ratio=%v: want a share above 0 and at most 1", f.ratio)
	}
	if v := getenv("GOMEMLIMIT"); v != "" {
		return []any{"gomemlimit", v, "from", "GOMEMLIMIT"}, false, nil
	}
	limit, ok, err := cgroupMemoryLimit(root)
	if err != nil || !ok {
		return nil, false, err
	}
	soft := int64(float64(limit) * f.ratio)
	setLimit(soft)
	return []any{"gomemlimit", soft, "container_limit", limit, "ratio", f.ratio}, true, nil
}
