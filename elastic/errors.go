package elastic

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Error is an answer of Elasticsearch other than 2xx: its HTTP status and
// the error it reported.
type Error struct {
	Status int
	Type   string // Elasticsearch's error type, e.g. search_phase_execution_exception
	Reason string
	// Cause is the first root cause, when it says more than Reason does
	// ("all shards failed" says little).
	CauseType, CauseReason string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d %s", e.Status, http.StatusText(e.Status))
	if e.Type != "" {
		fmt.Fprintf(&b, ": %s: %s", e.Type, e.Reason)
	} else if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	if e.CauseType != "" {
		fmt.Fprintf(&b, " (caused by %s: %s)", e.CauseType, e.CauseReason)
	}
	return b.String()
}

// AnswerError is an answer of Elasticsearch that cannot be trusted: longer
// than the client reads, or a 2xx that lacks what the request asks for or
// says that shards failed or the search timed out, so its counts would be
// a silent hole.
type AnswerError struct {
	Problem string
}

func (e *AnswerError) Error() string { return "unusable answer: " + e.Problem }

// Cause is Elasticsearch's error object, as error answers and shard
// failures carry it.
type Cause struct {
	Type      string  `json:"type"`
	Reason    string  `json:"reason"`
	RootCause []Cause `json:"root_cause"`
	CausedBy  *Cause  `json:"caused_by"`
}

// responseError reads an error answer: {"error": {...}, "status": n},
// {"error": "text"}, or anything else (a proxy's page), kept short.
func responseError(status int, body []byte) *Error {
	e := &Error{Status: status}
	var wrapper struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &wrapper) != nil || len(wrapper.Error) == 0 {
		e.Reason = truncateBody(body)
		return e
	}
	var cause Cause
	if json.Unmarshal(wrapper.Error, &cause) != nil {
		var text string
		if json.Unmarshal(wrapper.Error, &text) == nil {
			e.Reason = truncateBody([]byte(text))
		} else {
			e.Reason = truncateBody(wrapper.Error)
		}
		return e
	}
	e.Type, e.Reason = cause.Type, cause.Reason
	var detail *Cause
	switch {
	case len(cause.RootCause) > 0:
		detail = &cause.RootCause[0]
	case cause.CausedBy != nil:
		detail = cause.CausedBy
	}
	if detail != nil && (detail.Type != cause.Type || detail.Reason != cause.Reason) {
		e.CauseType, e.CauseReason = detail.Type, detail.Reason
	}
	return e
}

func truncateBody(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
