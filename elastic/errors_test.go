package elastic

import (
	"strings"
	"testing"
)

func TestErrorAnswersReadAsErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   Error
		text   string
	}{
		{
			name: "an error object with a root cause that says more", status: 400,
			body: `{"error":{"root_cause":[{"type":"query_shard_exception","reason":"bad ip"}],"type":"search_phase_execution_exception","reason":"all shards failed"},"status":400}`,
			want: Error{Status: 400, Type: "search_phase_execution_exception", Reason: "all shards failed", CauseType: "query_shard_exception", CauseReason: "bad ip"},
			text: "HTTP 400 Bad Request: search_phase_execution_exception: all shards failed (caused by query_shard_exception: bad ip)",
		},
		{
			name: "a root cause that repeats the error is left out", status: 404,
			body: `{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index"}],"type":"index_not_found_exception","reason":"no such index"},"status":404}`,
			want: Error{Status: 404, Type: "index_not_found_exception", Reason: "no such index"},
			text: "HTTP 404 Not Found: index_not_found_exception: no such index",
		},
		{
			name: "a caused_by chain without a root cause", status: 500,
			body: `{"error":{"type":"x","reason":"outer","caused_by":{"type":"y","reason":"inner"}}}`,
			want: Error{Status: 500, Type: "x", Reason: "outer", CauseType: "y", CauseReason: "inner"},
			text: "HTTP 500 Internal Server Error: x: outer (caused by y: inner)",
		},
		{
			name: "an error given as text", status: 401, body: `{"error":"missing authentication credentials"}`,
			want: Error{Status: 401, Reason: "missing authentication credentials"},
			text: "HTTP 401 Unauthorized: missing authentication credentials",
		},
		{
			name: "a proxy's page is quoted with its white space folded", status: 502, body: "<html>\n  <body>Bad gateway</body>\n</html>",
			want: Error{Status: 502, Reason: "<html> <body>Bad gateway</body> </html>"},
			text: "HTTP 502 Bad Gateway: <html> <body>Bad gateway</body> </html>",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := responseError(tc.status, []byte(tc.body))
			if *got != tc.want {
				t.Errorf("responseError = %+v, want %+v", *got, tc.want)
			}
			if got.Error() != tc.text {
				t.Errorf("Error() = %q, want %q", got.Error(), tc.text)
			}
		})
	}
}

func TestALongErrorPageIsCut(t *testing.T) {
	got := responseError(503, []byte(strings.Repeat("overloaded ", 100)))
	if n := len([]rune(got.Reason)); n != 301 || !strings.HasSuffix(got.Reason, "…") {
		t.Errorf("reason of %d characters %q, want 300 and an ellipsis", n, got.Reason)
	}
}
