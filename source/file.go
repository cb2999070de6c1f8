package source

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// Defaults of FileOptions.
const (
	// DefaultMaxLineBytes is the longest line read; a longer one is a
	// malformed record. A whole _search response on one line needs room.
	DefaultMaxLineBytes = 64 << 20
	// DefaultMaxReported is how many malformed records a FileStats keeps
	// the position of.
	DefaultMaxReported = 10
)

// FileExtensions are the names a folder's files must end with to be read.
var FileExtensions = []string{".ndjson", ".jsonl", ".json", ".gz"}

// FileOptions says which files of Calico log documents to read and how.
type FileOptions struct {
	// Paths are files, folders (every file of the folder whose name ends
	// with one of FileExtensions, not recursively) or glob patterns
	// (filepath.Match syntax), read in order; "-" is the standard input
	// (named stdin in messages, its log type from LogType or _index).
	Paths []string
	// Stdin is what "-" reads (os.Stdin if nil).
	Stdin io.Reader
	// LogType is the log type of the plain documents of every file; when
	// empty, each file's name tells it (the first of flows, dns or l7 among
	// the words of the name, as in flows.cluster.2024-03-04.ndjson.gz).
	// Hits of a _search answer take theirs from their _index.
	LogType calicolog.LogType
	// MaxLineBytes is the longest line read (DefaultMaxLineBytes if not
	// positive); a longer line is a malformed record.
	MaxLineBytes int
	// MaxReported is how many malformed records the stats locate
	// (DefaultMaxReported if zero, none if negative).
	MaxReported int
	// Workers is how many goroutines parse and decode records (GOMAXPROCS,
	// at most 8, if not positive). Records are stored in the order of the
	// files whatever the number.
	Workers int
}

func (o FileOptions) withDefaults() FileOptions {
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.MaxReported == 0 {
		o.MaxReported = DefaultMaxReported
	}
	return o
}

// FileError says why a file was refused as a whole: it could not be read,
// or it is not NDJSON at all.
type FileError struct {
	File   string
	Line   int64 // 0 when the error is about the file, not a line of it
	Reason string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return e.File + ": " + e.Reason
}

// LineError is one malformed record: where it is and what is wrong.
type LineError struct {
	File string
	Line int64
	// Hit is the record's position (from 1) in the hits of a _search
	// response on the line; 0 when the line holds one record.
	Hit int
	Log calicolog.LogType // "" when it could not be told
	Err error
}

func (e *LineError) Error() string {
	if e.Hit > 0 {
		return fmt.Sprintf("%s:%d: hit %d: %v", e.File, e.Line, e.Hit, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// FileStats is what reading files loaded and skipped.
type FileStats struct {
	Files []string // files read, in order
	Lines int64    // lines read, blank ones included
	// Loaded counts the records stored, by log type.
	Loaded map[calicolog.LogType]int64
	// Malformed counts the records skipped, by log type; "" counts those
	// whose log type could not be told.
	Malformed map[calicolog.LogType]int64
	// First locates the first malformed records (FileOptions.MaxReported).
	First []*LineError
}

// String says in one line what was loaded and skipped, e.g. "4711 records
// loaded (flows 4000, dns 600, l7 111), 2 malformed skipped, from 6 files".
func (s FileStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s loaded (", s.Records(), plural(s.Records(), "record", "records"))
	for i, t := range calicolog.LogTypes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", t, s.Loaded[t])
	}
	fmt.Fprintf(&b, "), %d malformed skipped, from %d %s", s.MalformedRecords(), len(s.Files), plural(int64(len(s.Files)), "file", "files"))
	return b.String()
}

// Records is the number of records loaded.
func (s FileStats) Records() int64 {
	var n int64
	for _, c := range s.Loaded {
		n += c
	}
	return n
}

// MalformedRecords is the number of records skipped.
func (s FileStats) MalformedRecords() int64 {
	var n int64
	for _, c := range s.Malformed {
		n += c
	}
	return n
}

// Err summarises the malformed records on one line, naming the first ones
// by file:line and what was wrong with them; nil when there were none.
func (s FileStats) Err() error {
	total := s.MalformedRecords()
	if total == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d malformed %s skipped (", total, plural(total, "record", "records"))
	sep := ""
	for _, t := range append(slices.Clone(calicolog.LogTypes), "") {
		if n := s.Malformed[t]; n > 0 {
			name := string(t)
			if t == "" {
				name = "log type unknown"
			}
			fmt.Fprintf(&b, "%s%s %d", sep, name, n)
			sep = ", "
		}
	}
	fmt.Fprintf(&b, ", %d loaded)", s.Records())
	for i, e := range s.First {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	if more := total - int64(len(s.First)); more > 0 && len(s.First) > 0 {
		fmt.Fprintf(&b, "; and %d more", more)
	}
	return errors.New(b.String())
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (s *FileStats) loaded(t calicolog.LogType) {
	if s.Loaded == nil {
		s.Loaded = map[calicolog.LogType]int64{}
	}
	s.Loaded[t]++
}

func (s *FileStats) malformed(max int, e *LineError) {
	if s.Malformed == nil {
		s.Malformed = map[calicolog.LogType]int64{}
	}
	s.Malformed[e.Log]++
	if len(s.First) < max {
		s.First = append(s.First, e)
	}
}

// File is a Source over NDJSON files of Calico log documents, loaded into
// memory once: its aggregations are those of a Memory holding the same
// records. Its Kind is "file".
type File struct {
	mem         *Memory
	stats       FileStats
	first, last time.Time
}

var _ Source = (*File)(nil)

// OpenFiles reads every file opts names into a new File source. Each line
// of a file is a Calico document, an Elasticsearch _search hit
// ({"_index": ..., "_source": {...}}) or a whole _search response (its
// hits.hits); gzip files are read as such whatever their name. A record
// that breaks the log contract is skipped and counted (Stats, and Count of
// its window). A path that names nothing, a file that cannot be read or
// that is not NDJSON at all is an error (*FileError), and nothing is
// returned.
func OpenFiles(ctx context.Context, opts FileOptions) (*File, error) {
	opts = opts.withDefaults()
	if opts.LogType != "" {
		if _, err := calicolog.ParseLogType(string(opts.LogType)); err != nil {
			return nil, err
		}
	}
	files, err := ExpandPaths(opts.Paths)
	if err != nil {
		return nil, err
	}
	f := &File{mem: NewMemory("file")}
	for _, name := range files {
		if err := f.mem.readFile(ctx, name, opts, &f.stats); err != nil {
			return nil, err
		}
	}
	f.first, f.last = f.mem.span()
	return f, nil
}

// ExpandPaths lists the files paths name, in order and each once: a file
// as it is, a folder as its files whose names end with one of
// FileExtensions (sorted), a glob pattern as what it matches. A path or
// pattern that names no file is an error.
func ExpandPaths(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, errors.New("no file or folder to read")
	}
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	for _, p := range paths {
		if p == "-" {
			add(p)
			continue
		}
		matches := []string{p}
		if strings.ContainsAny(p, "*?[") {
			var err error
			if matches, err = filepath.Glob(p); err != nil {
				return nil, fmt.Errorf("pattern %q: %w", p, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("pattern %q matches no file", p)
			}
		}
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil {
				return nil, &FileError{File: m, Reason: pathReason(err)}
			}
			if !fi.IsDir() {
				add(m)
				continue
			}
			entries, err := os.ReadDir(m)
			if err != nil {
				return nil, &FileError{File: m, Reason: pathReason(err)}
			}
			n := 0
			for _, e := range entries {
				if e.Type().IsRegular() && hasLogExtension(e.Name()) {
					add(filepath.Join(m, e.Name()))
					n++
				}
			}
			if n == 0 {
				return nil, &FileError{File: m, Reason: "a folder with no file named *" + strings.Join(FileExtensions, ", *")}
			}
		}
	}
	return out, nil
}

// pathReason is what went wrong with a path, without the path.
func pathReason(err error) string {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

func hasLogExtension(name string) bool {
	for _, ext := range FileExtensions {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// Kind is "file".
func (f *File) Kind() string { return f.mem.Kind() }

// Aggregate runs q over the records of w.
func (f *File) Aggregate(ctx context.Context, w Window, q Query) ([]Row, error) {
	return f.mem.Aggregate(ctx, w, q)
}

// Count returns the records of t in w, malformed ones included.
func (f *File) Count(ctx context.Context, w Window, t calicolog.LogType) (Counts, error) {
	return f.mem.Count(ctx, w, t)
}

// Samples returns up to n records of t in w that match every filter.
func (f *File) Samples(ctx context.Context, w Window, t calicolog.LogType, filters []Term, n int) ([]json.RawMessage, error) {
	return f.mem.Samples(ctx, w, t, filters, n)
}

// Stats is what the files held: records loaded and skipped.
func (f *File) Stats() FileStats { return f.stats }

// Span is the end_time of the first and of the last record loaded; ok is
// false when no record was.
func (f *File) Span() (first, last time.Time, ok bool) {
	return f.first, f.last, !f.first.IsZero()
}

// span is the earliest and latest end_time m holds (zero times when empty).
func (m *Memory) span() (first, last time.Time) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	lo, hi, seen := int64(0), int64(0), false
	see := func(end int64) {
		if !seen || end < lo {
			lo = end
		}
		if !seen || end > hi {
			hi = end
		}
		seen = true
	}
	spanOf(&m.flows, see)
	spanOf(&m.dns, see)
	spanOf(&m.l7, see)
	if !seen {
		return time.Time{}, time.Time{}
	}
	return time.Unix(lo, 0).UTC(), time.Unix(hi, 0).UTC()
}

func spanOf[R any](t *table[R], see func(int64)) {
	if len(t.minutes) == 0 {
		return
	}
	lo, hi := int64(0), int64(0)
	first := true
	for minute := range t.minutes {
		if first || minute < lo {
			lo = minute
		}
		if first || minute > hi {
			hi = minute
		}
		first = false
	}
	for _, s := range t.minutes[lo] {
		see(s.end)
	}
	for _, s := range t.minutes[hi] {
		see(s.end)
	}
}

// readFile reads one file ("-": the standard input) into m.
func (m *Memory) readFile(ctx context.Context, name string, opts FileOptions, st *FileStats) error {
	if name == "-" {
		in := opts.Stdin
		if in == nil {
			in = os.Stdin
		}
		return m.ReadNDJSON(ctx, in, "stdin", opts, st)
	}
	fh, err := os.Open(name)
	if err != nil {
		return &FileError{File: name, Reason: pathReason(err)}
	}
	defer fh.Close()
	return m.ReadNDJSON(ctx, fh, name, opts, st)
}

// ReadNDJSON reads one stream of NDJSON Calico documents (gzip compressed
// or not) named name into m, adding what it loaded and skipped to st. The
// log type of plain documents is opts.LogType or, if empty, the one name
// tells. It returns a *FileError when the stream cannot be read or is not
// NDJSON at all (its first line is binary data, a JSON array, HTML, a
// pretty-printed JSON document or no JSON); the records before the error
// stay loaded.
func (m *Memory) ReadNDJSON(ctx context.Context, r io.Reader, name string, opts FileOptions, st *FileStats) error {
	opts = opts.withDefaults()
	st.Files = append(st.Files, name)
	fileType, from := opts.LogType, "the options"
	if fileType == "" {
		fileType, from = LogTypeOfName(filepath.Base(name)), fmt.Sprintf("the file name %q", filepath.Base(name))
	}
	br := bufio.NewReaderSize(r, 256<<10)
	compressed := false
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return &FileError{File: name, Reason: "gzip header: " + err.Error()}
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 256<<10)
		compressed = true
	}
	lr := lineReader{r: br, max: opts.MaxLineBytes}
	p := lineParser{fileType: fileType, typeFrom: from, explicit: opts.LogType != ""}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Lines are read here, in batches; workers parse and decode the
	// batches; one collector stores them in Memory in the order they were
	// read, so the result does not depend on the number of workers.
	workers := opts.Workers
	if workers <= 0 {
		workers = min(runtime.GOMAXPROCS(0), 8)
	}
	jobs := make(chan *lineBatch, workers)
	queue := make(chan *lineBatch, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			wp := p // each worker has its own parser buffer
			wp.out = nil
			for b := range jobs {
				b.decode(&wp, opts.MaxLineBytes)
				close(b.done)
			}
		})
	}
	// Batches go back to free once collected: what the collector keeps
	// of them is copied.
	free := make(chan *lineBatch, 3*workers+1)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for b := range queue {
			<-b.done
			m.collect(b, name, opts.MaxReported, st)
			b.reset()
			select {
			case free <- b:
			default:
			}
		}
	}()
	var lines int64
	err := readLines(ctx, &lr, name, compressed, &lines, free, func(b *lineBatch) {
		queue <- b
		jobs <- b
	})
	close(jobs)
	close(queue)
	wg.Wait()
	<-collected
	st.Lines += lines
	return err
}

// Batches of lines are sent to the workers when they hold this many lines
// or bytes.
const (
	batchLines = 256
	batchBytes = 1 << 20
)

// lineBatch is consecutive lines of a file, and what they hold once
// decoded.
type lineBatch struct {
	arena []byte     // the lines' bytes
	lines []lineSpan // in order
	found []found    // filled by decode, in order of lines
	done  chan struct{}
}

type lineSpan struct {
	no         int64
	start, end int // in arena
	long       bool
}

// found is one record found on a line: decoded, or malformed with why.
type found struct {
	no  int64
	hit int
	log calicolog.LogType
	rec record
	raw []byte // the document, to place a malformed one in its window
	err error
}

// newBatch takes a batch from free, or makes one.
func newBatch(free <-chan *lineBatch) *lineBatch {
	select {
	case b := <-free:
		return b
	default:
		return &lineBatch{done: make(chan struct{})}
	}
}

func (b *lineBatch) reset() {
	b.arena, b.lines = b.arena[:0], b.lines[:0]
	clear(b.found) // drop what the records point to
	b.found = b.found[:0]
	b.done = make(chan struct{})
}

func (b *lineBatch) add(no int64, line []byte, long bool) {
	start := len(b.arena)
	b.arena = append(b.arena, line...)
	b.lines = append(b.lines, lineSpan{no: no, start: start, end: len(b.arena), long: long})
}

// readLines reads lr's lines, checking the first is NDJSON, and hands
// them on in batches to send.
func readLines(ctx context.Context, lr *lineReader, name string, compressed bool, lines *int64, free <-chan *lineBatch, send func(*lineBatch)) error {
	b := newBatch(free)
	defer func() {
		if len(b.lines) > 0 {
			send(b)
		}
	}()
	first := true
	for {
		line, long, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			what := "reading"
			if compressed {
				what = "reading the gzip stream"
			}
			return &FileError{File: name, Line: *lines + 1, Reason: fmt.Sprintf("%s after %d lines: %v (a truncated or damaged copy?)", what, *lines, err)}
		}
		*lines++
		if *lines%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 && !long {
			continue
		}
		if first {
			first = false
			if reason := notNDJSON(trimmed, long); reason != "" {
				return &FileError{File: name, Line: *lines, Reason: reason}
			}
		}
		b.add(*lines, trimmed, long)
		if len(b.lines) >= batchLines || len(b.arena) >= batchBytes {
			send(b)
			b = newBatch(free)
		}
	}
}

// decode parses and decodes every line of b with p.
func (b *lineBatch) decode(p *lineParser, maxLine int) {
	for _, l := range b.lines {
		line := b.arena[l.start:l.end:l.end]
		if l.long {
			err := fmt.Errorf("line longer than %d bytes, the maximum line size", maxLine)
			b.found = append(b.found, found{no: l.no, log: p.fileType, err: err})
			continue
		}
		docs, err := p.parse(line)
		if err != nil {
			b.found = append(b.found, found{no: l.no, log: p.fileType, raw: line, err: err})
			continue
		}
		for _, d := range docs {
			f := found{no: l.no, hit: d.hit, log: d.log, raw: d.doc, err: d.err}
			if f.err == nil {
				if sniffed := SniffLogType(d.doc); sniffed != "" && sniffed != d.log {
					f.err = fmt.Errorf("a %s log where %s logs were expected (log type from %s)", logName(sniffed), logName(d.log), d.from)
				} else {
					f.err = f.rec.decode(d.log, d.doc)
				}
			}
			b.found = append(b.found, f)
		}
	}
}

// collect stores the records b found, and counts the malformed ones.
func (m *Memory) collect(b *lineBatch, name string, maxReported int, st *FileStats) {
	for i := range b.found {
		f := &b.found[i]
		if f.err == nil {
			m.add(&f.rec)
			st.loaded(f.log)
			continue
		}
		if f.log != "" {
			m.addMalformed(f.log, f.raw)
		}
		st.malformed(maxReported, &LineError{File: name, Line: f.no, Hit: f.hit, Log: f.log, Err: f.err})
	}
}

// logName is how messages name log type t.
func logName(t calicolog.LogType) string {
	switch t {
	case calicolog.Flows:
		return "flow"
	case calicolog.DNS:
		return "DNS"
	case calicolog.L7:
		return "L7"
	}
	return string(t)
}

// LogTypeOfName is the log type a file name tells: the first of its words
// (split at anything but letters and digits) that is flows, flow,
// flowlogs, dns, dnslogs, l7 or l7logs; "" when none is.
func LogTypeOfName(name string) calicolog.LogType {
	for word := range strings.FieldsFuncSeq(strings.ToLower(name), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		switch word {
		case "flows", "flow", "flowlogs":
			return calicolog.Flows
		case "dns", "dnslogs":
			return calicolog.DNS
		case "l7", "l7logs":
			return calicolog.L7
		}
	}
	return ""
}

// SniffLogType tells the log type of a Calico document by the fields only
// one log type has (source_name_aggr for flows, qname for DNS,
// src_name_aggr for L7); "" when none or several are there.
func SniffLogType(doc []byte) calicolog.LogType {
	var found calicolog.LogType
	for _, sig := range signatures {
		if bytes.Contains(doc, sig.key) {
			if found != "" {
				return ""
			}
			found = sig.t
		}
	}
	return found
}

var signatures = []struct {
	t   calicolog.LogType
	key []byte
}{
	{calicolog.Flows, []byte(`"source_name_aggr"`)},
	{calicolog.DNS, []byte(`"qname"`)},
	{calicolog.L7, []byte(`"src_name_aggr"`)},
}

// notNDJSON says why a file whose first non-blank line is line is not
// NDJSON at all ("" when it may be). long says the line was cut at the
// maximum line size.
func notNDJSON(line []byte, long bool) string {
	if len(line) == 0 {
		return "" // a long line of blanks: a malformed record
	}
	head := line
	if len(head) > 512 {
		head = head[:512]
		for len(head) > 0 && !utf8.RuneStart(line[len(head)]) {
			head = head[:len(head)-1] // a rune cut in two is no sign of binary data
		}
	}
	if bytes.IndexByte(head, 0) >= 0 || !utf8.Valid(head) {
		for _, c := range []struct{ magic, name string }{
			{"BZh", "bzip2"}, {"\xfd7zXZ\x00", "xz"}, {"\x28\xb5\x2f\xfd", "zstd"}, {"PK\x03\x04", "zip"},
		} {
			if bytes.HasPrefix(line, []byte(c.magic)) {
				return fmt.Sprintf("%s compressed data, not NDJSON (only gzip is read: decompress it, or compress it with gzip)", c.name)
			}
		}
		return "binary data, not NDJSON (one JSON document per line, optionally gzip compressed)"
	}
	switch line[0] {
	case '{':
		if bytes.Equal(line, []byte("{")) {
			return "a JSON document spread over several lines, not NDJSON: put each document on one line (jq -c)"
		}
		return ""
	case '[':
		return "a JSON array, not NDJSON: put each document on a line of its own (jq -c '.[]')"
	case '<':
		if bytes.Contains(bytes.ToLower(head), []byte("<html")) || bytes.Contains(bytes.ToLower(head), []byte("<!doctype html")) {
			return "an HTML page, not NDJSON (an error page saved in place of the logs?)"
		}
		return "XML or HTML, not NDJSON"
	}
	if !long && json.Valid(line) {
		return "a JSON value that is not an object, not NDJSON of Calico documents"
	}
	return fmt.Sprintf("not JSON: the file starts with %q", truncateBytes(line, 40))
}

func truncateBytes(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + "..."
}

// lineReader reads lines of at most max bytes from r.
type lineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// next returns the next line without its line ending, valid until the next
// call. long says the line was longer than max: line then holds its first
// max bytes. It returns io.EOF after the last line.
func (lr *lineReader) next() (line []byte, long bool, err error) {
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if err == nil && len(lr.buf) == 0 && !long && len(chunk)-1 <= lr.max {
			return trimEOL(chunk), false, nil // the common case: no copy
		}
		if !long {
			body := chunk
			if err == nil {
				body = chunk[:len(chunk)-1]
			}
			if len(lr.buf)+len(body) > lr.max {
				lr.buf = append(lr.buf, body[:lr.max-len(lr.buf)]...)
				long = true
			} else {
				lr.buf = append(lr.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			return trimEOL(lr.buf), long, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(lr.buf) == 0 && !long {
				return nil, false, io.EOF
			}
			return trimEOL(lr.buf), long, nil
		default:
			return nil, false, err
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// lineDoc is one record found on a line.
type lineDoc struct {
	log  calicolog.LogType // "" when it could not be told
	from string            // what told the log type
	doc  []byte            // the Calico document (a _source)
	hit  int               // position in a _search response's hits, from 1
	err  error             // why the record cannot be loaded, before decoding
}

// lineParser finds the records of one line of a file whose plain
// documents are of log type fileType ("" when unknown), told by typeFrom.
type lineParser struct {
	fileType calicolog.LogType
	typeFrom string
	// explicit says the options gave fileType: it then holds for hits of
	// indices that name no log type too.
	explicit bool
	out      []lineDoc
}

var (
	sourceKey = []byte(`"_source"`)
	indexKey  = []byte(`"_index"`)
	hitsKey   = []byte(`"hits"`)
)

// hit is an Elasticsearch _search hit.
type hit struct {
	Index  *string         `json:"_index"`
	Source json.RawMessage `json:"_source"`
	Hits   json.RawMessage `json:"hits"`
}

// parse returns the records of line (trimmed, not empty), reusing the
// parser's buffer. An error means the line holds no record it can tell
// apart: it counts as one malformed record of the file's log type.
func (p *lineParser) parse(line []byte) ([]lineDoc, error) {
	p.out = p.out[:0]
	if line[0] != '{' {
		if line[0] == '[' {
			return nil, errors.New("a JSON array, not one document")
		}
		return nil, fmt.Errorf("not a JSON object: starts with %q", truncateBytes(line, 20))
	}
	if !bytes.Contains(line, sourceKey) && !bytes.Contains(line, indexKey) && !bytes.Contains(line, hitsKey) {
		return append(p.out, p.plain(line)), nil
	}
	var h hit
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	switch {
	case h.Source != nil || h.Index != nil:
		return append(p.out, p.hit(h, 0)), nil
	case h.Hits != nil:
		var hits struct {
			Hits []hit `json:"hits"`
		}
		if err := json.Unmarshal(h.Hits, &hits); err != nil || hits.Hits == nil {
			return nil, errors.New(`"hits" is not a _search response's {"hits": [...]}`)
		}
		for i, one := range hits.Hits {
			p.out = append(p.out, p.hit(one, i+1))
		}
		return p.out, nil
	}
	return append(p.out, p.plain(line)), nil
}

func (p *lineParser) plain(line []byte) lineDoc {
	d := lineDoc{log: p.fileType, from: p.typeFrom, doc: line}
	if d.log == "" {
		d.err = fmt.Errorf("a plain document, and neither the options nor %s tell its log type (flows, dns or l7)", p.typeFrom)
		if !json.Valid(line) {
			d.err = errors.New("not JSON, in a file whose log type is unknown")
		}
	}
	return d
}

func (p *lineParser) hit(h hit, n int) lineDoc {
	d := lineDoc{doc: h.Source, hit: n}
	if h.Index != nil {
		if t, ok := calicolog.IndexLogType(*h.Index); ok {
			d.log, d.from = t, fmt.Sprintf("_index %q", *h.Index)
		}
	}
	if d.log == "" && (h.Index == nil || p.explicit) {
		d.log, d.from = p.fileType, p.typeFrom
	}
	switch {
	case d.log == "" && h.Index != nil:
		d.err = fmt.Errorf("a hit of index %q, which is no Calico log index (tigera_secure_ee_<flows|dns|l7>.* or calico_<flow|dns|l7>logs); give the log type in the options to read it", *h.Index)
	case d.log == "":
		d.err = fmt.Errorf("a hit without _index, and neither the options nor %s tell its log type", p.typeFrom)
	case h.Source == nil:
		d.err = errors.New("a hit without _source (was the search run with \"_source\": false?)")
	case bytes.Equal(bytes.TrimSpace(h.Source), []byte("null")):
		d.err = errors.New("a hit whose _source is null")
	}
	return d
}
