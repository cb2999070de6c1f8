package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func TestReadyOnceEveryEngineScoredItsFirstWindow(t *testing.T) {
	r := newReadiness(2)
	a, b := r.sink(), r.sink()
	probe := func() (int, string) {
		rec := httptest.NewRecorder()
		r.ready(rec, httptest.NewRequest(http.MethodGet, "/-/ready", nil))
		return rec.Code, rec.Body.String()
	}
	steps := []struct {
		name    string
		deliver *firstWindow
		want    int
		body    string
	}{
		{"both engines still learning", nil, http.StatusServiceUnavailable, "2 of 2"},
		{"one engine scored its first window", a, http.StatusServiceUnavailable, "1 of 2"},
		{"the same engine's next window changes nothing", a, http.StatusServiceUnavailable, "1 of 2"},
		{"both engines scored a window", b, http.StatusOK, "ready"},
	}
	for _, s := range steps {
		if s.deliver != nil {
			s.deliver.Deliver(context.Background(), source.Window{}, nil)
		}
		code, body := probe()
		if code != s.want || !strings.Contains(body, s.body) {
			t.Errorf("%s: %d %q, want %d with %q", s.name, code, body, s.want, s.body)
		}
	}
}
