package goldmane

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
)

// ndjson writes flows as Goldmane's emitter does: encoding/json of each
// Flow, one a line.
func ndjson(t *testing.T, flows ...*pb.Flow) []byte {
	t.Helper()
	var b bytes.Buffer
	for i, f := range flows {
		if i > 0 {
			b.WriteByte('\n')
		}
		line, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
	}
	return b.Bytes()
}

// TestEmitterPushes pushes NDJSON over real HTTP, as Goldmane's emitter
// does, and reads the pushed flows back once their window has closed.
func TestEmitterPushes(t *testing.T) {
	clock := newManualClock(time.Unix(base+20, 0))
	src, err := New(Config{Bucket: 5 * time.Minute, Lag: time.Minute, Now: clock.Now, MaxPushBytes: 4096}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(src.Handler())
	defer srv.Close()
	push := func(method string, body []byte) (int, PushResult) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+EmitterPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res PushResult
		_ = json.NewDecoder(resp.Body).Decode(&res)
		return resp.StatusCode, res
	}

	// The emitter sends time-aggregated flows; one spans a minute.
	wide := update(443, base+60, 1000)
	wide.EndTime = base + 120
	body := ndjson(t, update(5432, base, 10), update(5432, base+15, 20), wide)
	body = append(body, []byte("\n\n{\"Key\": 7}\n")...)
	code, res := push(http.MethodPost, body)
	if code != http.StatusOK || res.Accepted != 3 || res.Malformed != 1 || !strings.HasPrefix(res.Error, "line 5:") {
		t.Errorf("push: %d %+v; want 200, 3 accepted, 1 malformed named at line 5", code, res)
	}
	// Goldmane retries a push it could not deliver: the repeat is not
	// counted again.
	if code, res := push(http.MethodPost, ndjson(t, update(5432, base, 10))); code != http.StatusOK || res.Duplicate != 1 {
		t.Errorf("repeated push: %d %+v; want 200 and 1 duplicate", code, res)
	}
	if code, _ := push(http.MethodGet, nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", code)
	}
	if code, _ := push(http.MethodPost, bytes.Repeat(ndjson(t, update(1, base, 1)), 100)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a push over the bound: %d, want 413", code)
	}

	ctx := context.Background()
	w := source.Window{Start: time.Unix(base, 0), End: time.Unix(base+300, 0)}
	if _, err := src.Count(ctx, w, calicolog.Flows); err == nil {
		t.Errorf("the window was answered while still open")
	}
	clock.Advance(6 * time.Minute) // past the window's end and the lag
	rows, err := src.Aggregate(ctx, w, source.Query{Name: "b", Log: calicolog.Flows, GroupBy: []string{"dest_port"},
		Metrics: []source.Metric{{Name: "bytes_out", Kind: source.Sum, Field: "bytes_out"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(strings.ReplaceAll(fmtRows(rows), "  ", " ")); got != "443=1000 5432=30" {
		t.Errorf("bytes_out by port: %s, want 443=1000 5432=30", got)
	}
	// Before the source began (it takes pushes from the bucket still within
	// the lag), pushes give no history: empty, not an error.
	before := source.Window{Start: time.Unix(base-600, 0), End: time.Unix(base-300, 0)}
	if c, err := src.Count(ctx, before, calicolog.Flows); err != nil || c.Records != 0 {
		t.Errorf("window before the source began: %+v %v, want 0 records", c, err)
	}
	// DNS and L7 logs are not carried: zero records, and a query on them
	// is refused rather than answered empty.
	if c, err := src.Count(ctx, w, calicolog.DNS); err != nil || c.Records != 0 {
		t.Errorf("dns count: %+v %v", c, err)
	}
	if _, err := src.Aggregate(ctx, w, source.Query{Name: "q", Log: calicolog.DNS, GroupBy: []string{"qname"}}); err == nil {
		t.Errorf("a DNS query was answered")
	}
}

func fmtRows(rows []source.Row) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r.Key[0] + "=")
		b.WriteString(strings.TrimSuffix(strings.TrimSuffix(json.Number(jsonFloat(r.Values[0])).String(), ".0"), ".00"))
		b.WriteByte(' ')
	}
	return b.String()
}

func jsonFloat(v float64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
