package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

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
	// DefaultMaxRecordBytes is the largest record (a plain document, or a
	// hit's _source) decoded; Calico's records are a few kilobytes, so a
	// larger one is malformed and no field of a loaded record is longer.
	DefaultMaxRecordBytes = 1 << 20
	// DefaultMaxFileBytes is the most a file (once decompressed) is read
	// of: a file that goes on is refused there, so a gzip bomb or a device
	// cannot fill the memory or run for ever.
	DefaultMaxFileBytes = 64 << 30
	// DefaultMaxAge is how far before now a record's end_time may lie.
	DefaultMaxAge = 5 * 365 * 24 * time.Hour
	// DefaultMaxClockSkew is how far after now a record's end_time may
	// lie.
	DefaultMaxClockSkew = time.Hour
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
	// MaxRecordBytes is the largest record decoded (DefaultMaxRecordBytes
	// if not positive); a larger one is a malformed record.
	MaxRecordBytes int
	// MaxFileBytes is the most read of one file, decompressed
	// (DefaultMaxFileBytes if not positive); a longer file is refused.
	MaxFileBytes int64
	// MaxAge and MaxClockSkew bound the plausible end_times: from MaxAge
	// before Now to MaxClockSkew after it (DefaultMaxAge and
	// DefaultMaxClockSkew if not positive). A record outside is malformed,
	// counted without a window, and moves no window range.
	MaxAge, MaxClockSkew time.Duration
	// Now is the time the plausible span is measured from (time.Now if
	// nil).
	Now func() time.Time
	// Workers is how many goroutines parse and decode records (if not
	// positive, GOMAXPROCS less the one reading, at least 1 and at most 8).
	// Records are stored in the order of the files whatever the number.
	Workers int
}

func (o FileOptions) withDefaults() FileOptions {
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.MaxReported == 0 {
		o.MaxReported = DefaultMaxReported
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxClockSkew <= 0 {
		o.MaxClockSkew = DefaultMaxClockSkew
	}
	if o.Now == nil {
		o.Now = time.Now
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
				if !fi.Mode().IsRegular() {
					return nil, &FileError{File: m, Reason: notRegular(fi.Mode())}
				}
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

// notRegular says why a path that is neither a folder nor a regular file
// is not read: a device, a FIFO or a socket may never end.
func notRegular(mode os.FileMode) string {
	what := "not a regular file"
	switch {
	case mode&os.ModeCharDevice != 0, mode&os.ModeDevice != 0:
		what = "a device"
	case mode&os.ModeNamedPipe != 0:
		what = "a FIFO"
	case mode&os.ModeSocket != 0:
		what = "a socket"
	}
	return what + ", not a regular file: only regular files are read (use --file.path=- to read a stream on the standard input)"
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
