package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// SearchHeader is what every search answer starts with: the time the
// search took inside Elasticsearch, in milliseconds, whether it timed
// out, and how many shards answered. Answer types embed it.
type SearchHeader struct {
	Took     int64         `json:"took"`
	TimedOut bool          `json:"timed_out"`
	Shards   *ShardsHeader `json:"_shards"`
}

// ShardsHeader is a search answer's _shards.
type ShardsHeader struct {
	Total    int `json:"total"`
	Failed   int `json:"failed"`
	Failures []struct {
		Index  string `json:"index"`
		Reason Cause  `json:"reason"`
	} `json:"failures"`
}

// TookMillis is the search's took.
func (h SearchHeader) TookMillis() int64 { return h.Took }

// CheckSearch refuses a search answer without its _shards header, that
// timed out or lost shards, or that searched shards (an empty index set
// answers no aggregations) without returning each of aggs (present says
// which were).
func (h SearchHeader) CheckSearch(aggs map[string]bool) error {
	switch {
	case h.Shards == nil:
		return &AnswerError{Problem: "no _shards: not the answer of a search (a proxy, or an empty {} body?)"}
	case h.TimedOut:
		return &AnswerError{Problem: "timed_out is true: the counts are partial"}
	case h.Shards.Failed > 0:
		p := fmt.Sprintf("%d of %d shards failed", h.Shards.Failed, h.Shards.Total)
		if len(h.Shards.Failures) > 0 {
			f := h.Shards.Failures[0]
			p += fmt.Sprintf(" (first: index %s: %s: %s)", f.Index, f.Reason.Type, f.Reason.Reason)
		}
		return &AnswerError{Problem: p + ": the counts are partial"}
	}
	if h.Shards.Total == 0 {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(aggs)) {
		if !aggs[name] {
			return &AnswerError{Problem: fmt.Sprintf("no aggregations.%s although %d shards were searched", name, h.Shards.Total)}
		}
	}
	return nil
}

// SearchAnswer is an answer type Search accounts for and checks: its took
// is added to the client's (Took), and an answer that does not hold what
// was asked is refused with CheckAnswer's error.
type SearchAnswer interface {
	TookMillis() int64
	CheckAnswer() error
}

// Search runs body over index (a pattern that matches no index finds
// nothing, without error) and decodes the answer into out (see Do); when
// out is a SearchAnswer, its took is counted and the answer checked.
func (c *Client) Search(ctx context.Context, what, index string, body any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	yes := true
	req := esapi.SearchRequest{
		Index:             []string{index},
		Body:              bytes.NewReader(b),
		IgnoreUnavailable: &yes,
		AllowNoIndices:    &yes,
	}
	if err := c.Do(ctx, what, req, out); err != nil || out == nil {
		return err
	}
	if a, ok := out.(SearchAnswer); ok {
		c.took.Add(a.TookMillis())
		if err := a.CheckAnswer(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// Took is the time Elasticsearch reported spending on the client's
// searches (their took, summed), since the client was made: the server's
// share of reading, without the network and the decoding.
func (c *Client) Took() time.Duration {
	return time.Duration(c.took.Load()) * time.Millisecond
}
