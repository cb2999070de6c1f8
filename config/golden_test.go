package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var detectorSettingsList = regexp.MustCompile(`(\.settings: unknown key "[^"]*") \(want one of: [^)]*\)`)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from what the code produces")

// badParsers parse one broken file of each kind, chosen by its name's
// prefix under testdata/bad.
var badParsers = map[string]func(path string, data []byte) error{
	"globalalert-": func(path string, data []byte) error {
		_, err := ParseGlobalAlerts(path, data)
		return err
	},
	"file-": func(path string, data []byte) error {
		_, err := ParseFile(path, data)
		return err
	},
	// NAME=value lines, as in a Deployment's env block.
	"env-": func(path string, data []byte) error {
		vars := map[string]string{}
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
		_, err := ReadEnv(envOf(vars))
		return err
	},
}

// TestBadFilesGolden parses every broken file under testdata/bad and
// compares the error with its .golden file (go test -update rewrites them).
func TestBadFilesGolden(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "bad", "*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range paths {
		if strings.HasSuffix(path, ".golden") {
			continue
		}
		base := filepath.Base(path)
		var parse func(string, []byte) error
		for prefix, p := range badParsers {
			if strings.HasPrefix(base, prefix) {
				parse = p
			}
		}
		if parse == nil {
			t.Errorf("%s: no parser for this file name (want a prefix of %v)", path, keys(badParsers))
			continue
		}
		n++
		t.Run(base, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			perr := parse(filepath.ToSlash(path), data)
			if perr == nil {
				t.Fatalf("%s parsed without error", path)
			}
			// Detectors are added all the time: the list of known ones
			// is not part of what the golden files pin down.
			msg := strings.ReplaceAll(perr.Error(), strings.Join(registeredNames(), ","), "<registered detectors>")
			// Nor are the settings each detector has.
			msg = detectorSettingsList.ReplaceAllString(msg, "$1 (want one of: <the detector's settings>)")
			got := []byte(msg + "\n")
			golden := strings.TrimSuffix(path, filepath.Ext(path)) + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("error of %s:\n%s\nwant (%s):\n%s", path, got, golden, want)
			}
		})
	}
	if n == 0 {
		t.Fatal("no broken files under testdata/bad")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
