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
	"sync"
	"time"
	"unicode/utf8"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

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
	// Checked on the open file too: a glob's match or a symlink may have
	// changed since the paths were listed.
	if fi, err := fh.Stat(); err != nil {
		return &FileError{File: name, Reason: pathReason(err)}
	} else if !fi.Mode().IsRegular() {
		return &FileError{File: name, Reason: notRegular(fi.Mode())}
	}
	return m.ReadNDJSON(ctx, fh, name, opts, st)
}

// ReadNDJSON reads one stream of NDJSON Calico documents (gzip compressed
// or not) named name into m, adding what it loaded and skipped to st. The
// log type of plain documents is opts.LogType or, if empty, the one name
// tells. A stream whose first line opens a JSON document spread over
// lines or an array (what Kibana or curl print) is read whole instead, as
// JSON values each holding a document or an array of them (readWhole).
// It returns a *FileError when the stream cannot be read or is not
// NDJSON at all (its first line is binary data, HTML or no JSON); the
// records before the error stay loaded.
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
	bounded := &boundedReader{r: br, left: opts.MaxFileBytes, max: opts.MaxFileBytes, ctx: ctx}
	lr := lineReader{r: bufio.NewReaderSize(bounded, 256<<10), max: opts.MaxLineBytes, maxRecord: opts.MaxRecordBytes}
	now := opts.Now()
	p := lineParser{fileType: fileType, typeFrom: from, explicit: opts.LogType != "",
		maxRecord: opts.MaxRecordBytes, notBefore: now.Add(-opts.MaxAge).Unix(), notAfter: now.Add(opts.MaxClockSkew).Unix()}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Lines are read here, in batches; workers parse and decode the
	// batches; one collector stores them in Memory in the order they were
	// read, so the result does not depend on the number of workers.
	workers := opts.Workers
	if workers <= 0 {
		// One core reads (and decompresses) the lines.
		workers = min(max(runtime.GOMAXPROCS(0)-1, 1), 8)
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
	if whole, ok := errors.AsType[*wholeDocument](err); ok {
		st.Lines += lines - 1 // readWhole counts the first line again
		return m.readWhole(ctx, whole, lr.r, name, p, opts, st)
	}
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
	// tooBig is the size of a plain document larger than the record
	// bound, whose bytes are not kept (0 for other lines).
	tooBig int
}

// found is one record found on a line: decoded, or malformed with why.
type found struct {
	no  int64
	hit int
	log calicolog.LogType
	rec record
	raw []byte // the document, to place a malformed one in its window
	err error
	// unplaced says the malformed record's end_time is not to be trusted
	// to place it in a window.
	unplaced bool
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
	if cap(b.arena) > 4*batchBytes {
		b.arena = nil // a long line's room is not kept
	}
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
		if ce := ctx.Err(); ce != nil && errors.Is(err, ce) {
			return ce
		}
		if be, ok := errors.AsType[*boundError](err); ok {
			return &FileError{File: name, Line: *lines + 1, Reason: be.Error()}
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
			if !long && startsWholeDocument(trimmed) {
				return &wholeDocument{first: append([]byte(nil), trimmed...), lineNo: *lines}
			}
			if reason := notNDJSON(trimmed, long); reason != "" {
				return &FileError{File: name, Line: *lines, Reason: reason}
			}
		}
		if len(trimmed) > lr.maxRecord && !long && !searchLine(trimmed) {
			// A plain document too large to be a record: refused here,
			// without copying its bytes on.
			b.lines = append(b.lines, lineSpan{no: *lines, start: len(b.arena), end: len(b.arena), tooBig: len(trimmed)})
		} else {
			b.add(*lines, trimmed, long)
		}
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
		if l.tooBig > 0 {
			err := fmt.Errorf("a record of %d bytes, more than the %d bytes a record may have (--file.max-record-size)", l.tooBig, p.maxRecord)
			b.found = append(b.found, found{no: l.no, log: p.fileType, err: err, unplaced: true})
			continue
		}
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
			if f.err == nil && len(d.doc) > p.maxRecord {
				f.err = fmt.Errorf("a record of %d bytes, more than the %d bytes a record may have (--file.max-record-size)", len(d.doc), p.maxRecord)
				f.raw, f.unplaced = nil, true
			}
			if f.err == nil {
				if sniffed := SniffLogType(d.doc); sniffed != "" && sniffed != d.log {
					f.err = fmt.Errorf("a %s log where %s logs were expected (log type from %s)", logName(sniffed), logName(d.log), d.from)
				} else if f.err = f.rec.decode(d.log, d.doc); f.err == nil {
					if end := f.rec.end(); end < p.notBefore || end > p.notAfter {
						f.err = fmt.Errorf("end_time %s is outside the plausible span %s to %s (--file.max-age, --file.max-clock-skew)",
							time.Unix(end, 0).UTC().Format(time.RFC3339), time.Unix(p.notBefore, 0).UTC().Format(time.RFC3339), time.Unix(p.notAfter, 0).UTC().Format(time.RFC3339))
						f.rec, f.unplaced = record{}, true
					}
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
		m.addMalformed(f.log, f.raw, f.unplaced)
		st.malformed(maxReported, &LineError{File: name, Line: f.no, Hit: f.hit, Log: f.log, Err: f.err})
	}
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
		return ""
	case '[':
		// A shorter array is read whole (startsWholeDocument).
		return "a JSON array on one line longer than the maximum line size: put each document on a line of its own (jq -c '.[]')"
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

// lineReader reads lines of at most max bytes from r; maxRecord is the
// largest record, which lines that are no _search answer or hit may not
// exceed.
type lineReader struct {
	r         *bufio.Reader
	max       int
	maxRecord int
	buf       []byte
}

// searchLine says whether line starts like an Elasticsearch _search
// answer or hit, which may hold many records, rather than a plain
// document.
func searchLine(line []byte) bool {
	head := line[:min(len(line), 512)]
	for _, key := range [][]byte{[]byte(`"took"`), hitsKey, indexKey, sourceKey, []byte(`"_id"`)} {
		if bytes.Contains(head, key) {
			return true
		}
	}
	return false
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

// boundError says a file went on beyond the bytes it may have.
type boundError struct{ max int64 }

func (e *boundError) Error() string {
	return fmt.Sprintf("more than %d bytes (decompressed), the most a file may have (--file.max-size): a gzip bomb, or a file that never ends?", e.max)
}

// boundedReader reads at most max bytes of r, then fails with a
// *boundError; it stops with ctx's error once ctx ends.
type boundedReader struct {
	r         io.Reader
	left, max int64
	ctx       context.Context
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	if b.left <= 0 {
		// One byte more tells a file of exactly max bytes from a longer one.
		var one [1]byte
		if n, _ := b.r.Read(one[:]); n == 0 {
			return 0, io.EOF
		}
		return 0, &boundError{max: b.max}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}
