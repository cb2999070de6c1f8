package source

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// firstFlow is the first record of testdata/file/flows.ndjson: a valid
// flow log ending at 2023-02-04T00:03:21Z.
func firstFlow(t *testing.T) string {
	t.Helper()
	fh, err := os.Open(filepath.Join("testdata", "file", "flows.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		t.Fatal("empty flows.ndjson")
	}
	return sc.Text()
}

// withField returns the flow record with one field set to value (JSON).
func withField(t *testing.T, rec, field, value string) string {
	t.Helper()
	key := `"` + field + `":`
	i := strings.Index(rec, key)
	if i < 0 {
		t.Fatalf("no %s in the record", field)
	}
	rest := rec[i+len(key):]
	end := strings.IndexAny(rest, ",}")
	return rec[:i+len(key)] + value + rest[end:]
}

// TestGzipBombIsBoundedPerRecord: records whose process_name is huge
// (the 987 KB gzip of 16 records of 60 MiB) are refused one by one,
// counted and located, and the valid record beside them loads.
func TestGzipBombIsBoundedPerRecord(t *testing.T) {
	rec := firstFlow(t)
	huge := withField(t, rec, "process_name", `"`+strings.Repeat("A", 200<<10)+`"`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for range 16 {
		zw.Write([]byte(huge + "\n"))
	}
	zw.Write([]byte(rec + "\n"))
	zw.Close()
	path := filepath.Join(t.TempDir(), "bomb_flows.ndjson.gz")
	if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFiles(context.Background(), FileOptions{Paths: []string{path}, MaxRecordBytes: 64 << 10, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	st := f.Stats()
	if st.Malformed[calicolog.Flows] != 16 || st.Loaded[calicolog.Flows] != 1 {
		t.Fatalf("stats %v, want 16 malformed flows and 1 loaded", st)
	}
	if msg := st.First[0].Error(); !strings.Contains(msg, "bomb_flows.ndjson.gz:1:") || !strings.Contains(msg, "--file.max-record-size") {
		t.Errorf("first malformed %q does not name file:line and the bound", msg)
	}
	c, err := f.Count(context.Background(), everything, calicolog.Flows)
	if err != nil || c.Malformed != 16 {
		t.Errorf("Count = %+v, %v; want the 16 counted", c, err)
	}
}

// TestFileSizeIsBounded: a file that goes on past MaxFileBytes
// (decompressed) is refused naming the bound.
func TestFileSizeIsBounded(t *testing.T) {
	rec := firstFlow(t)
	path := filepath.Join(t.TempDir(), "long_flows.ndjson")
	if err := os.WriteFile(path, []byte(strings.Repeat(rec+"\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenFiles(context.Background(), FileOptions{Paths: []string{path}, MaxFileBytes: 10 * int64(len(rec)), Now: fixedNow})
	if _, ok := errors.AsType[*FileError](err); !ok || !strings.Contains(err.Error(), "--file.max-size") {
		t.Fatalf("error %v, want a *FileError naming --file.max-size", err)
	}
	// Exactly at the bound is read whole.
	if _, err := OpenFiles(context.Background(), FileOptions{Paths: []string{path}, MaxFileBytes: 100 * int64(len(rec)+1), Now: fixedNow}); err != nil {
		t.Fatalf("a file of exactly the bound: %v", err)
	}
}

// TestOnlyRegularFilesAreRead: a device, a FIFO, or a glob matching a
// symlink to one, is refused before anything is read.
func TestOnlyRegularFilesAreRead(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo_flows.ndjson")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	globDir := t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(globDir, "zero_flows.ndjson")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"a device", "/dev/zero", "a device"},
		{"a FIFO", fifo, "a FIFO"},
		{"a glob matching a symlink to a device", filepath.Join(globDir, "*.ndjson"), "a device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenFiles(context.Background(), FileOptions{Paths: []string{tc.path}, LogType: calicolog.Flows})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "only regular files") {
				t.Fatalf("error %v, want one saying %q and only regular files are read", err, tc.want)
			}
		})
	}
}

// endlessZeros is a stream that never ends, as /dev/zero.
type endlessZeros struct{}

func (endlessZeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestEndlessStreamStopsWhenCancelled: reading a stream that never ends
// (and has no line end) stops once the context ends, as on SIGTERM.
func TestEndlessStreamStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var st FileStats
		done <- NewMemory("file").ReadNDJSON(ctx, endlessZeros{}, "zero", FileOptions{LogType: calicolog.Flows}, &st)
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want the context's", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("reading an endless stream did not stop when the context ended")
	}
}

func fixedNow() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }

// TestImplausibleTimesAreMalformed: records dated 1970, year 1 or 5138
// are counted malformed with the reason, once, and do not move the span
// the windows are read over.
func TestImplausibleTimesAreMalformed(t *testing.T) {
	rec := firstFlow(t)
	dir := t.TempDir()
	lines := []string{
		withField(t, withField(t, rec, "end_time", "1"), "start_time", "0"),
		withField(t, rec, "end_time", "99999999999"), // year 5138
		rec,
	}
	if err := os.WriteFile(filepath.Join(dir, "flows.ndjson"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dns := `{"start_time":"0001-01-01T00:00:00Z","end_time":"0001-01-01T00:05:00Z","count":1,"client_name":"-","client_name_aggr":"a-*","client_namespace":"n","client_ip":null,"client_labels":{},"qname":"x.example","qclass":"IN","qtype":"A","rcode":"NoError","rrsets":[],"servers":[],"latency_count":0,"latency_mean":0,"latency_max":0}`
	if err := os.WriteFile(filepath.Join(dir, "dns.ndjson"), []byte(dns+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFiles(context.Background(), FileOptions{Paths: []string{dir}, Now: fixedNow, MaxAge: 10 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	st := f.Stats()
	if st.Malformed[calicolog.Flows] != 2 || st.Malformed[calicolog.DNS] != 1 || st.Loaded[calicolog.Flows] != 1 {
		t.Fatalf("stats %v, want 2 flows and 1 DNS malformed, 1 flow loaded", st)
	}
	if msg := st.Err().Error(); !strings.Contains(msg, "end_time 1970-01-01T00:00:01Z is outside the plausible span") || !strings.Contains(msg, "--file.max-clock-skew") {
		t.Errorf("summary %q does not give the reason", msg)
	}
	first, last, ok := f.Span()
	if !ok || !first.Equal(time.Unix(1675469001, 0)) || !last.Equal(first) {
		t.Errorf("span %s to %s, want only the valid record's end_time", first, last)
	}
	// Counted once, by the first Count of their log type, whatever window.
	w := Window{Start: first.Truncate(5 * time.Minute), End: first.Truncate(5 * time.Minute).Add(5 * time.Minute)}
	for i, want := range []int64{2, 0} {
		c, err := f.Count(context.Background(), w, calicolog.Flows)
		if err != nil || c.Malformed != want || c.Records != 1+want {
			t.Errorf("Count %d = %+v, %v; want %d malformed", i, c, err, want)
		}
	}
}

// TestUnknownTypeRecordsAreCounted: records whose log type cannot be
// told are reported by Count, so the metric adds up to the load log.
func TestUnknownTypeRecordsAreCounted(t *testing.T) {
	rec := firstFlow(t)
	dir := t.TempDir()
	// A file whose name tells no log type: its plain documents cannot be
	// placed; its _search hit with an _index can.
	body := rec + "\n" + rec + "\n" + `{"_index":"tigera_secure_ee_flows.c.2023","_source":` + rec + "}\n"
	if err := os.WriteFile(filepath.Join(dir, "export.ndjson"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFiles(context.Background(), FileOptions{Paths: []string{dir}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	st := f.Stats()
	if st.MalformedRecords() != 2 || st.Malformed[""] != 2 {
		t.Fatalf("stats %v, want 2 malformed of unknown type", st)
	}
	var unknown int64
	for _, lt := range calicolog.LogTypes {
		c, err := f.Count(context.Background(), everything, lt)
		if err != nil {
			t.Fatal(err)
		}
		unknown += c.UnknownType + c.Malformed
	}
	if unknown != st.MalformedRecords() {
		t.Errorf("Count reported %d malformed, the load %d", unknown, st.MalformedRecords())
	}
}

// FuzzReadNDJSONBounds: whatever a file holds, no record larger than the
// record bound and none outside the plausible span is loaded, and every
// record found is either loaded or counted malformed.
func FuzzReadNDJSONBounds(f *testing.F) {
	rec := `{"start_time":1764547000,"end_time":1764547200,"host":"n","action":"allow","reporter":"src","proto":"tcp","source_ip":"10.0.0.1","source_name":"-","source_name_aggr":"a-*","source_namespace":"s","source_port":null,"source_type":"wep","dest_ip":"10.0.1.5","dest_name":"-","dest_name_aggr":"b-*","dest_namespace":"s","dest_port":80,"dest_type":"wep","bytes_in":1,"bytes_out":1,"packets_in":1,"packets_out":1,"num_flows":1,"num_flows_started":1,"num_flows_completed":1}`
	f.Add([]byte(rec+"\n"+rec+"\n"), 4096)
	f.Add([]byte(strings.Replace(rec, "1764547200", "1", 1)+"\n"), 200)
	f.Add([]byte(rec+"\n{}\n[1]\n"), 100)
	f.Fuzz(func(t *testing.T, data []byte, maxRecord int) {
		maxRecord = 64 + abs(maxRecord)%8192
		var st FileStats
		m := NewMemory("file")
		opts := FileOptions{LogType: calicolog.Flows, MaxRecordBytes: maxRecord, MaxFileBytes: 1 << 20, Now: fixedNow, MaxAge: 365 * 24 * time.Hour}
		_ = m.ReadNDJSON(context.Background(), bytes.NewReader(data), "fuzz_flows.ndjson", opts, &st)
		notBefore, notAfter := fixedNow().Add(-opts.MaxAge), fixedNow().Add(DefaultMaxClockSkew)
		if first, last := m.span(); !first.IsZero() && (first.Before(notBefore) || last.After(notAfter)) {
			t.Fatalf("loaded records span %s to %s, outside %s to %s", first, last, notBefore, notAfter)
		}
		for _, e := range st.First {
			if e.Err == nil {
				t.Fatal("a malformed record without its reason")
			}
		}
		for _, e := range st.First {
			if strings.Contains(e.Error(), "--file.max-record-size") && maxRecord >= len(data) {
				t.Fatalf("a record refused as larger than %d bytes in a file of %d: %v", maxRecord, len(data), e)
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
