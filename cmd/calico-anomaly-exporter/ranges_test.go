package main

import (
	"net/http"
	"testing"
)

// FuzzTelemetryPath: any --web.telemetry-path the check accepts can be
// served beside the exporter's own pages without the mux panicking.
func FuzzTelemetryPath(f *testing.F) {
	for _, p := range []string{"/metrics", "/", "", "/config", "/debug/pprof/x", "metrics", "/a b", "/{x}", "GET /m"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if checkTelemetryPath(p) != nil {
			return
		}
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("accepted path %q panics the mux: %v", p, r)
			}
		}()
		mux := http.NewServeMux()
		mux.Handle(p, http.NotFoundHandler())
		for _, own := range []string{"/", "/config", "/-/reload", "/debug/pprof/"} {
			mux.Handle(own, http.NotFoundHandler())
		}
	})
}
