package perf

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Figure is one measured number, with the target it is held to.
type Figure struct {
	// ID names the figure for the targets of an issue (see Goals): a
	// figure whose ID is a goal's is shown beside that goal. Empty for a
	// figure no goal asks for.
	ID    string  `json:"id,omitempty"`
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Op and Target: the value must be Op Target ("<", "<=", ">=");
	// Op is empty for a figure without a target.
	Op     string  `json:"op,omitempty"`
	Target float64 `json:"target,omitempty"`
	Note   string  `json:"note,omitempty"`
}

// Met reports whether the figure meets its target (true without one).
func (f Figure) Met() bool {
	switch f.Op {
	case "<":
		return f.Value < f.Target
	case "<=":
		return f.Value <= f.Target
	case ">=":
		return f.Value >= f.Target
	}
	return true
}

// Ratio is the value over the target (0 without a target): below 1 meets
// a "<" target, at or above 1 a ">=" one.
func (f Figure) Ratio() float64 {
	if f.Op == "" || f.Target == 0 {
		return 0
	}
	return f.Value / f.Target
}

// WriteFigures writes figures as JSON lines.
func WriteFigures(w io.Writer, figs []Figure) error {
	enc := json.NewEncoder(w)
	for _, f := range figs {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

// ReadFigures reads JSON lines written by WriteFigures; other lines are
// skipped.
func ReadFigures(r io.Reader) ([]Figure, error) {
	var out []Figure
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var f Figure
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			return nil, fmt.Errorf("figure %q: %w", line, err)
		}
		out = append(out, f)
	}
	return out, sc.Err()
}

// BenchResult is one line of `go test -bench` output: the benchmark's name
// (without the -N suffix) and its metrics by unit.
type BenchResult struct {
	Name    string
	N       int
	Metrics map[string]float64
}

// ParseGoBench reads `go test -bench` output.
func ParseGoBench(r io.Reader) ([]BenchResult, error) {
	var out []BenchResult
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		b := BenchResult{Name: name, N: n, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark %s: value %q of %s is not a number", name, f[i], f[i+1])
			}
			b.Metrics[f[i+1]] = v
		}
		out = append(out, b)
	}
	return out, sc.Err()
}

// BenchFigures turns the benchmarks of issue 11 into figures, and any
// benchmark metric whose unit is a goal's ID (b.ReportMetric(v,
// "scoring.cpu.100k")) into that goal's figure, in the goal's unit.
func BenchFigures(bs []BenchResult) []Figure {
	var out []Figure
	for _, b := range bs {
		m := b.Metrics
		for _, g := range Issue23Goals {
			if v, ok := m[g.ID]; ok {
				out = append(out, Figure{ID: g.ID, Name: g.Name, Value: v, Unit: g.Unit, Op: g.Op, Target: g.Target, Note: b.Name})
			}
		}
		switch b.Name {
		case "BenchmarkScoreWindow10kEntities":
			out = append(out,
				Figure{Name: fmt.Sprintf("scoring: 1 window, 10,000 entities, %.0f detectors, wall", m["detectors"]), Value: m["ns/op"] / 1e9, Unit: "s", Op: "<", Target: 1},
				Figure{Name: "scoring: same, CPU time", Value: m["cpu-ns/op"] / 1e9, Unit: "s", Op: "<", Target: 1},
				Figure{Name: "scoring: allocations per entity", Value: m["allocs/entity"], Unit: "allocs"},
				Figure{Name: "scoring: bytes allocated per entity", Value: m["B/entity"], Unit: "B"})
		case "BenchmarkScoreWindowDefault/entities=1000", "BenchmarkScoreWindowDefault/entities=10000", "BenchmarkScoreWindowDefault/entities=100000":
			out = append(out, scoreDefaultFigures(m)...)
		case "BenchmarkMetrics20kSeries":
			out = append(out,
				Figure{Name: fmt.Sprintf("/metrics: %.0f series (%.0f verdicts) rendered by promhttp, wall", m["series"], m["verdicts"]), Value: m["ns/op"] / 1e6, Unit: "ms", Op: "<", Target: 100},
				Figure{Name: "/metrics: same, CPU time", Value: m["cpu-ns/op"] / 1e6, Unit: "ms", Op: "<", Target: 100},
				Figure{Name: "/metrics: allocations per scrape", Value: m["allocs/op"], Unit: "allocs"})
		case "BenchmarkMetrics20kVerdicts":
			out = append(out,
				Figure{Name: fmt.Sprintf("/metrics: %.0f series (%.0f verdicts), wall", m["series"], m["verdicts"]), Value: m["ns/op"] / 1e6, Unit: "ms"},
				Figure{Name: "/metrics: same, CPU time", Value: m["cpu-ns/op"] / 1e6, Unit: "ms"})
		default:
			out = append(out, Figure{Name: b.Name, Value: m["ns/op"], Unit: "ns/op"})
		}
	}
	return out
}

// Issue 23's scoring targets, for the detectors enabled by default.
const (
	scoreCPUTarget100k = 5  // s of CPU on one core, one window of 100,000 workloads
	allocsTarget       = 20 // allocations per workload judged
)

// scoreDefaultFigures are BenchmarkScoreWindowDefault's figures at one
// workload count; the CPU target applies at 100,000.
func scoreDefaultFigures(m map[string]float64) []Figure {
	n := m["entities"]
	cpu := Figure{Name: fmt.Sprintf("scoring: 1 window, %.0f workloads, %.0f default detectors, CPU on one core", n, m["detectors"]), Value: m["cpu-ns/op"] / 1e9, Unit: "s",
		Note: fmt.Sprintf("wall %.2f s, %.0f verdicts", m["ns/op"]/1e9, m["verdicts/op"])}
	if n == 100000 {
		cpu.ID, cpu.Op, cpu.Target = "scoring.cpu.100k", "<=", scoreCPUTarget100k
	}
	return []Figure{cpu,
		{ID: "scoring.allocs_per_entity", Name: fmt.Sprintf("scoring: allocations per workload, %.0f workloads", n), Value: m["allocs/entity"], Unit: "allocs", Op: "<=", Target: allocsTarget,
			Note: fmt.Sprintf("%.0f B per workload", m["B/entity"])}}
}

// WriteTable prints figures as a table with a header line.
func WriteTable(w io.Writer, header string, figs []Figure) error {
	if _, err := fmt.Fprintln(w, header); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tmeasured\ttarget\tratio\tmet\t")
	for _, f := range figs {
		target, ratio, met := "-", "-", "-"
		if f.Op != "" {
			target = fmt.Sprintf("%s %s %s", f.Op, num(f.Target), f.Unit)
			ratio = fmt.Sprintf("%.2f", f.Ratio())
			met = map[bool]string{true: "yes", false: "NO"}[f.Met()]
		}
		name := f.Name
		if f.Note != "" {
			name += " (" + f.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t\n", name, num(f.Value), f.Unit, target, ratio, met)
	}
	return tw.Flush()
}

func num(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e15:
		return strconv.FormatInt(int64(v), 10)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// Goal is one target an issue sets, which `make bench` must show measured
// beside it: the figure with the goal's ID, wherever it came from (go test
// -bench, or a command's JSON lines).
type Goal struct {
	ID     string
	Name   string
	Op     string
	Target float64
	Unit   string
}

// Issue23Goals are the targets of issue 23 ("ten times the workloads in a
// fifth of the memory, and Elasticsearch doing less per window"). A
// command that measures one of them writes a Figure with its ID (a Go
// benchmark reports a metric whose unit is the ID, see BenchFigures); the
// report prints every goal, measured or not.
var Issue23Goals = []Goal{
	{ID: "memory.peak_rss.10k", Name: "memory: peak RSS, models for 10,000 workloads, default detectors", Op: "<=", Target: 256, Unit: "MiB"},
	{ID: "memory.live_heap.10k", Name: "memory: live heap, models for 10,000 workloads, default detectors", Op: "<=", Target: 160, Unit: "MiB"},
	{ID: "memory.peak_rss.100k", Name: "memory: peak RSS, models for 100,000 workloads, default detectors", Op: "<=", Target: 2048, Unit: "MiB"},
	{ID: "memory.growth.100k_over_10k", Name: "memory: live heap at 100k over 10 x the one at 10k (linear growth)", Op: "<=", Target: 1.1, Unit: "x"},
	{ID: "scoring.cpu.100k", Name: "scoring: one window of 100,000 workloads, default detectors, CPU on one core", Op: "<=", Target: 5, Unit: "s"},
	{ID: "scoring.allocs_per_entity", Name: "scoring: allocations per entity", Op: "<=", Target: 20, Unit: "allocs"},
	{ID: "es.took.10m", Name: "Elasticsearch took summed over a 10M-record window's queries", Op: "<=", Target: 5, Unit: "s"},
	{ID: "es.rows_equal", Name: "detector queries whose rows equal the raw path's (share)", Op: ">=", Target: 1, Unit: "of all"},
	{ID: "es.overhead.sequential", Name: "one query at a time: wall over Elasticsearch's took", Op: "<=", Target: 1.2, Unit: "x"},
	{ID: "coldstart.7d.10k", Name: "cold start: learning 7 days of history for 10,000 workloads from Elasticsearch", Op: "<=", Target: 60, Unit: "s"},
	{ID: "shard.4.es_work", Name: "sharding: 4 replicas' Elasticsearch took per window over one replica's", Op: "<", Target: 4, Unit: "x"},
	{ID: "shard.4.peak_rss", Name: "sharding: peak RSS of each of 4 replicas holding 100,000 workloads", Op: "<=", Target: 512, Unit: "MiB"},
}

// ApplyGoals gives a figure with a goal's ID and no target of its own the
// goal's target.
func ApplyGoals(figs []Figure, goals []Goal) {
	for i := range figs {
		for _, g := range goals {
			if figs[i].ID == g.ID && figs[i].Op == "" {
				figs[i].Op, figs[i].Target = g.Op, g.Target
			}
		}
	}
}

// WriteGoals prints every goal as a table row: the figure measured for it
// (the last with its ID), its target and ratio, or "not measured".
func WriteGoals(w io.Writer, header string, goals []Goal, figs []Figure) error {
	if _, err := fmt.Fprintln(w, header); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tmeasured\ttarget\tratio\tmet\t")
	for _, g := range goals {
		var found *Figure
		for i := range figs {
			if figs[i].ID == g.ID {
				found = &figs[i]
			}
		}
		target := fmt.Sprintf("%s %s %s", g.Op, num(g.Target), g.Unit)
		if found == nil {
			fmt.Fprintf(tw, "%s\tnot measured\t%s\t-\t-\t\n", g.Name, target)
			continue
		}
		f := *found
		if f.Op == "" {
			f.Op, f.Target = g.Op, g.Target
		}
		name := g.Name
		if f.Note != "" {
			name += " (" + f.Note + ")"
		}
		met := map[bool]string{true: "yes", false: "NO"}[f.Met()]
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%.2f\t%s\t\n", name, num(f.Value), f.Unit, target, f.Ratio(), met)
	}
	return tw.Flush()
}
