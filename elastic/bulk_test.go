package elastic

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"
)

func TestBulkCountsCreatedExistingAndRefusedDocuments(t *testing.T) {
	var lines []map[string]any
	c, _ := fakeNode(t, Config{}, func(_ int, r *http.Request) (int, string) {
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("bulk line %q is not JSON: %v", sc.Text(), err)
			}
			lines = append(lines, m)
		}
		return 200, `{"errors":true,"items":[
			{"create":{"_index":"ev","_id":"a","status":201}},
			{"create":{"_index":"ev","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
			{"create":{"_index":"ev","_id":"c","status":400,"error":{"type":"document_parsing_exception","reason":"bad field"}}},
			{"index":{"_index":"logs","_id":"x1","status":201}}]}`
	})
	ops := []BulkOp{
		{Index: "ev", ID: "a", Doc: map[string]int{"n": 1}},
		{Index: "ev", ID: "b", Doc: map[string]int{"n": 2}},
		{Index: "ev", ID: "c", Doc: json.RawMessage(`{"n":3}`)},
		{Index: "logs", Doc: map[string]int{"n": 4}},
	}
	res, err := c.Bulk(context.Background(), ops)
	if res != (BulkResult{Written: 2, Existed: 1}) {
		t.Errorf("result %+v, want 2 written and 1 existing", res)
	}
	var be *BulkError
	if !errors.As(err, &be) {
		t.Fatalf("error %v, want a *BulkError", err)
	}
	want := []BulkItemError{{Index: "ev", ID: "c", Status: 400, Type: "document_parsing_exception", Reason: "bad field"}}
	if !reflect.DeepEqual(be.Items, want) {
		t.Errorf("refused %+v, want %+v", be.Items, want)
	}
	wantActions := []map[string]any{
		{"create": map[string]any{"_index": "ev", "_id": "a"}}, {"n": 1.0},
		{"create": map[string]any{"_index": "ev", "_id": "b"}}, {"n": 2.0},
		{"create": map[string]any{"_index": "ev", "_id": "c"}}, {"n": 3.0},
		{"index": map[string]any{"_index": "logs"}}, {"n": 4.0},
	}
	if !reflect.DeepEqual(lines, wantActions) {
		t.Errorf("sent %v, want %v: create under an id, index without one", lines, wantActions)
	}
}
