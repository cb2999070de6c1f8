package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// everything is a window that holds every record of the test files.
var everything = Window{Start: time.Unix(0, 0), End: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}

// describeLoad renders what OpenFiles did, for golden files.
func describeLoad(t *testing.T, f *File, err error) string {
	t.Helper()
	var b strings.Builder
	if err != nil {
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Fatalf("error %v (%T) is not a *FileError", err, err)
		}
		fmt.Fprintf(&b, "refused: %v\n", err)
		return b.String()
	}
	st := f.Stats()
	fmt.Fprintf(&b, "kind: %s\nfiles: %d\nlines: %d\nstats: %v\n", f.Kind(), len(st.Files), st.Lines, st)
	for _, lt := range calicolog.LogTypes {
		fmt.Fprintf(&b, "%s: %d loaded, %d malformed\n", lt, st.Loaded[lt], st.Malformed[lt])
	}
	if n := st.Malformed[""]; n > 0 {
		fmt.Fprintf(&b, "log type unknown: %d malformed\n", n)
	}
	if first, last, ok := f.Span(); ok {
		fmt.Fprintf(&b, "span: %s to %s\n", first.Format(time.RFC3339), last.Format(time.RFC3339))
	}
	if err := st.Err(); err != nil {
		fmt.Fprintf(&b, "summary: %v\n", err)
	}
	return b.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "file", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

// gzipCopy writes a gzip compressed copy of file into dir under the same
// name, so only its magic bytes say it is compressed.
func gzipCopy(t *testing.T, dir, file string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	out := filepath.Join(dir, filepath.Base(file))
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenFiles(t *testing.T) {
	td := func(name string) string { return filepath.Join("testdata", "file", name) }
	tests := []struct {
		name   string
		golden string
		opts   FileOptions
	}{
		{"plain flow logs, the log type from the file name", "flows", FileOptions{Paths: []string{td("flows.ndjson")}}},
		{"plain DNS logs with RFC 3339 times", "dns", FileOptions{Paths: []string{td("dns.2023-02-04.ndjson")}}},
		{"L7 logs with CRLF line endings and a blank line", "l7", FileOptions{Paths: []string{td("l7-logs.jsonl")}}},
		{"_search hits of every log type and layout", "search_hits", FileOptions{Paths: []string{td("search_hits.ndjson")}}},
		{"whole _search responses, one per line", "search_responses", FileOptions{Paths: []string{td("search_responses.ndjson")}}},
		{"broken hits and responses", "bad_hits", FileOptions{Paths: []string{td("bad_hits.ndjson")}}},
		{"good and bad lines mixed", "mixed", FileOptions{Paths: []string{td("mixed_flows.ndjson")}}},
		{"only the first malformed records are located", "mixed_first_two", FileOptions{Paths: []string{td("mixed_flows.ndjson")}, MaxReported: 2}},
		{"plain documents in a file whose name tells no log type", "records_unknown", FileOptions{Paths: []string{td("records.ndjson")}}},
		{"the log type given by the options, and a document of another", "records_flows", FileOptions{Paths: []string{td("records.ndjson")}, LogType: calicolog.Flows}},
		{"the log type given by the options overrides the name", "dns_as_l7", FileOptions{Paths: []string{td("dns.2023-02-04.ndjson")}, LogType: calicolog.L7}},
		{"a line longer than the maximum is a malformed record", "long_line", FileOptions{Paths: []string{td("long_line_flows.ndjson")}, MaxLineBytes: 4096}},
		{"several files", "several", FileOptions{Paths: []string{td("flows.ndjson"), td("dns.2023-02-04.ndjson"), td("search_hits.ndjson")}}},
		{"a JSON array of documents is read", "array", FileOptions{Paths: []string{td("array_flows.json")}}},
		{"a pretty-printed document is read", "pretty", FileOptions{Paths: []string{td("pretty_flows.json")}}},
		{"a _search answer pretty-printed over lines is read", "search_answer_pretty", FileOptions{Paths: []string{td("search_answer_pretty.json")}}},
		{"an HTML error page is refused", "html", FileOptions{Paths: []string{td("error_page_flows.ndjson")}}},
		{"CSV is refused", "csv", FileOptions{Paths: []string{td("flows.csv.ndjson")}}},
		{"a JSON number is refused", "number", FileOptions{Paths: []string{td("number_flows.ndjson")}}},
		{"a refused file among good ones refuses the load", "html_after_flows", FileOptions{Paths: []string{td("flows.ndjson"), td("error_page_flows.ndjson")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenFiles(context.Background(), tt.opts)
			got := describeLoad(t, f, err)
			checkGolden(t, tt.golden, got)
			if err == nil {
				checkCounts(t, f)
			}

			// The same files gzip compressed, under the same names, load
			// the same.
			dir := t.TempDir()
			zopts := tt.opts
			zopts.Paths = nil
			for _, p := range tt.opts.Paths {
				zopts.Paths = append(zopts.Paths, gzipCopy(t, dir, p))
			}
			zf, zerr := OpenFiles(context.Background(), zopts)
			zgot := strings.ReplaceAll(describeLoad(t, zf, zerr), dir+string(filepath.Separator), "testdata/file/")
			if zgot != got {
				t.Errorf("gzip compressed:\n%s\nplain:\n%s", zgot, got)
			}
		})
	}
}

// checkCounts checks Count over all time reports every record loaded and
// every malformed one of a known log type.
func checkCounts(t *testing.T, f *File) {
	t.Helper()
	st := f.Stats()
	for _, lt := range calicolog.LogTypes {
		c, err := f.Count(context.Background(), everything, lt)
		if err != nil {
			t.Fatal(err)
		}
		if c.Records != st.Loaded[lt]+st.Malformed[lt] || c.Malformed != st.Malformed[lt] {
			t.Errorf("%s: Count says %+v, stats %d loaded and %d malformed", lt, c, st.Loaded[lt], st.Malformed[lt])
		}
	}
}

func TestOpenFilesRefusesBinary(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	compress := func(data string) []byte {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte(data))
		zw.Close()
		return gz.Bytes()
	}
	page := compress("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>\n")
	lines := compress("{\"end_time\": 1}\n{\"end_time\": 2}\n")
	tests := []struct {
		name string
		path string
		want string
	}{
		{"binary data", write("flows.ndjson", []byte("\x00\x01\x02ELF\x7f\n{}\n")), "flows.ndjson:1: binary data, not NDJSON"},
		{"invalid UTF-8", write("dns.ndjson", []byte("\xff\xfe{\"a\":1}\n")), "dns.ndjson:1: binary data, not NDJSON"},
		{"bzip2 data", write("l7.ndjson.bz2", []byte("BZh91AY&SY\x00\x01")), "l7.ndjson.bz2:1: bzip2 compressed data, not NDJSON (only gzip is read"},
		{"an HTML page inside gzip", write("flows.gz", page), "flows.gz:1: an HTML page, not NDJSON"},
		{"a truncated gzip stream", write("cut_flows.gz", lines[:len(lines)-6]), "cut_flows.gz:3: reading the gzip stream after 2 lines: unexpected EOF (a truncated or damaged copy?)"},
		{"a broken gzip header", write("bad.gz", []byte{0x1f, 0x8b, 0xff}), "bad.gz: gzip header: unexpected EOF"},
		{"a missing file", filepath.Join(dir, "absent.ndjson"), "absent.ndjson: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenFiles(context.Background(), FileOptions{Paths: []string{tt.path}})
			var fe *FileError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v (%T), want a *FileError with %q", err, err, tt.want)
			}
		})
	}
}

func TestExpandPaths(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.ndjson", "a.json", "c.ndjson.gz", "d.jsonl", "notes.txt", "flows.csv"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	in := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, filepath.Join(dir, n))
		}
		return out
	}
	tests := []struct {
		name    string
		paths   []string
		want    []string
		wantErr string
	}{
		{"a folder means its log files, sorted", in(""), in("a.json", "b.ndjson", "c.ndjson.gz", "d.jsonl"), ""},
		{"a file is read whatever its name", in("notes.txt"), in("notes.txt"), ""},
		{"a glob", in("*.ndjson*"), in("b.ndjson", "c.ndjson.gz"), ""},
		{"the standard input", []string{"-", filepath.Join(dir, "b.ndjson")}, []string{"-", filepath.Join(dir, "b.ndjson")}, ""},
		{"a file named twice is read once", append(in("b.ndjson"), in("")...), in("b.ndjson", "a.json", "c.ndjson.gz", "d.jsonl"), ""},
		{"no path", nil, nil, "no file or folder to read"},
		{"a missing file", in("nope.ndjson"), nil, "nope.ndjson: no such file or directory"},
		{"a glob that matches nothing", in("*.parquet"), nil, "matches no file"},
		{"a bad glob", in("[.ndjson"), nil, "syntax error in pattern"},
		{"a folder without log files", in("empty"), nil, "empty: a folder with no file named *.ndjson, *.jsonl, *.json, *.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExpandPaths(tt.paths)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLogTypeOfName(t *testing.T) {
	tests := []struct {
		name string
		want calicolog.LogType
	}{
		{"flows.cluster.2024-03-04.ndjson.gz", calicolog.Flows},
		{"tigera_secure_ee_dns.cluster.fluentd.20240304.json", calicolog.DNS},
		{"calico_l7logs-000001.ndjson", calicolog.L7},
		{"Flow-Export.JSON", calicolog.Flows},
		{"dns-and-flows.ndjson", calicolog.DNS},
		{"overflows.ndjson", ""},
		{"cal7.ndjson", ""},
		{"records.ndjson", ""},
	}
	for _, tt := range tests {
		if got := LogTypeOfName(tt.name); got != tt.want {
			t.Errorf("LogTypeOfName(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestFileAggregatesAsMemory(t *testing.T) {
	// The file source answers as a Memory fed the same documents.
	f, err := OpenFiles(context.Background(), FileOptions{Paths: []string{"testdata/file/flows.ndjson"}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/file/flows.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMemory("")
	for line := range bytes.Lines(raw) {
		if err := m.AddDocument(calicolog.Flows, bytes.TrimSpace(line)); err != nil {
			t.Fatal(err)
		}
	}
	q := Query{Name: "ports", Log: calicolog.Flows, GroupBy: []string{"source_namespace", "source_name_aggr"},
		Metrics: []Metric{{Name: "n", Kind: Count}, {Name: "ports", Kind: Cardinality, Field: "dest_port"}, {Name: "out", Kind: Sum, Field: "bytes_out"}}}
	got, err := f.Aggregate(context.Background(), everything, q)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Aggregate(context.Background(), everything, q)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) == 0 {
		t.Errorf("file source rows %v, memory rows %v", got, want)
	}
	samples, err := f.Samples(context.Background(), everything, calicolog.Flows, nil, 2)
	if err != nil || len(samples) != 2 {
		t.Errorf("samples %d, %v", len(samples), err)
	}
}

func TestReadNDJSONCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := NewMemory("file")
	var st FileStats
	err := m.ReadNDJSON(ctx, strings.NewReader("{}\n"), "flows.ndjson", FileOptions{}, &st)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestOpenFilesStdin(t *testing.T) {
	flows, err := os.ReadFile("testdata/file/flows.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	hits, err := os.ReadFile("testdata/file/search_hits.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      []byte
		logType calicolog.LogType
		want    string
	}{
		{"plain documents of the log type the options give", flows, calicolog.Flows, "4 records loaded (flows 4, dns 0, l7 0), 0 malformed skipped, from 1 file"},
		{"hits tell their log type", hits, "", "4 records loaded (flows 2, dns 1, l7 1), 0 malformed skipped, from 1 file"},
		{"plain documents of no known log type", flows, "", "0 records loaded (flows 0, dns 0, l7 0), 4 malformed skipped, from 1 file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenFiles(context.Background(), FileOptions{Paths: []string{"-"}, Stdin: bytes.NewReader(tt.in), LogType: tt.logType})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Stats().String(); got != tt.want {
				t.Errorf("stats %q, want %q", got, tt.want)
			}
			if e := f.Stats().Err(); e != nil && !strings.Contains(e.Error(), "stdin:1: ") {
				t.Errorf("summary %v does not name stdin:1", e)
			}
		})
	}
}

func TestOpenFilesBadLogType(t *testing.T) {
	_, err := OpenFiles(context.Background(), FileOptions{Paths: []string{"testdata/file/flows.ndjson"}, LogType: "flow"})
	if err == nil || !strings.Contains(err.Error(), `unknown log type "flow" (want flows, dns or l7)`) {
		t.Errorf("err = %v", err)
	}
}
