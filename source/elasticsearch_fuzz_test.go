package source

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzCompositeResponse decodes arbitrary bytes as a page of the composite
// aggregation and turns its buckets into rows, as Aggregate does: whatever
// the answer, that never panics, and a row has one key per GroupBy field
// and one value per metric.
func FuzzCompositeResponse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no recorded answers in testdata: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var res compositeResponse
		if json.Unmarshal(data, &res) != nil {
			return
		}
		// A checked answer that searched shards has its groups.
		if res.CheckAnswer() == nil && res.Shards.Total > 0 && res.Aggregations.Groups == nil {
			t.Fatalf("an answer without groups passed the check: %s", data)
		}
		groups := res.groups()
		var acc rowMerger
		failed := false
		for i := range groups.Buckets {
			row, weights, err := groups.Buckets[i].row(recordedQuery)
			if err != nil {
				failed = true
				continue
			}
			if len(row.Key) != len(recordedQuery.GroupBy) || len(row.Values) != len(recordedQuery.Metrics) {
				t.Fatalf("row %v from bucket %d of %s does not fit the query", row, i, data)
			}
			acc.add(recordedQuery, row, weights)
		}
		rows := acc.rows()
		SortRows(rows)
		if len(rows) > len(groups.Buckets) {
			t.Fatalf("%d rows from %d buckets", len(rows), len(groups.Buckets))
		}
		// Reading the buckets into rows as the page is decoded (as
		// Aggregate does) gives the same rows, or fails where a bucket
		// does or where buckets are given twice.
		var direct rowMerger
		read := pageRows{q: recordedQuery, acc: &direct}
		dres := compositeResponse{rows: &read}
		err := dres.DecodeAnswer(data)
		switch {
		case err != nil && !failed && !strings.Contains(err.Error(), "twice"):
			t.Fatalf("%s: read into rows: %v; bucket by bucket: no error", data, err)
		case err == nil && failed:
			t.Fatalf("%s: read into rows: no error; bucket by bucket: an error", data)
		case err == nil:
			got := direct.rows()
			SortRows(got)
			if read.read != len(groups.Buckets) || !reflect.DeepEqual(got, rows) {
				t.Fatalf("%s: read into rows %v (%d buckets), bucket by bucket %v (%d)", data, got, read.read, rows, len(groups.Buckets))
			}
		}
	})
}
