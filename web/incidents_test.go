package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/feedback"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/incident"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
)

// incidentBed is pages over a tracker and a feedback store fed like the
// engine feeds them.
type incidentBed struct {
	pages   *Pages
	tracker *incident.Tracker
	store   *feedback.Store
	h       *History
	board   *scoreboard.Scoreboard
}

func newIncidentBed(t *testing.T) *incidentBed {
	t.Helper()
	b := &incidentBed{h: NewHistory(48, 0), board: scoreboard.New(0)}
	var err error
	now := func() time.Time { return window(10).End }
	if b.store, err = feedback.New("", 24*time.Hour, now); err != nil {
		t.Fatal(err)
	}
	policy := notify.Policy{Severity: 40, DetectorSeverity: map[string]int{"port_scan": 80}, Expected: b.store.Expected}
	if b.tracker, err = incident.New(incident.Config{Policy: func() notify.Policy { return policy }}); err != nil {
		t.Fatal(err)
	}
	b.pages = New(Config{Name: "cae", Now: now, Incidents: b.tracker, Feedback: b.store}, b.board, b.h)
	return b
}

func (b *incidentBed) deliver(i int, vs ...detect.Verdict) {
	w := window(i)
	for j := range vs {
		vs[j].Window = w
	}
	b.h.Deliver(context.Background(), w, vs)
	b.tracker.Deliver(context.Background(), w, vs)
}

func scanVerdict(workload string, score float64) detect.Verdict {
	v := verdict("port_scan", "shop", workload, score)
	v.Observed, v.Expected = 602, 500
	v.Evidence = map[string][]json.RawMessage{"flows": {
		json.RawMessage(`{"start_time":1795946400,"dest_ip":"10.0.0.7","dest_port":22,"proto":"tcp","action":"deny"}`),
		json.RawMessage(`{"start_time":1795946400,"dest_ip":"10.0.0.7","dest_port":23,"proto":"tcp","action":"deny"}`),
	}}
	return v
}

func TestStatusPageLeadsWithIncidentsRankedBySeverityThenPeak(t *testing.T) {
	b := newIncidentBed(t)
	gf := verdict("generic_flows", "shop", "cart-*", 0.95)
	b.deliver(0, scanVerdict("frontend-*", 0.546), verdict("generic_flows", "shop", "frontend-*", 0.9), gf)
	b.deliver(1, scanVerdict("frontend-*", 0.6), verdict("generic_flows", "shop", "old-*", 0.7))
	b.deliver(2, scanVerdict("frontend-*", 0.7))
	code, body := get(t, b.pages, "/")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	open := body[strings.Index(body, `id="open-incidents"`):]
	open = open[:strings.Index(open, "</table>")]
	if got := strings.Count(open, `<tr class="incident`); got != 1 {
		t.Errorf("%d open incidents listed, want 1 (frontend: one incident across port_scan and generic_flows)", got)
	}
	if !strings.Contains(open, "frontend-* (pods) in namespace shop") || !strings.Contains(open, "generic_flows, port_scan") || !strings.Contains(open, "critical") {
		t.Errorf("the open incident lacks its workload, detectors or severity:\n%s", open)
	}
	if i, j := strings.Index(body, `id="open-incidents"`), strings.Index(body, `id="anomalies"`); i < 0 || j < 0 || i > j {
		t.Errorf("the page does not lead with incidents")
	}
	resolved := body[strings.Index(body, `id="resolved-incidents"`):]
	if !strings.Contains(resolved, "cart-*") || !strings.Contains(resolved, "old-*") {
		t.Errorf("resolved incidents missing")
	}
}

func TestIncidentPageShowsEvidenceUnitsAndAxes(t *testing.T) {
	b := newIncidentBed(t)
	for i := 0; i < 6; i++ {
		b.deliver(i, scanVerdict("frontend-*", 0.1))
	}
	b.deliver(6, scanVerdict("frontend-*", 0.546))
	in, ok := b.tracker.OpenFor(scanVerdict("frontend-*", 0).Entity)
	if !ok {
		t.Fatal("no incident")
	}
	code, body := get(t, b.pages, incidentLink(in.ID))
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	for _, want := range []string{
		"602 ports", "500 ports", // observed and expected in their unit
		"threshold 0.50",            // the threshold labelled on the chart
		`class="xlabel"`, ">10:05<", // a wall-clock time axis
		`class="anomalous"`,                 // the anomalous window marked
		"2 destination ports: 22, 23",       // what the scan probed
		"1 destination addresses: 10.0.0.7", //
		"2026-11-29 10:00:00",               // readable record times
		"<dt>spreads</dt>", `id="mark-expected"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("incident page lacks %q", want)
		}
	}
	rec := httptest.NewRecorder()
	b.pages.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/incident?cluster=c1&namespace=shop&workload=frontend-*", nil))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != incidentLink(in.ID) {
		t.Errorf("a link by workload answers %d to %q, want its incident", rec.Code, rec.Header().Get("Location"))
	}
	if code, _ := get(t, b.pages, "/incident?id=nope"); code != http.StatusNotFound {
		t.Errorf("an unknown incident answers %d, want 404", code)
	}
}

func post(t *testing.T, h http.Handler, form url.Values, user string, headers map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/incident/feedback", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, "secret")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestMarkingAnIncidentExpectedAndUndoingIt(t *testing.T) {
	b := newIncidentBed(t)
	b.deliver(0, scanVerdict("frontend-*", 0.8))
	in, _ := b.tracker.OpenFor(scanVerdict("frontend-*", 0).Entity)

	if res := post(t, b.pages, url.Values{"incident": {in.ID}, "action": {"expected"}}, "alice", map[string]string{"Sec-Fetch-Site": "cross-site"}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site form answered %d, want 403", res.StatusCode)
	}
	res := post(t, b.pages, url.Values{"incident": {in.ID}, "action": {"expected"}, "comment": {"<b>nightly</b> inventory scan"}}, "alice", nil)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), incidentLink(in.ID)) {
		t.Fatalf("mark: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// The next window's scan no longer alerts: the incident resolves.
	b.deliver(1, scanVerdict("frontend-*", 0.8))
	if _, ok := b.tracker.OpenFor(scanVerdict("frontend-*", 0).Entity); ok {
		t.Errorf("the incident is still open after it was marked expected")
	}
	_, body := get(t, b.pages, incidentLink(in.ID))
	for _, want := range []string{"marked expected", "alice", "&lt;b&gt;nightly&lt;/b&gt; inventory scan", `name="action" value="undo"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the incident page lacks %q after the mark", want)
		}
	}
	decisions := b.store.ForIncident(in.ID)
	if len(decisions) != 1 {
		t.Fatalf("decisions %+v", decisions)
	}
	res = post(t, b.pages, url.Values{"incident": {in.ID}, "action": {"undo"}, "decision": {decisions[0].ID}}, "bob", nil)
	if res.StatusCode != http.StatusSeeOther {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("undo: %d %s", res.StatusCode, body)
	}
	b.deliver(2, scanVerdict("frontend-*", 0.8))
	if _, ok := b.tracker.OpenFor(scanVerdict("frontend-*", 0).Entity); !ok {
		t.Errorf("after the undo the scan does not alert again")
	}
	_, body = get(t, b.pages, incidentLink(in.ID))
	if !strings.Contains(body, "undone by bob") {
		t.Errorf("the incident page does not say who undid the decision")
	}
	if res := post(t, b.pages, url.Values{"incident": {in.ID}, "action": {"nonsense"}}, "", nil); res.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown action answered %d", res.StatusCode)
	}
	rec := httptest.NewRecorder()
	b.pages.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/incident/feedback", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET of the form target answered %d, want 405", rec.Code)
	}
}

func TestIncidentPagesEscapeNamesFromLogs(t *testing.T) {
	b := newIncidentBed(t)
	v := verdict("port_scan", `ns"><img src=x onerror=alert(2)>`, `evil-<script>alert(1)</script>-*`, 0.9)
	v.Evidence = map[string][]json.RawMessage{"dns": {json.RawMessage(`{"qname":"</td><script>alert(3)</script>"}`)}}
	b.deliver(0, v)
	in, _ := b.tracker.OpenFor(v.Entity)
	for _, target := range []string{"/", incidentLink(in.ID)} {
		_, body := get(t, b.pages, target)
		for _, raw := range []string{"<script>alert", "<img src=x"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s: %q reached the page unescaped", target, raw)
			}
		}
		if !strings.Contains(body, "evil-&lt;script&gt;alert(1)&lt;/script&gt;-*") {
			t.Errorf("%s: the hostile pod name is not shown as text", target)
		}
	}
}

func TestEntitiesAreNamedInWords(t *testing.T) {
	for _, tc := range []struct {
		e    detect.Entity
		want string
	}{
		{detect.Entity{Cluster: "c1", Namespace: "shop", Workload: "frontend-*", Type: "wep"}, "frontend-* (pods) in namespace shop, cluster c1"},
		{detect.Entity{Cluster: "c1", Namespace: "-", Workload: "pub", Type: "net"}, "public internet addresses (outside the cluster), cluster c1"},
		{detect.Entity{Namespace: "-", Workload: "node-1", Type: "hep"}, "node-1 (host, outside any namespace)"},
		{detect.Entity{Namespace: "shop", Workload: "*", Type: "namespace"}, "namespace shop as a whole"},
	} {
		if got := entityName(tc.e); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}
