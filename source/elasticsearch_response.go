package source

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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
