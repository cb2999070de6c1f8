package source

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// FuzzReadNDJSON reads arbitrary bytes as a file of flow logs, with a
// small maximum line size so long lines are cut too. Whatever the bytes, it
// must not panic, must refuse with a *FileError or account for every line,
// and what Count reports must be what the stats say was loaded and skipped.
func FuzzReadNDJSON(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/file/*")
	for _, p := range seeds {
		if filepath.Ext(p) == ".golden" {
			continue
		}
		if raw, err := os.ReadFile(p); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte(""))
	f.Add([]byte("\n\n\r\n"))
	f.Add([]byte(`{"hits":{"hits":[{"_index":"calico_dnslogs","_source":null},{"_source":{}},{}]}}`))
	f.Add([]byte(`{"_index":"tigera_secure_ee_l7.x","_source":{"end_time":1,"dest_name_aggr":"a"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := NewMemory("file")
		var st FileStats
		opts := FileOptions{MaxLineBytes: 600, MaxReported: 3}
		err := m.ReadNDJSON(context.Background(), bytes.NewReader(data), "flows.ndjson", opts, &st)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || fe.File != "flows.ndjson" || fe.Line < 1 || fe.Reason == "" {
				t.Fatalf("err = %#v, want a *FileError naming the file and a line", err)
			}
			return
		}
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			return // lines are those of the decompressed stream
		}
		lines := int64(bytes.Count(data, []byte("\n")))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines++
		}
		if st.Lines != lines {
			t.Errorf("%d lines read, the data has %d", st.Lines, lines)
		}
		if len(st.First) > 3 || int64(len(st.First)) > st.MalformedRecords() {
			t.Errorf("%d located of %d malformed", len(st.First), st.MalformedRecords())
		}
		for _, e := range st.First {
			if e.Line < 1 || e.Line > lines || e.Err == nil {
				t.Errorf("malformed record located at line %d of %d: %v", e.Line, lines, e)
			}
		}
		if (st.Err() == nil) != (st.MalformedRecords() == 0) {
			t.Errorf("Err() = %v with %d malformed", st.Err(), st.MalformedRecords())
		}
		for _, lt := range calicolog.LogTypes {
			c, err := m.Count(context.Background(), everything, lt)
			if err != nil {
				t.Fatal(err)
			}
			if c.Records != st.Loaded[lt]+st.Malformed[lt] || c.Malformed != st.Malformed[lt] {
				t.Errorf("%s: Count %+v, stats %d loaded, %d malformed", lt, c, st.Loaded[lt], st.Malformed[lt])
			}
		}
	})
}

// FuzzLineParser parses arbitrary lines in a file of unknown log type:
// every record found either has a log type or says why it cannot be loaded.
func FuzzLineParser(f *testing.F) {
	f.Add([]byte(`{"_index":"calico_flowlogs","_source":{"end_time":1}}`))
	f.Add([]byte(`{"hits":{"hits":[{"_index":"calico_alerts","_source":{}},{"_source":{}}]}}`))
	f.Add([]byte(`{"end_time":1}`))
	f.Add([]byte(`{"hits":3}`))
	f.Add([]byte(`{"_index":7}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			return
		}
		p := lineParser{typeFrom: "the file name"}
		docs, err := p.parse(line)
		if err != nil {
			if len(docs) != 0 {
				t.Errorf("an error and %d records", len(docs))
			}
			return
		}
		for i, d := range docs {
			if d.log == "" && d.err == nil {
				t.Errorf("record %d has no log type and no error", i)
			}
			if d.log != "" {
				if _, err := calicolog.ParseLogType(string(d.log)); err != nil {
					t.Errorf("record %d: %v", i, err)
				}
			}
			if d.hit != 0 && d.hit != i+1 {
				t.Errorf("record %d says it is hit %d", i, d.hit)
			}
		}
	})
}
