package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// A JSON array of documents spread over lines, as jq or Kibana print it:
// a malformed document is counted and located by the line it starts on,
// the others are loaded.
func TestWholeDocumentLocatesMalformedRecords(t *testing.T) {
	good := `{"start_time": 1675468701, "end_time": 1675469001, "action": "allow", "reporter": "src",
    "source_name_aggr": "a-*", "source_namespace": "ns", "source_type": "wep",
    "dest_name_aggr": "b-*", "dest_namespace": "ns", "dest_type": "wep", "dest_port": 80}`
	doc := "[\n  " + good + ",\n  {\n    \"start_time\": 1675468701,\n    \"reporter\": \"sideways\"\n  },\n  " + good + "\n]\n"
	path := filepath.Join(t.TempDir(), "flows.json")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFiles(context.Background(), FileOptions{Paths: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	st := f.Stats()
	if st.Loaded[calicolog.Flows] != 2 || st.Malformed[calicolog.Flows] != 1 {
		t.Fatalf("stats %v", st)
	}
	if len(st.First) != 1 || st.First[0].Line != 5 {
		t.Errorf("malformed record located at %+v, want line 5", st.First)
	}
	if st.Lines != int64(strings.Count(doc, "\n")) {
		t.Errorf("lines %d, want %d", st.Lines, strings.Count(doc, "\n"))
	}
}

// A document cut short is refused whole, naming where it starts.
func TestWholeDocumentTruncatedIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.json")
	if err := os.WriteFile(path, []byte("\n{\n  \"hits\": {\n    \"hits\": [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenFiles(context.Background(), FileOptions{Paths: []string{path}})
	var fe *FileError
	if !errors.As(err, &fe) || fe.Line != 2 || !strings.Contains(err.Error(), "ends before the document does") {
		t.Errorf("err = %v", err)
	}
}
