package elastic

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// fakeNode answers like an Elasticsearch node with handle, counting the
// requests.
func fakeNode(t *testing.T, cfg Config, handle func(n int, r *http.Request) (int, string)) (*Client, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, body := handle(int(calls.Add(1))-1, r)
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	cfg.URLs = []string{srv.URL}
	cfg.Naming = calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "c1"}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = time.Millisecond
	}
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, &calls
}

func TestClientRetriesWhatMayPassAndCountsIt(t *testing.T) {
	for _, tc := range []struct {
		name        string
		statuses    []int // answered before a 200
		wantRetries uint64
		wantStatus  int // of the *Error returned; 0 for none
	}{
		{"a 503 then the answer", []int{503}, 1, 0},
		{"a 429 and a 504, then the answer", []int{429, 504}, 2, 0},
		{"a 503 past the two retries allowed fails with it", []int{503, 503, 503, 503}, 2, 503},
		{"a 400 is not retried", []int{400}, 0, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, calls := fakeNode(t, Config{MaxRetries: 2}, func(n int, _ *http.Request) (int, string) {
				if n < len(tc.statuses) {
					return tc.statuses[n], `{"error":{"type":"t","reason":"r"}}`
				}
				return 200, `{"nodes":{"n1":{"version":"8.19.7"}}}`
			})
			v, err := c.Version(context.Background())
			var ee *Error
			switch {
			case tc.wantStatus == 0 && (err != nil || v != "8.19.7"):
				t.Fatalf("Version() = %q, %v; want 8.19.7", v, err)
			case tc.wantStatus != 0 && (!errors.As(err, &ee) || ee.Status != tc.wantStatus || !strings.Contains(err.Error(), "node version")):
				t.Fatalf("error %v, want an *Error of status %d naming what was asked", err, tc.wantStatus)
			}
			if c.Retries() != tc.wantRetries {
				t.Errorf("Retries() = %d, want %d", c.Retries(), tc.wantRetries)
			}
			if got, want := calls.Load(), int64(tc.wantRetries)+1; got != want {
				t.Errorf("%d requests, want %d", got, want)
			}
		})
	}
}

func TestTheLastAttemptIsNeitherWaitedNorCounted(t *testing.T) {
	c, err := New(Config{URLs: []string{"http://127.0.0.1:1"}, Naming: calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "c1"},
		MaxRetries: 3, RetryBackoff: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for attempt, limit := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		if w := c.retryWait(attempt + 1); w < limit/2 || w > limit {
			t.Errorf("wait before retry %d = %v, want within [%v, %v]", attempt+1, w, limit/2, limit)
		}
	}
	if w := c.retryWait(4); w != 0 {
		t.Errorf("wait after the last attempt = %v, want 0", w)
	}
	if c.Retries() != 3 {
		t.Errorf("Retries() = %d, want 3", c.Retries())
	}
}

func TestCredentialsInTheURLBecomeBasicAuth(t *testing.T) {
	c, err := New(Config{URLs: []string{"https://reader:s3cret-pw@es.example:9200"}, Naming: calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "c1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.Config()
	if cfg.Username != "reader" || cfg.Password != "s3cret-pw" {
		t.Errorf("user %q password %q, want the URL's", cfg.Username, cfg.Password)
	}
	if strings.Contains(c.Addresses(), "s3cret") || strings.Contains(c.Addresses(), "reader") {
		t.Errorf("addresses %q still hold the credentials", c.Addresses())
	}
}
