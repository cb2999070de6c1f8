package source

import (
	"encoding/json"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/elastic"
)

// countResponse is the answer to Count's search.
type countResponse struct {
	elastic.SearchHeader
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

// CheckAnswer implements elastic.SearchAnswer.
func (r *countResponse) CheckAnswer() error {
	if err := r.CheckSearch(map[string]bool{"malformed": r.Aggregations.Malformed != nil}); err != nil {
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
	elastic.SearchHeader
	Hits *struct {
		Hits []struct {
			Source json.RawMessage `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
}

// CheckAnswer implements elastic.SearchAnswer.
func (r *samplesResponse) CheckAnswer() error {
	if err := r.CheckSearch(nil); err != nil {
		return err
	}
	if r.Hits == nil {
		return &AnswerError{Problem: "no hits"}
	}
	return nil
}
