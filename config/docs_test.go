package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// TestDocumentedExamplesParse keeps docs/configuration.md honest: its
// GlobalAlert and configuration file examples parse.
func TestDocumentedExamplesParse(t *testing.T) {
	path := filepath.Join("..", "docs", "configuration.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, part := range strings.Split(string(data), "```yaml\n")[1:] {
		block, _, ok := strings.Cut(part, "```")
		if !ok {
			t.Fatalf("%s: unterminated yaml block", path)
		}
		blocks = append(blocks, block)
	}
	if len(blocks) != 2 {
		t.Fatalf("%s has %d yaml blocks, want 2 (a GlobalAlert, a configuration file)", path, len(blocks))
	}
	g, err := ParseGlobalAlerts(path, []byte(blocks[0]))
	if err != nil || len(g.Alerts) != 1 {
		t.Errorf("GlobalAlert example: %+v, %v", g, err)
	}
	if _, err := ParseFile(path, []byte(blocks[1])); err != nil {
		t.Errorf("configuration example: %v", err)
	}
}

// TestCompatibilityDocListsEveryCalicoSetting keeps
// docs/calico-compatibility.md whole: every variable ReadEnv reads or
// accepts is in it.
func TestCompatibilityDocListsEveryCalicoSetting(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docs", "calico-compatibility.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	names := map[string]bool{}
	for _, v := range Vars {
		names[v.Name] = true
	}
	for _, info := range detect.Registered() {
		for _, p := range info.Params {
			if p.Env != "" {
				names[p.Env] = true
			}
		}
		if !strings.Contains(doc, info.Name) {
			t.Errorf("detector %s is not in the events table", info.Name)
		}
	}
	for name := range calicoAliases {
		names[name] = true
	}
	for name := range calicoNoEffect {
		names[name] = true
	}
	for name := range names {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("%s is not in docs/calico-compatibility.md", name)
		}
	}
}
