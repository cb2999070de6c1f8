package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
