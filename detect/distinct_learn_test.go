package detect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// judgeSeq plays windows through d: each window's rows come from rowsOf(i);
// it returns the verdicts of each window by workload.
func judgeSeq(d Detector, from source.Window, n int, rowsOf func(i int) []source.Row) []map[string]Verdict {
	out := make([]map[string]Verdict, n)
	w := from
	for i := range n {
		rows := [][]source.Row{rowsOf(i), nil}
		byWorkload := map[string]Verdict{}
		if !d.Ready() {
			d.(Learner).Learn(w, rows)
		} else {
			for _, v := range d.Judge(w, rows) {
				byWorkload[v.Entity.Workload] = v
			}
		}
		out[i] = byWorkload
		w = source.Window{Start: w.End, End: w.End.Add(w.End.Sub(w.Start))}
	}
	return out
}

func TestLearnedScanners(t *testing.T) {
	const prober = "blackbox-exporter-7d4f8b9c5d-*"
	const rolledOut = "blackbox-exporter-5c6b8d9f7z-*" // the same deployment after a rollout
	tests := []struct {
		name     string
		detector string
		params   map[string]string
		windows  int
		rows     func(i int) []source.Row
		// wantFlagged counts the windows in which each workload must be
		// anomalous; workloads not listed must never be.
		wantFlagged map[string]int
	}{
		{
			name: "a prober reaching 45 addresses every window is flagged until six hours of history, then learned", detector: "ip_sweep",
			windows: 150,
			rows: func(i int) []source.Row {
				return scanRows(nil, "monitoring", prober, "wep", 0, 45+i%3)
			},
			wantFlagged: map[string]int{prober: 72},
		},
		{
			name: "trained on history first, the prober is never flagged", detector: "ip_sweep",
			params:  map[string]string{"train_windows": "72"},
			windows: 150,
			rows: func(i int) []source.Row {
				return scanRows(nil, "monitoring", prober, "wep", 0, 45+i%3)
			},
			wantFlagged: map[string]int{},
		},
		{
			name: "a new workload reaching as many addresses is still flagged at Calico's threshold", detector: "ip_sweep",
			params:  map[string]string{"train_windows": "72"},
			windows: 100,
			rows: func(i int) []source.Row {
				rows := scanRows(nil, "monitoring", prober, "wep", 0, 45)
				if i >= 90 {
					rows = scanRows(rows, "monitoring", "rogue-*", "wep", 1000, 40)
				}
				return rows
			},
			wantFlagged: map[string]int{"rogue-*": 10},
		},
		{
			name: "the learned prober sweeping a /24 is flagged, fast then slow", detector: "ip_sweep",
			params:  map[string]string{"train_windows": "72"},
			windows: 100,
			rows: func(i int) []source.Row {
				rows := scanRows(nil, "monitoring", prober, "wep", 0, 45)
				switch {
				case i == 80:
					rows = scanRows(rows, "monitoring", prober, "wep", 1000, 254)
				case i >= 90:
					rows = scanRows(rows, "monitoring", prober, "wep", 2000+(i-90)*20, 20) // slow, 20 more a window
				}
				return rows
			},
			wantFlagged: map[string]int{prober: 1 + 8}, // 80, and 92..99 once 45+60 ≥ 90
		},
		{
			name: "a rollout keeps what the deployment learned", detector: "ip_sweep",
			params:  map[string]string{"train_windows": "72"},
			windows: 120,
			rows: func(i int) []source.Row {
				if i < 100 {
					return scanRows(nil, "monitoring", prober, "wep", 0, 45)
				}
				return scanRows(nil, "monitoring", rolledOut, "wep", 0, 45)
			},
			wantFlagged: map[string]int{},
		},
		{
			name: "a mesh health checker reaching 600 ports a window is learned; a scan twice that is not", detector: "port_scan",
			params:  map[string]string{"train_windows": "72"},
			windows: 100,
			rows: func(i int) []source.Row {
				n := 600
				if i == 95 {
					n = 1300
				}
				return scanRows(scanRows(nil, "mesh", "health-checker-*", "wep", 1, n), "shop", "frontend-*", "wep", 1, 2)
			},
			wantFlagged: map[string]int{"health-checker-*": 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(t, tc.detector, tc.params)
			flagged := map[string]int{}
			var last map[string]Verdict
			for i, vs := range judgeSeq(d, testWindow, tc.windows, tc.rows) {
				for wl, v := range vs {
					if v.Anomalous() {
						flagged[wl]++
						if flagged[wl] <= 2 || i >= tc.windows-2 {
							t.Logf("window %d: %s", i, v.Summary)
						}
					}
				}
				last = vs
			}
			t.Logf("flagged windows by workload: %v", flagged)
			for wl, n := range flagged {
				if n != tc.wantFlagged[wl] {
					t.Errorf("%s flagged in %d windows, want %d", wl, n, tc.wantFlagged[wl])
				}
			}
			for wl, n := range tc.wantFlagged {
				if flagged[wl] != n {
					t.Errorf("%s flagged in %d windows, want %d", wl, flagged[wl], n)
				}
			}
			for _, v := range last {
				if v.Score < 0 || v.Score > 1 {
					t.Errorf("score %v outside 0..1", v.Score)
				}
			}
		})
	}
}

func TestScanWorkloadOfStripsThePodTemplateHash(t *testing.T) {
	for in, want := range map[string]string{
		"frontend-7d4f8b9c5d-*":     "frontend",
		"blackbox-exporter-6c8d4-*": "blackbox-exporter-6c8d4", // too short to be a hash
		"prometheus-server-*":       "prometheus-server",       // a StatefulSet
		"pub":                       "pub",
		"worker-3":                  "worker-3",
		"api-aeiou12345-*":          "api-aeiou12345",
		"backup-29418240-*":         "backup", // a CronJob's Job
		"web-2024-*":                "web-2024",
	} {
		if got := workloadOf(in); got != want {
			t.Errorf("workloadOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScanModelSurvivesARestart(t *testing.T) {
	const prober = "blackbox-exporter-7d4f8b9c5d-*"
	params := map[string]string{"train_windows": "72"}
	steady := func(i int) []source.Row {
		rows := scanRows(nil, "monitoring", prober, "wep", 0, 45)
		if i >= 76 {
			rows = scanRows(rows, "shop", "cart-*", "wep", 100+(i-76)*20, 20) // a slow sweep across the restart
		}
		return rows
	}
	d := newTestDetector(t, "ip_sweep", params)
	judgeSeq(d, testWindow, 80, steady)
	var saved bytes.Buffer
	if err := d.(Persistent).SaveModel(&saved); err != nil {
		t.Fatal(err)
	}
	file := saved.Bytes()

	restarted := newTestDetector(t, "ip_sweep", params)
	if err := restarted.(Persistent).LoadModel(bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	if !restarted.Ready() {
		t.Fatal("a loaded model is not ready")
	}
	if restarted.(HistoryLearner).WantsHistory() || !newTestDetector(t, "ip_sweep", nil).(HistoryLearner).WantsHistory() {
		t.Error("history wanted by a loaded model, or not by an empty one")
	}
	next := source.Window{Start: testWindow.Start.Add(80 * 5 * 60e9), End: testWindow.Start.Add(81 * 5 * 60e9)}
	after := judgeSeq(restarted, next, 3, func(i int) []source.Row { return steady(80 + i) })
	fresh := judgeSeq(newTestDetector(t, "ip_sweep", params), testWindow, 83, steady)[80:]
	for i := range after {
		for _, wl := range []string{"cart-*", prober} {
			if a, f := after[i][wl], fresh[i][wl]; a.Score != f.Score || a.Summary != f.Summary {
				t.Errorf("window %d after the restart: %q (score %v), without a restart %q (score %v)", i, a.Summary, a.Score, f.Summary, f.Score)
			}
		}
		if after[i][prober].Anomalous() {
			t.Errorf("window %d after the restart: the learned prober is flagged: %s", i, after[i][prober].Summary)
		}
	}
	if !after[2]["cart-*"].Anomalous() {
		t.Errorf("the slow sweep across the restart was not found: %s", after[2]["cart-*"].Summary)
	}

	for _, tc := range []struct {
		name   string
		file   []byte
		loader string
	}{
		{"a flipped byte fails the checksum", flip(file, len(file)/2), "ip_sweep"},
		{"a truncated file", file[:len(file)-9], "ip_sweep"},
		{"another detector's model", file, "port_scan"},
		{"not a model", []byte("{}"), "ip_sweep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(t, tc.loader, params)
			err := d.(Persistent).LoadModel(bytes.NewReader(tc.file))
			if err == nil || !errors.Is(err, errModelFile) || !strings.Contains(err.Error(), tc.loader) {
				t.Errorf("error %v, want an unusable-model error naming %s", err, tc.loader)
			}
			if d.Ready() {
				t.Error("a refused model left the detector ready")
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0x20
	return out
}

// BenchmarkScanJudge judges a window of 300 workloads reaching a few
// ports each, a learned prober reaching 45 and one scanner reaching 600,
// after seven hours of such windows (every history is in use).
func BenchmarkScanJudge(b *testing.B) {
	for _, name := range []string{"port_scan", "ip_sweep"} {
		b.Run(name, func(b *testing.B) {
			info, _ := Lookup(name)
			d, err := info.New(Options{Cluster: "c1"})
			if err != nil {
				b.Fatal(err)
			}
			var rows []source.Row
			for i := range 300 {
				rows = scanRows(rows, "team", fmt.Sprintf("app-%d-*", i), "wep", i%7, 3+i%4)
			}
			rows = scanRows(rows, "monitoring", "prober-*", "wep", 0, 45)
			rows = scanRows(rows, "shop", "scanner-*", "wep", 1, 600)
			w := testWindow
			next := func() {
				w = source.Window{Start: w.End, End: w.End.Add(5 * time.Minute)}
			}
			for range 84 {
				d.Judge(w, [][]source.Row{rows, nil})
				next()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				d.Judge(w, [][]source.Row{rows, nil})
				next()
			}
		})
	}
}

// FuzzScanLoadModel feeds model files with any body behind a valid
// envelope: LoadModel refuses or accepts them, and an accepted model
// judges and saves without failing.
func FuzzScanLoadModel(f *testing.F) {
	d := newFuzzScan(f)
	judgeSeq(d, testWindow, 5, func(i int) []source.Row {
		return scanRows(scanRows(nil, "monitoring", "prober-*", "wep", 0, 40), "-", "pub", "net", i*10, 10)
	})
	var saved bytes.Buffer
	if err := d.(Persistent).SaveModel(&saved); err != nil {
		f.Fatal(err)
	}
	_, parts, err := readModelFile(bytes.NewReader(saved.Bytes()), "ip_sweep", 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(parts[0])
	f.Add([]byte(`{"format":1,"history":{"k":{"fast":[],"slow":[],"next":0,"seen":99}}}`))
	f.Add([]byte(`{"format":1,"recent":[{"entity":{},"slots":[{"start":1,"hashes":[3,2]}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var file bytes.Buffer
		if err := writeModelFile(&file, "ip_sweep", 7, body); err != nil {
			t.Fatal(err)
		}
		d := newFuzzScan(t)
		if err := d.(Persistent).LoadModel(&file); err != nil {
			return
		}
		next := source.Window{Start: testWindow.Start.Add(time.Hour), End: testWindow.Start.Add(time.Hour + 5*time.Minute)}
		for _, v := range d.Judge(next, [][]source.Row{scanRows(nil, "monitoring", "prober-*", "wep", 0, 40), nil}) {
			if !(v.Score >= 0 && v.Score <= 1) {
				t.Fatalf("score %v from a loaded model", v.Score)
			}
		}
		if err := d.(Persistent).SaveModel(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
}

func newFuzzScan(tb testing.TB) Detector {
	info, _ := Lookup("ip_sweep")
	d, err := info.New(Options{Cluster: "c1", Params: map[string]string{"min_history_windows": "1"}})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}
