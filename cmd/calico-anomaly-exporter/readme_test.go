package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

var update = flag.Bool("update", false, "rewrite the generated files this package checks (the README's detector tables) from their source")

const (
	readmePath       = "../../README.md"
	detectorsBegin   = "<!-- detectors: generated from the registry by make generate -->\n"
	detectorsEnd     = "<!-- detectors: end -->\n"
	maxHelpInReadmes = 400
)

// detectorTable is the README's table of every registered detector.
func detectorTable() string {
	var b strings.Builder
	b.WriteString("| detector | family | MITRE ATT&CK | log | on by default | what it looks at | settings: Calico variable (default) |\n|---|---|---|---|---|---|---|\n")
	for _, info := range detect.Registered() {
		var settings []string
		for _, p := range info.Params {
			name := "`" + p.Key + "`"
			if p.Env != "" {
				name = "`" + p.Env + "`"
			}
			def := p.Default
			if len(def) > 40 {
				def = def[:37] + "..."
			}
			settings = append(settings, fmt.Sprintf("%s (%s)", name, def))
		}
		on := "no"
		if info.DefaultEnabled {
			on = "yes"
		}
		help := strings.ReplaceAll(info.Help, "|", "/")
		if len(help) > maxHelpInReadmes {
			help = help[:maxHelpInReadmes-3] + "..."
		}
		mitre := "-"
		if info.Mitre != nil {
			mitre = strings.Join(info.Mitre.IDs, ", ") + " (" + info.Mitre.Tactic + ")"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", info.Name, info.Family, mitre, strings.Join(info.Logs, ", "), on, help, strings.Join(settings, ", "))
	}
	return b.String()
}

// TestReadmeListsEveryDetector keeps the README's detector table the
// registry's: every detector, its family, MITRE techniques, logs, default
// and settings.
func TestReadmeListsEveryDetector(t *testing.T) {
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, detectorsBegin), strings.Index(readme, detectorsEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the generated detector table markers")
	}
	want := detectorTable()
	got := readme[i+len(detectorsBegin) : j]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(readmePath, []byte(readme[:i+len(detectorsBegin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's detector table is not the registry's; run make generate")
}
