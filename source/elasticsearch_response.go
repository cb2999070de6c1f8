package source

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// tookField is what every search answer starts with: the time the search
// took inside Elasticsearch, in milliseconds, whether it timed out, and
// how many shards answered.
type tookField struct {
	Took     int64         `json:"took"`
	TimedOut bool          `json:"timed_out"`
	Shards   *shardsHeader `json:"_shards"`
}

type shardsHeader struct {
	Total    int `json:"total"`
	Failed   int `json:"failed"`
	Failures []struct {
		Index  string     `json:"index"`
		Reason errorCause `json:"reason"`
	} `json:"failures"`
}

func (t tookField) tookMillis() int64 { return t.Took }

// AnswerError is a 2xx answer of Elasticsearch that cannot be trusted: it
// lacks what the request asks for, or says that shards failed or the
// search timed out, so its counts would be a silent hole.
type AnswerError struct {
	Problem string
}

func (e *AnswerError) Error() string { return "unusable answer: " + e.Problem }

// checkSearch refuses a search answer without its _shards header, that
// timed out or lost shards, or that searched shards (an empty index set
// answers no aggregations) without returning each of aggs (present says
// which were).
func (t tookField) checkSearch(aggs map[string]bool) error {
	switch {
	case t.Shards == nil:
		return &AnswerError{Problem: "no _shards: not the answer of a search (a proxy, or an empty {} body?)"}
	case t.TimedOut:
		return &AnswerError{Problem: "timed_out is true: the counts are partial"}
	case t.Shards.Failed > 0:
		p := fmt.Sprintf("%d of %d shards failed", t.Shards.Failed, t.Shards.Total)
		if len(t.Shards.Failures) > 0 {
			f := t.Shards.Failures[0]
			p += fmt.Sprintf(" (first: index %s: %s: %s)", f.Index, f.Reason.Type, f.Reason.Reason)
		}
		return &AnswerError{Problem: p + ": the counts are partial"}
	}
	if t.Shards.Total == 0 {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(aggs)) {
		if !aggs[name] {
			return &AnswerError{Problem: fmt.Sprintf("no aggregations.%s although %d shards were searched", name, t.Shards.Total)}
		}
	}
	return nil
}

// countResponse is the answer to Count's search.
type countResponse struct {
	tookField
	Hits *struct {
		Total *struct {
			Value int64 `json:"value"`
		} `json:"total"`
	} `json:"hits"`
	Aggregations struct {
		Malformed *struct {
			DocCount int64 `json:"doc_count"`
		} `json:"malformed"`
	} `json:"aggregations"`
}

func (r *countResponse) check() error {
	if err := r.checkSearch(map[string]bool{"malformed": r.Aggregations.Malformed != nil}); err != nil {
		return err
	}
	if r.Hits == nil || r.Hits.Total == nil {
		return &AnswerError{Problem: "no hits.total (was track_total_hits dropped?)"}
	}
	return nil
}

// counts is what the answer counted (zero when no shard was searched).
func (r *countResponse) counts() Counts {
	var c Counts
	if r.Hits != nil && r.Hits.Total != nil {
		c.Records = r.Hits.Total.Value
	}
	if r.Aggregations.Malformed != nil {
		c.Malformed = r.Aggregations.Malformed.DocCount
	}
	return c
}

// samplesResponse is the answer to Samples' search.
type samplesResponse struct {
	tookField
	Hits *struct {
		Hits []struct {
			Source json.RawMessage `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
}

func (r *samplesResponse) check() error {
	if err := r.checkSearch(nil); err != nil {
		return err
	}
	if r.Hits == nil {
		return &AnswerError{Problem: "no hits"}
	}
	return nil
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
