package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/backtest"
)

// TestSimulatedFilesReplayThroughTheFileSource: `simulate --output=files`
// twice with one seed writes the same bytes, and `backtest --source=file`
// on those files finds the port scan they hold.
func TestSimulatedFilesReplayThroughTheFileSource(t *testing.T) {
	bin := exporterBinary(t)
	write := func(dir string) map[string][sha256.Size]byte {
		t.Helper()
		out, err := exec.Command(bin, "simulate", "--output=files", "--dir="+dir, "--gzip", "--simulate.seed=3",
			"--from=2026-03-02T09:00:00Z", "--to=2026-03-02T12:00:00Z", "--scenario=port_scan_fast").CombinedOutput()
		if err != nil {
			t.Fatalf("simulate: %v\n%s", err, out)
		}
		sums := map[string][sha256.Size]byte{}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			sums[e.Name()] = sha256.Sum256(raw)
		}
		return sums
	}
	a, b := write(t.TempDir()), write(t.TempDir())
	if len(a) != 3 {
		t.Fatalf("files written: %v, want one per log type", a)
	}
	for name, sum := range a {
		if b[name] != sum {
			t.Errorf("%s differs between two runs with one seed", name)
		}
	}

	dir := t.TempDir()
	write(dir)
	cmd := exec.Command(bin, "backtest", "--source=file", "--file.path="+dir, "--no-detector.generic-flows", "--no-detector.time-series-flows")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("backtest: %v\n%s", err, stderr.String())
	}
	scans := 0
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var l backtest.Line
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if l.Detector == "port_scan" {
			scans++
		}
	}
	if scans == 0 {
		t.Errorf("the backtest of the files found no port scan:\n%s\n%s", stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "backtest 2026-03-02T09:00:00Z to 2026-03-02T12:") {
		t.Errorf("the backtest did not replay the files' span:\n%s", stderr.String())
	}
}
