// Package esnode is an Elasticsearch node for unit tests: an HTTP server
// that answers each request as the test says, sends the headers
// go-elasticsearch v8 insists on, and records what it received. Tests of
// the packages that talk to Elasticsearch (elastic, source) use it where
// the answer matters more than the server; the integration tests use the
// real one of the test bed.
package esnode

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Request is one request the node received.
type Request struct {
	Method, Path string
	Query        map[string][]string
	Body         map[string]any // nil when the body is not a JSON object
}

// Answer is what the node answers to the n-th request (from 0).
type Answer func(t *testing.T, n int, req Request) (status int, body []byte)

// Start serves answer until the test ends, and returns the node's URL and
// a function listing the requests received so far. A body that is not a
// JSON object fails the test, except on _bulk (NDJSON).
func Start(t *testing.T, answer Answer) (url string, requests func() []Request) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []Request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()}
		if err := json.Unmarshal(raw, &req.Body); err != nil && len(raw) > 0 && r.URL.Path != "/_bulk" {
			t.Errorf("%s %s: body is not a JSON object: %v", r.Method, r.URL.Path, err)
		}
		mu.Lock()
		n := len(reqs)
		reqs = append(reqs, req)
		mu.Unlock()
		status, body := answer(t, n, req)
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []Request {
		mu.Lock()
		defer mu.Unlock()
		return append([]Request(nil), reqs...)
	}
}
