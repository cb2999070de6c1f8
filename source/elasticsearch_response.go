package source

import (
	"encoding/json"
	"fmt"
	"strconv"
)

func groupKey(i int) string  { return "k" + strconv.Itoa(i) }
func metricKey(i int) string { return "m" + strconv.Itoa(i) }

// countResponse is the answer to Count's search.
type countResponse struct {
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

// compositeResponse is one page of a composite aggregation.
type compositeResponse struct {
	Aggregations struct {
		Groups struct {
			AfterKey map[string]any    `json:"after_key"`
			Buckets  []compositeBucket `json:"buckets"`
		} `json:"groups"`
	} `json:"aggregations"`
}

// compositeBucket is one group: its key values, doc_count and one
// sub-aggregation per metric ({"value": n}, null when no record had it).
type compositeBucket struct {
	Key      map[string]json.RawMessage
	DocCount float64
	Metrics  map[string]json.RawMessage
}

func (b *compositeBucket) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	b.Metrics = raw
	if k, ok := raw["key"]; ok {
		if err := json.Unmarshal(k, &b.Key); err != nil {
			return fmt.Errorf("bucket key: %w", err)
		}
	}
	if dc, ok := raw["doc_count"]; ok {
		if err := json.Unmarshal(dc, &b.DocCount); err != nil {
			return fmt.Errorf("bucket doc_count: %w", err)
		}
	}
	return nil
}

// row turns a bucket into a Row for q.
func (b *compositeBucket) row(q Query) (Row, error) {
	row := Row{Key: make([]string, len(q.GroupBy)), Values: make([]float64, len(q.Metrics))}
	for i := range q.GroupBy {
		s, err := keyString(b.Key[groupKey(i)])
		if err != nil {
			return Row{}, fmt.Errorf("group key %s: %w", q.GroupBy[i], err)
		}
		row.Key[i] = s
	}
	for i, m := range q.Metrics {
		if m.Kind == Count {
			row.Values[i] = b.DocCount
			continue
		}
		var v struct {
			Value *float64 `json:"value"`
		}
		if raw, ok := b.Metrics[metricKey(i)]; ok {
			if err := json.Unmarshal(raw, &v); err != nil {
				return Row{}, fmt.Errorf("metric %s: %w", m.Name, err)
			}
		}
		if v.Value != nil {
			row.Values[i] = *v.Value
		}
	}
	return row, nil
}

// keyString renders a composite key value: strings as they are, numbers
// as their decimal form (long fields come back as numbers), null as "".
func keyString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("neither a string nor a number: %s", raw)
	}
	if i, err := n.Int64(); err == nil {
		return strconv.FormatInt(i, 10), nil
	}
	return n.String(), nil
}

// samplesResponse is the answer to Samples' search.
type samplesResponse struct {
	Hits struct {
		Hits []struct {
			Source json.RawMessage `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
}
