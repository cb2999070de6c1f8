package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAutoGoMemLimit(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // under the cgroup root
		env     string            // GOMEMLIMIT
		enabled bool
		ratio   float64
		want    int64  // limit set, 0 for none
		wantErr string // part of the error
	}{
		{name: "cgroup v2 limit", files: map[string]string{"memory.max": "1073741824\n"}, enabled: true, ratio: 0.9, want: 966367641},
		{name: "cgroup v1 limit", files: map[string]string{"memory/memory.limit_in_bytes": "536870912\n"}, enabled: true, ratio: 0.5, want: 268435456},
		{name: "cgroup v2 without limit", files: map[string]string{"memory.max": "max\n"}, enabled: true, ratio: 0.9},
		{name: "cgroup v1 without limit", files: map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, enabled: true, ratio: 0.9},
		{name: "no cgroup", enabled: true, ratio: 0.9},
		{name: "GOMEMLIMIT wins", files: map[string]string{"memory.max": "1073741824"}, env: "300MiB", enabled: true, ratio: 0.9},
		{name: "disabled", files: map[string]string{"memory.max": "1073741824"}, ratio: 0.9},
		{name: "ratio above 1", files: map[string]string{"memory.max": "1073741824"}, enabled: true, ratio: 1.5, wantErr: "--auto-gomemlimit.ratio=1.5"},
		{name: "unreadable limit", files: map[string]string{"memory.max": "lots"}, enabled: true, ratio: 0.9, wantErr: `"lots" is not a number of bytes`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, text := range tc.files {
				path := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var got int64
			f := &memLimitFlags{enabled: tc.enabled, ratio: tc.ratio}
			getenv := func(k string) string {
				if k == "GOMEMLIMIT" {
					return tc.env
				}
				return ""
			}
			_, set, err := f.apply(getenv, root, func(n int64) int64 { got = n; return 0 })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || set != (tc.want != 0) {
				t.Errorf("limit set %d (set=%v), want %d", got, set, tc.want)
			}
		})
	}
}
