package source

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxWholeDocumentBytes bounds a file read as one JSON document or array
// (see wholeDocument): it is held in memory whole, unlike NDJSON.
const MaxWholeDocumentBytes = 1 << 30

// wholeDocument is what readLines returns when a file's first line shows
// a JSON document or array spread over lines (a _search answer as Kibana
// or curl ?pretty print it, a JSON array of documents): the file is then
// read whole.
type wholeDocument struct {
	first  []byte // the first non-blank line, read already
	lineNo int64  // its line number
}

func (w *wholeDocument) Error() string { return "a JSON document or array spread over lines" }

// startsWholeDocument reports whether a file whose first non-blank line is
// line holds JSON spread over lines: a line that only opens an object, or
// an array.
func startsWholeDocument(line []byte) bool {
	return bytes.Equal(line, []byte("{")) || (len(line) > 0 && line[0] == '[')
}

// readWhole reads the rest of r after the first line w.first as JSON
// values, each an object (a document, a _search hit or answer) or an
// array of them, and stores the documents as if each were a line of
// NDJSON: a malformed one is counted and located by the line it starts
// on, and the others are kept. A stream that is not JSON is refused.
func (m *Memory) readWhole(ctx context.Context, w *wholeDocument, r *bufio.Reader, name string, p lineParser, opts FileOptions, st *FileStats) error {
	rest, err := io.ReadAll(io.LimitReader(r, MaxWholeDocumentBytes+1))
	if err != nil {
		return &FileError{File: name, Line: w.lineNo, Reason: fmt.Sprintf("reading: %v (a truncated or damaged copy?)", err)}
	}
	data := append(append(append([]byte(nil), w.first...), '\n'), rest...)
	if len(data) > MaxWholeDocumentBytes {
		return &FileError{File: name, Line: w.lineNo, Reason: fmt.Sprintf("a JSON document over %d bytes: write it as NDJSON, one document per line (jq -c '.[]' or jq -c '.hits.hits[]')", MaxWholeDocumentBytes)}
	}
	st.Lines += int64(bytes.Count(data, []byte("\n")))
	if data[len(data)-1] != '\n' {
		st.Lines++
	}
	lineAt := func(off int64) int64 { return w.lineNo + int64(bytes.Count(data[:off], []byte("\n"))) }
	b := newBatch(nil)
	var compact bytes.Buffer
	add := func(off int64, raw json.RawMessage) {
		compact.Reset()
		if err := json.Compact(&compact, raw); err != nil {
			compact.Reset()
			compact.Write(raw)
		}
		b.add(lineAt(off), compact.Bytes(), compact.Len() > opts.MaxLineBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		off := nextValue(data, dec.InputOffset())
		if off == int64(len(data)) {
			break
		}
		if data[off] != '[' {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return &FileError{File: name, Line: lineAt(off), Reason: "not JSON: " + jsonReason(err)}
			}
			add(off, raw)
			continue
		}
		if _, err := dec.Token(); err != nil { // [
			return &FileError{File: name, Line: lineAt(off), Reason: "not JSON: " + jsonReason(err)}
		}
		for dec.More() {
			elem := nextValue(data, dec.InputOffset())
			if elem < int64(len(data)) && data[elem] == ',' {
				elem = nextValue(data, elem+1)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return &FileError{File: name, Line: lineAt(elem), Reason: "not JSON: " + jsonReason(err)}
			}
			add(elem, raw)
		}
		if _, err := dec.Token(); err != nil { // ]
			return &FileError{File: name, Line: lineAt(off), Reason: "not JSON: an array that does not end: " + jsonReason(err)}
		}
	}
	b.decode(&p, opts.MaxLineBytes)
	m.collect(b, name, opts.MaxReported, st)
	return nil
}

// nextValue returns the offset of the first byte at or after off that is
// not JSON white space.
func nextValue(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\n', '\r':
			off++
		default:
			return off
		}
	}
	return off
}

func jsonReason(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "it ends before the document does (a truncated copy?)"
	}
	return err.Error()
}
