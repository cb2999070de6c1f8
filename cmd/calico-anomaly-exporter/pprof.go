package main

import (
	"net/http"
	"net/http/pprof"

	"github.com/alecthomas/kingpin/v2"
)

// addPprofFlag is --web.enable-pprof: Go's profiler under /debug/pprof,
// off by default (a profile shows internals and costs CPU while it runs).
func addPprofFlag(app *kingpin.Application) *bool {
	return app.Flag("web.enable-pprof", "Serve Go's runtime profiles (net/http/pprof) under /debug/pprof/, e.g. go tool pprof http://host:9925/debug/pprof/profile?seconds=30.").Default("false").Bool()
}

// servePprof registers net/http/pprof's handlers on mux.
func servePprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
