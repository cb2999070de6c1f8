package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/backtest"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
)

// TestBacktestFindsTheLibraryScenarios replays a simulated day with
// every scenario of the library in it: the JSON lines name the
// attacks as true positives, the table has a row per detector, and normal
// traffic raises no false positive.
func TestBacktestFindsTheLibraryScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("replays four simulated days")
	}
	cmd := exec.Command(exporterBinary(t), "backtest", "--source=simulated", "--days=1", "--train.lookback=72h",
		"--to=2026-03-09T00:00:00Z", "--scenario=all", "--detector.bytes-in", "--detector.bytes-out", "--detector.process-bytes")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("backtest: %v\n%s", err, stderr.String())
	}
	truth := map[string]int{}
	detectors := map[string]bool{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var l backtest.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("verdict line %q: %v", sc.Text(), err)
		}
		if !l.Anomalous || l.Score < l.Threshold {
			t.Errorf("a verdict below its threshold was written without --all-verdicts: %+v", l)
		}
		truth[l.Truth]++
		if l.Truth == "false_positive" {
			t.Logf("false positive: %s", sc.Text())
		}
		if l.Truth == "true_positive" {
			detectors[l.Detector] = true
		}
	}
	// Every detector a library scenario names finds at least one of its
	// attacks; each detector's own tests hold it to its windows. Here every
	// scenario hits the same few workloads in one day: the DNS attacks slow
	// shop/cart's lookups hours before its latency degradation, dns_latency
	// flags that (counted as related), and its rule of alerting once for
	// an oddity a workload already showed within a day holds back the
	// second. Its own test plays the degradation alone.
	holdsBack := map[string]bool{"dns_latency": true}
	for _, spec := range simulate.ScenarioLibrary() {
		for _, d := range spec.Detectors {
			if !detectors[d] && !holdsBack[d] {
				t.Errorf("%s found none of its library scenarios (%s among them)", d, spec.Name)
			}
		}
	}
	if truth["false_positive"] != 0 {
		t.Errorf("%d false positives on the simulated days", truth["false_positive"])
	}
	table := stderr.String()
	for _, d := range []string{"port_scan", "ip_sweep", "generic_flows", "all"} {
		if !regexp.MustCompile(`(?m)^\s*` + d + `\s+\d+`).MatchString(table) {
			t.Errorf("the summary table has no row for %s:\n%s", d, table)
		}
	}
	t.Logf("verdict lines by truth: %v\n%s", truth, table)
}

// TestBacktestRefusesABadSpan names the flag at fault.
func TestBacktestRefusesABadSpan(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--to=yesterday"}, "--to=yesterday"},
		{[]string{"--from=2026-03-09T00:00:00Z", "--to=2026-03-02T00:00:00Z"}, "is not before"},
		{[]string{"--days=0"}, "--days=0"},
		{[]string{"--scenario=no_such"}, "no_such"},
		{[]string{"--source.concurrency=0"}, "--source.concurrency"},
	} {
		cmd := exec.Command(exporterBinary(t), append([]string{"backtest", "--source=simulated"}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: err %v, output %q; want a failure naming %q", tc.args, err, out, tc.want)
		}
	}
}

// TestBacktestVerdictsDoNotDependOnConcurrency replays simulated hours with
// every library attack, asking the source one query at a time and several
// at once: every verdict line is the same.
func TestBacktestVerdictsDoNotDependOnConcurrency(t *testing.T) {
	replay := func(concurrency string) []byte {
		cmd := exec.Command(exporterBinary(t), "backtest", "--source=simulated", "--from=2026-03-02T10:00:00Z", "--to=2026-03-02T14:00:00Z",
			"--scenario=all", "--all-verdicts", "--detector.bytes-in", "--detector.bytes-out", "--detector.process-bytes", "--source.concurrency="+concurrency)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("backtest --source.concurrency=%s: %v\n%s", concurrency, err, stderr.String())
		}
		return stdout.Bytes()
	}
	sequential := replay("1")
	if bytes.Count(sequential, []byte("\n")) < 100 {
		t.Fatalf("only %d verdict lines: the comparison would prove little", bytes.Count(sequential, []byte("\n")))
	}
	for _, c := range []string{"2", "5"} {
		if got := replay(c); !bytes.Equal(got, sequential) {
			t.Errorf("--source.concurrency=%s: %d bytes of verdict lines differ from the sequential replay's %d", c, len(got), len(sequential))
		}
	}
}
