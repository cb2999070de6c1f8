package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzFeedbackForm posts arbitrary bodies to the feedback form: the
// handler answers a redirect or a 4xx, never a 5xx or a panic, and
// whatever it records is shown escaped.
func FuzzFeedbackForm(f *testing.F) {
	for _, seed := range []string{
		"incident=%s&action=expected&comment=nightly",
		"incident=%s&action=undo&decision=nope",
		"incident=%s&action=expected&comment=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
		"incident=&action=",
		"%zz",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		b := newIncidentBed(t)
		b.deliver(0, scanVerdict("frontend-*", 0.8))
		in, _ := b.tracker.OpenFor(scanVerdict("frontend-*", 0).Entity)
		body = strings.ReplaceAll(body, "%s", in.ID)
		req := httptest.NewRequest(http.MethodPost, "/incident/feedback", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		b.pages.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: status %d: %s", body, rec.Code, rec.Body.String())
		}
		_, page := get(t, b.pages, incidentLink(in.ID))
		if strings.Contains(page, "<script>alert") {
			t.Fatalf("%q: a comment reached the page unescaped", body)
		}
	})
}
