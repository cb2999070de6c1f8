package main

import (
	"net/http"
	"testing"
)

// TestPprofOnlyWithFlag: /debug/pprof is not served unless
// --web.enable-pprof is given, and is with it.
func TestPprofOnlyWithFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"off by default", nil, http.StatusNotFound},
		{"on with the flag", []string{"--web.enable-pprof"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startExporter(t, append([]string{"--source=simulated", "--train.lookback=0s"}, tc.args...)...)
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1"} {
				resp, err := http.Get(e.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("GET %s: status %d, want %d", path, resp.StatusCode, tc.want)
				}
			}
		})
	}
}
