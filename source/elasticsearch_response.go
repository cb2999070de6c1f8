package source

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// tookField is the time a search took inside Elasticsearch, in
// milliseconds, as every search answer reports it.
type tookField struct {
	Took int64 `json:"took"`
}

func (t tookField) tookMillis() int64 { return t.Took }

// countResponse is the answer to Count's search.
type countResponse struct {
	tookField
	Hits struct {
		Total struct {
			Value int64 `json:"value"`
		} `json:"total"`
	} `json:"hits"`
	Aggregations struct {
		Malformed struct {
			DocCount int64 `json:"doc_count"`
		} `json:"malformed"`
	} `json:"aggregations"`
}

// samplesResponse is the answer to Samples' search.
type samplesResponse struct {
	tookField
	Hits struct {
		Hits []struct {
			Source json.RawMessage `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
}

// nodesVersionResponse is the answer to GET _nodes/_local, filtered to the
// version.
type nodesVersionResponse struct {
	Nodes map[string]struct {
		Version string `json:"version"`
	} `json:"nodes"`
}

// ElasticsearchError is an answer of Elasticsearch other than 2xx: its HTTP
// status and the error it reported.
type ElasticsearchError struct {
	Status int
	Type   string // Elasticsearch's error type, e.g. search_phase_execution_exception
	Reason string
	// Cause is the first root cause, when it says more than Reason does
	// ("all shards failed" says little).
	CauseType, CauseReason string
}

func (e *ElasticsearchError) Error() string {
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

// errorCause is Elasticsearch's error object.
type errorCause struct {
	Type      string       `json:"type"`
	Reason    string       `json:"reason"`
	RootCause []errorCause `json:"root_cause"`
	CausedBy  *errorCause  `json:"caused_by"`
}

// responseError reads an error answer: {"error": {...}, "status": n},
// {"error": "text"}, or anything else (a proxy's page), kept short.
func responseError(status int, body []byte) *ElasticsearchError {
	e := &ElasticsearchError{Status: status}
	var wrapper struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &wrapper) != nil || len(wrapper.Error) == 0 {
		e.Reason = truncateBody(body)
		return e
	}
	var cause errorCause
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
	var detail *errorCause
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
