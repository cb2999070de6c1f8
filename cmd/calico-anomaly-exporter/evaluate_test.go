package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestEvaluateNABCommand runs evaluate nab on the package's small
// corpus (a rise and a silence after two learned days): the JSON names
// the rise found by the detectors and the silence by the same-hour band,
// and a bad flag or folder is refused with its reason.
func TestEvaluateNABCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("replays five days through the detectors")
	}
	cmd := exec.Command(exporterBinary(t), "evaluate", "nab", "--data=../../evaluate/nab/testdata/corpus", "--format=json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("evaluate nab: %v\n%s", err, stderr.String())
	}
	var report struct {
		Totals []struct {
			Name       string `json:"name"`
			Found      int    `json:"found"`
			Windows    int    `json:"windows"`
			DropsFound int    `json:"drops_found"`
		} `json:"totals"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	found := map[string][2]int{}
	for _, tot := range report.Totals {
		found[tot.Name] = [2]int{tot.Found, tot.DropsFound}
		if tot.Windows != 2 {
			t.Errorf("%s: %d windows judged, want 2", tot.Name, tot.Windows)
		}
	}
	if found["ours"][0] < 1 || found["hour-band>5"] != [2]int{2, 1} {
		t.Errorf("found (windows, drops): ours %v, hour band %v; want the rise by ours, both by the band", found["ours"], found["hour-band>5"])
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data=/nonexistent"}, "combined_windows.json"},
		{[]string{"--data=../../evaluate/nab/testdata/corpus", "--detectors=no_such_detector"}, "no_such_detector"},
		{[]string{"--data=../../evaluate/nab/testdata/corpus", "--series=nothing-matches*"}, "nothing-matches"},
	} {
		cmd := exec.Command(exporterBinary(t), append([]string{"evaluate", "nab"}, tc.args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("evaluate nab %v: err %v, stderr %q; want a failure naming %q", tc.args, err, stderr.String(), tc.want)
		}
	}
}

// TestEvaluateLifeCommand judges one day of the simulated cluster's
// normal life for one detector and prints its row.
func TestEvaluateLifeCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("plays three simulated days")
	}
	cmd := exec.Command(exporterBinary(t), "evaluate", "life", "--days=1", "--detectors=generic_flows")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("evaluate life: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"16 workloads", "generic_flows", "day 1 (Wed)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if err := exec.Command(exporterBinary(t), "evaluate", "life", "--from=yesterday").Run(); err == nil {
		t.Error("--from=yesterday: no error")
	}
}
