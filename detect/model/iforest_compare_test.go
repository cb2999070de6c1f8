package model

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// compareDataset is a labelled dataset for comparing the forest with
// scikit-learn's: correlated Gaussian inliers in four dimensions (two
// pairs of features that move together, as bytes and packets do), and 5%
// outliers of three kinds: far on one feature, moderately off on all, and
// breaking a correlation while each value stays in range.
func compareDataset(seed uint64) (x []float64, labels []int, dims int) {
	const n, outliers = 4000, 200
	dims = 4
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range n {
		a, b := r.NormFloat64(), r.NormFloat64()
		row := []float64{a, a + 0.2*r.NormFloat64(), b, b + 0.2*r.NormFloat64()}
		label := 0
		if i < outliers {
			label = 1
			switch i % 3 {
			case 0: // far on one feature
				row[r.IntN(dims)] += 4 + 2*r.Float64()
			case 1: // moderately off on all
				for j := range row {
					row[j] = 3 * (2*r.Float64() - 1) * 1.5
				}
			case 2: // a correlation broken, values in range
				row[1] = -row[0] + 0.2*r.NormFloat64()
				if row[0] > -0.5 && row[0] < 0.5 {
					row[0], row[1] = 1.5, -1.5
				}
			}
		}
		x = append(x, row...)
		labels = append(labels, label)
	}
	return x, labels, dims
}

// TestExportForestComparison writes the comparison dataset with this
// forest's scores (walked as scikit-learn walks, and extrapolated) and its
// timings, for scripts/iforest_compare.py. It runs only when
// IFOREST_COMPARE_DIR names the directory to write to.
func TestExportForestComparison(t *testing.T) {
	dir := os.Getenv("IFOREST_COMPARE_DIR")
	if dir == "" {
		t.Skip("set IFOREST_COMPARE_DIR to export the comparison dataset")
	}
	x, labels, dims := compareDataset(1)
	n := len(labels)
	timings := map[string]float64{"rows": float64(n)}
	scores := map[string][]float64{}
	for _, mode := range []struct {
		name        string
		extrapolate bool
	}{{"go_walk", false}, {"go_extrapolate", true}} {
		f := NewForest(ForestConfig{Estimators: DefaultEstimators, MaxSamples: DefaultMaxSamples, Seed: 1, Extrapolate: mode.extrapolate})
		const repeats = 5
		start := time.Now()
		for range repeats {
			if err := f.Fit(x, dims); err != nil {
				t.Fatal(err)
			}
		}
		timings[mode.name+"_fit_seconds"] = time.Since(start).Seconds() / repeats
		// The best of five, as the script takes scikit-learn's: the
		// machine is shared.
		var s []float64
		best := math.Inf(1)
		for range repeats {
			start = time.Now()
			s = f.ScoreRows(x, s)
			best = min(best, time.Since(start).Seconds())
		}
		timings[mode.name+"_score_seconds"] = best
		scores[mode.name] = s
	}
	out, err := os.Create(filepath.Join(dir, "dataset.csv"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(out)
	for j := range dims {
		fmt.Fprintf(w, "f%d,", j)
	}
	fmt.Fprintln(w, "label,go_walk,go_extrapolate")
	for i := range n {
		for j := range dims {
			w.WriteString(strconv.FormatFloat(x[i*dims+j], 'g', -1, 64) + ",")
		}
		fmt.Fprintf(w, "%d,%s,%s\n", labels[i], strconv.FormatFloat(scores["go_walk"][i], 'g', -1, 64), strconv.FormatFloat(scores["go_extrapolate"][i], 'g', -1, 64))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	tj, _ := json.MarshalIndent(timings, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "go_timings.json"), tj, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d rows and timings to %s", n, dir)
}
