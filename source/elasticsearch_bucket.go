package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// compositeBucket is one group of a composite page as Elasticsearch wrote
// it: {"key":{"k0":…},"doc_count":n,"m0":{"value":x},"m3":{"count":…,
// "avg":…},…}. Decoding a page of 50,000 buckets into maps (a map of the
// bucket's members, another of its key, a struct per metric) cost more
// than a second of CPU for a 7.5 MB page, as much as Elasticsearch spent
// answering it; the bucket now keeps its bytes and row reads them in one
// pass, with no map and one string per key value.
type compositeBucket struct {
	raw []byte
}

// UnmarshalJSON keeps the bucket's bytes (encoding/json has checked they
// are JSON); null is an empty bucket.
func (b *compositeBucket) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		b.raw = nil
		return nil
	}
	b.raw = append(b.raw[:0], data...)
	return nil
}

// row turns a bucket into a Row of q: the key values named k0, k1, … in
// GroupBy order ("" for a null or absent one), the doc_count for Count,
// and each other metric from the sub-aggregation named m<i> (its value,
// or for Avg its avg and count; null or absent when no record had the
// field). Members it does not know are skipped.
func (b *compositeBucket) row(q Query) (Row, bucketWeights, error) {
	row := Row{Key: make([]string, len(q.GroupBy)), Values: make([]float64, len(q.Metrics))}
	w := bucketWeights{present: make([]bool, len(q.Metrics)), counts: make([]float64, len(q.Metrics))}
	return b.rowInto(q, row, w)
}

// rowInto is row reading into row.Key, row.Values and w, which hold a
// value per group-by field, per metric and per metric: a page's rows can
// then share a few large allocations, and its weights one scratch.
func (b *compositeBucket) rowInto(q Query, row Row, w bucketWeights) (Row, bucketWeights, error) {
	raw := b.raw
	if raw == nil {
		raw = []byte("null")
	}
	s := jsonScanner{b: raw}
	if err := s.row(q, row, w); err != nil {
		return Row{}, w, err
	}
	return row, w, nil
}

// row reads the bucket at the scanner (an object, or null: no member) into
// row and w as rowInto does, and leaves the scanner after it.
func (s *jsonScanner) row(q Query, row Row, w bucketWeights) error {
	clear(row.Key)
	clear(row.Values)
	clear(w.present)
	clear(w.counts)
	var docCount float64
	members := func(name []byte) error {
		switch {
		case string(name) == "key":
			clear(row.Key) // the last of repeated members counts
			if s.peek() == 'n' {
				_, _, err := s.number() // null: no key values
				return err
			}
			return s.object(func(k []byte) error {
				i, ok := memberIndex(k, 'k', len(q.GroupBy))
				if !ok {
					return s.skip()
				}
				v, err := s.keyValue()
				if err != nil {
					return fmt.Errorf("group key %s: %w", q.GroupBy[i], err)
				}
				row.Key[i] = v
				return nil
			})
		case string(name) == "doc_count":
			n, _, err := s.number()
			if err != nil {
				return fmt.Errorf("bucket doc_count: %w", err)
			}
			docCount = n // 0 for null; the last of repeated members counts
			return nil
		}
		i, ok := memberIndex(name, 'm', len(q.Metrics))
		if !ok || q.Metrics[i].Kind == Count {
			return s.skip()
		}
		if err := s.metric(q.Metrics[i].Kind, &row.Values[i], &w.present[i], &w.counts[i]); err != nil {
			return fmt.Errorf("metric %s: %w", q.Metrics[i].Name, err)
		}
		return nil
	}
	if s.peek() == 'n' {
		if lit := s.literal(); string(lit) != "null" {
			return s.errorf("%s is not a bucket", lit)
		}
	} else if err := s.object(members); err != nil {
		return err
	}
	for i, m := range q.Metrics {
		if m.Kind == Count {
			row.Values[i] = docCount
			w.present[i], w.counts[i] = true, docCount
		}
	}
	return nil
}

// memberIndex reads a member name made of prefix and an index below n
// written as strconv.Itoa writes it ("k0", "m12"; not "k01" or "k+1").
func memberIndex(name []byte, prefix byte, n int) (int, bool) {
	if len(name) < 2 || name[0] != prefix || (name[1] == '0' && len(name) > 2) {
		return 0, false
	}
	i := 0
	for _, c := range name[1:] {
		if c < '0' || c > '9' || i > n {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	return i, i < n
}

// jsonScanner reads the JSON of one bucket in place. Every read returns
// an error, never panics, on bytes that are not what it expects.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{s.i}, args...)...)
}

// peek is the next byte that is not space, 0 at the end.
func (s *jsonScanner) peek() byte {
	s.space()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// object reads an object, calling member with each member's name (valid
// until the next read) with the scanner at its value, which member must
// read whole.
func (s *jsonScanner) object(member func(name []byte) error) error {
	if s.peek() != '{' {
		return s.errorf("not an object")
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.errorf("a member name must be a string")
		}
		name, err := s.name()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.errorf("no colon after member %q", name)
		}
		s.i++
		if err := member(name); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errorf("neither a comma nor the end of the object")
		}
	}
}

// str reads a string; only one holding escapes or bytes that are not
// UTF-8 is unquoted by encoding/json (which replaces those bytes).
func (s *jsonScanner) str() (string, error) {
	start := s.i
	s.i++ // the opening quote
	escaped := false
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '\\':
			escaped = true
			s.i += 2
		case c == '"':
			s.i++
			if !escaped && utf8.Valid(s.b[start+1:s.i-1]) {
				return string(s.b[start+1 : s.i-1]), nil
			}
			var out string
			if err := json.Unmarshal(s.b[start:s.i], &out); err != nil {
				return "", s.errorf("string: %v", err)
			}
			return out, nil
		case c < 0x20:
			return "", s.errorf("control character in a string")
		default:
			s.i++
		}
	}
	return "", s.errorf("unterminated string")
}

// name reads a member name: the bytes between the quotes when they need
// no unquoting, without a copy.
func (s *jsonScanner) name() ([]byte, error) {
	start := s.i
	s.i++ // the opening quote
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			if raw := s.b[start+1 : s.i-1]; utf8.Valid(raw) {
				return raw, nil
			}
			s.i = start
			v, err := s.str()
			return []byte(v), err
		case c == '\\':
			s.i = start
			v, err := s.str()
			return []byte(v), err
		case c < 0x20:
			return nil, s.errorf("control character in a string")
		default:
			s.i++
		}
	}
	return nil, s.errorf("unterminated string")
}

// literal reads the bytes of a number, true, false or null.
func (s *jsonScanner) literal() []byte {
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return s.b[start:s.i]
		}
		s.i++
	}
	return s.b[start:s.i]
}

// number reads a number, or null (null true).
func (s *jsonScanner) number() (float64, bool, error) {
	switch c := s.peek(); {
	case c == '-' || (c >= '0' && c <= '9'):
		lit := s.literal()
		f, err := strconv.ParseFloat(string(lit), 64)
		if err != nil {
			return 0, false, s.errorf("number %s: %v", lit, err)
		}
		return f, false, nil
	case c == 'n':
		if lit := s.literal(); string(lit) != "null" {
			return 0, false, s.errorf("%s is not a number", lit)
		}
		return 0, true, nil
	}
	return 0, false, s.errorf("not a number")
}

// keyValue reads a composite key value as keyString renders it.
func (s *jsonScanner) keyValue() (string, error) {
	switch c := s.peek(); {
	case c == '"':
		return s.str()
	case c == '{' || c == '[':
		start := s.i
		if err := s.skip(); err != nil {
			return "", err
		}
		return keyString(s.b[start:s.i])
	case c == 0:
		return "", s.errorf("no value")
	}
	lit := s.literal()
	if i, err := strconv.ParseInt(string(lit), 10, 64); err == nil {
		return strconv.FormatInt(i, 10), nil
	}
	return keyString(lit)
}

// metric reads a sub-aggregation's result into a row's value and weights:
// {"value": x} for every kind but Avg, whose stats give avg and count.
func (s *jsonScanner) metric(kind MetricKind, value *float64, present *bool, count *float64) error {
	*value, *present, *count = 0, false, 0 // the last of repeated members counts
	if s.peek() == 'n' {
		_, _, err := s.number() // null: no record had the field
		return err
	} // the last of repeated members counts
	var (
		v, avg, n          float64
		hasV, hasAvg, hasN bool
	)
	start := s.i
	err := s.object(func(name []byte) error {
		var (
			f    float64
			null bool
			err  error
		)
		// encoding/json matched these names regardless of case.
		var field string
		switch {
		case bytes.EqualFold(name, nameValue):
			field = "value"
		case bytes.EqualFold(name, nameAvg):
			field = "avg"
		case bytes.EqualFold(name, nameCount):
			field = "count"
		default:
			return s.skip()
		}
		f, null, err = s.number()
		if err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		switch field {
		case "value":
			v, hasV = f, !null
		case "avg":
			avg, hasAvg = f, !null
		case "count":
			n, hasN = f, !null
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%.80s: %w", s.b[start:min(s.i, len(s.b))], err)
	}
	switch {
	case kind == Avg && hasAvg && hasN:
		*value, *present, *count = avg, n > 0, n
	case kind != Avg && hasV:
		*value, *present = v, true
	}
	return nil
}

// skip reads past any value.
func (s *jsonScanner) skip() error {
	switch c := s.peek(); c {
	case '"':
		_, err := s.str()
		return err
	case '{':
		return s.object(func([]byte) error { return s.skip() })
	case '[':
		s.i++
		if s.peek() == ']' {
			s.i++
			return nil
		}
		for {
			if err := s.skip(); err != nil {
				return err
			}
			if end, err := s.elementEnd(); end || err != nil {
				return err
			}
		}
	case 0:
		return s.errorf("no value")
	}
	switch lit := s.literal(); {
	case string(lit) == "true" || string(lit) == "false" || string(lit) == "null" || validNumber(lit):
		return nil
	case len(lit) == 0:
		return s.errorf("unexpected %q", s.b[s.i])
	default:
		return s.errorf("%.40q is not a JSON value", lit)
	}
}

// The member names of a metric's result that row reads (encoding/json
// matched struct fields regardless of case).
var nameValue, nameAvg, nameCount = []byte("value"), []byte("avg"), []byte("count")
