//go:build integration

package testbed

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestServersAreTheRealOnes asks each server of the test bed for its
// version through its own API.
func TestServersAreTheRealOnes(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		version func(body map[string]any) string
		want    string
	}{
		{"Elasticsearch", ElasticsearchURL(t) + "/_nodes/_local?filter_path=nodes.*.version", func(b map[string]any) string {
			for _, n := range asMap(b["nodes"]) {
				return str(asMap(n)["version"])
			}
			return ""
		}, "8.19."},
		{"Prometheus", PrometheusURL(t) + "/api/v1/status/buildinfo", func(b map[string]any) string {
			return str(asMap(b["data"])["version"])
		}, "2.42."},
		{"Alertmanager", AlertmanagerURL(t) + "/api/v2/status", func(b map[string]any) string {
			return str(asMap(b["versionInfo"])["version"])
		}, "0.25."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(tc.url)
			if err != nil {
				t.Fatalf("%s unreachable: %v", tc.name, err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("%s answered %s with no JSON: %v", tc.name, resp.Status, err)
			}
			if got := tc.version(body); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("%s version %q, want %s*", tc.name, got, tc.want)
			}
		})
	}
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func str(v any) string           { s, _ := v.(string); return s }
