package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// BulkOp is one document to write: created under ID when ID is set (so a
// retry or a second writer never duplicates it), indexed otherwise.
type BulkOp struct {
	Index string
	ID    string
	Doc   any // marshalled to JSON; a json.RawMessage is written as it is
}

// BulkWriter writes documents in bulk, as Elasticsearch's _bulk API does:
// *Client is one, and so is what embeds one (*source.Elasticsearch). The
// events notifier and the simulator write through it.
type BulkWriter interface {
	Bulk(ctx context.Context, ops []BulkOp) (BulkResult, error)
}

var _ BulkWriter = (*Client)(nil)

// BulkResult says what one Bulk call did.
type BulkResult struct {
	Written int // documents created or indexed
	Existed int // documents whose ID was already there
}

// BulkItemError is one document Elasticsearch refused.
type BulkItemError struct {
	Index, ID string
	Status    int
	Type      string
	Reason    string
}

func (e BulkItemError) Error() string {
	return fmt.Sprintf("%s/%s: %d %s: %s", e.Index, e.ID, e.Status, e.Type, e.Reason)
}

// BulkError lists the documents of a Bulk call that were not written.
type BulkError struct {
	Items []BulkItemError
}

func (e *BulkError) Error() string {
	return fmt.Sprintf("bulk: %d documents not written, first: %v", len(e.Items), e.Items[0])
}

type bulkResponse struct {
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		Index  string `json:"_index"`
		ID     string `json:"_id"`
		Status int    `json:"status"`
		Error  *struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	} `json:"items"`
}

// Bulk writes ops in one _bulk request. A document whose ID already exists
// counts as Existed, not as an error; any other refused document makes the
// call return a *BulkError listing them, after the rest were written.
func (c *Client) Bulk(ctx context.Context, ops []BulkOp) (BulkResult, error) {
	if len(ops) == 0 {
		return BulkResult{}, nil
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, op := range ops {
		action := "index"
		meta := map[string]string{"_index": op.Index}
		if op.ID != "" {
			action = "create"
			meta["_id"] = op.ID
		}
		if err := enc.Encode(map[string]any{action: meta}); err != nil {
			return BulkResult{}, err
		}
		if err := enc.Encode(op.Doc); err != nil {
			return BulkResult{}, fmt.Errorf("bulk: document %s/%s: %w", op.Index, op.ID, err)
		}
	}
	var res bulkResponse
	if err := c.Do(ctx, fmt.Sprintf("bulk of %d documents", len(ops)), esapi.BulkRequest{Body: &body}, &res); err != nil {
		return BulkResult{}, err
	}
	var out BulkResult
	var failed []BulkItemError
	for _, item := range res.Items {
		for _, r := range item {
			switch {
			case r.Error == nil:
				out.Written++
			case r.Status == http.StatusConflict:
				out.Existed++
			default:
				failed = append(failed, BulkItemError{Index: r.Index, ID: r.ID, Status: r.Status, Type: r.Error.Type, Reason: r.Error.Reason})
			}
		}
	}
	if len(failed) > 0 {
		return out, &BulkError{Items: failed}
	}
	return out, nil
}
