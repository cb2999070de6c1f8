package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// The members of a composite page DecodeAnswer reads, matched regardless
// of case as encoding/json matches struct fields.
var (
	nameTook, nameTimedOut, nameShards = []byte("took"), []byte("timed_out"), []byte("_shards")
	nameAggregations, nameGroups       = []byte("aggregations"), []byte("groups")
	nameAfterKey, nameBuckets          = []byte("after_key"), []byte("buckets")
)

// DecodeAnswer reads a composite page with jsonScanner in one pass over
// the body, to the same compositeResponse encoding/json would give (field
// names in any case, repeated members merged the same way), without
// encoding/json's validating pass and its rescan and copy of every
// bucket: those were half of the CPU left in reading a page of 50,000
// buckets. Only the small members (_shards, after_key) go through
// encoding/json. The buckets keep slices of one copy of body.
//
// With r.rows set, the buckets are read into rows as they are met, and
// none keeps body: the page is read in one pass, not two.
func (r *compositeResponse) DecodeAnswer(body []byte) error {
	s := jsonScanner{b: body}
	if r.rows == nil {
		s.b = append([]byte(nil), body...)
	}
	if s.null() { // as encoding/json: nothing decoded (check refuses it)
		return s.end()
	}
	err := s.object(func(name []byte) error {
		switch {
		case bytes.EqualFold(name, nameTook):
			return s.intInto(&r.Took)
		case bytes.EqualFold(name, nameTimedOut):
			return s.boolInto(&r.TimedOut)
		case bytes.EqualFold(name, nameShards):
			return s.decodeInto(&r.Shards)
		case bytes.EqualFold(name, nameAggregations):
			if s.null() {
				return nil
			}
			return s.object(func(name []byte) error {
				if !bytes.EqualFold(name, nameGroups) {
					return s.skip()
				}
				if s.null() {
					r.Aggregations.Groups = nil
					return nil
				}
				if r.Aggregations.Groups == nil {
					r.Aggregations.Groups = &compositeGroups{}
				}
				return s.groups(r.Aggregations.Groups, r.rows)
			})
		}
		return s.skip()
	})
	if err != nil {
		return err
	}
	return s.end()
}

// end checks that nothing but space follows.
func (s *jsonScanner) end() error {
	if s.space(); s.i < len(s.b) {
		return s.errorf("more after the answer")
	}
	return nil
}

// groups reads the composite aggregation's object into g, its buckets
// into rows when set (see compositeResponse).
func (s *jsonScanner) groups(g *compositeGroups, rows *pageRows) error {
	return s.object(func(name []byte) error {
		switch {
		case bytes.EqualFold(name, nameAfterKey):
			return s.decodeInto(&g.AfterKey)
		case bytes.EqualFold(name, nameBuckets):
			if rows != nil {
				if rows.seen {
					return s.errorf("buckets given twice")
				}
				rows.seen = true
			}
			if s.null() {
				g.Buckets = nil
				return nil
			}
			if s.peek() != '[' {
				return s.errorf("buckets is not an array")
			}
			s.i++
			g.Buckets = g.Buckets[:0]
			if s.peek() == ']' {
				s.i++
				if g.Buckets == nil {
					g.Buckets = []compositeBucket{}
				}
				return nil
			}
			if rows != nil {
				return s.bucketRows(rows)
			}
			for {
				start := s.peekIndex()
				if err := s.skip(); err != nil {
					return err
				}
				var b compositeBucket
				if raw := s.b[start:s.i]; string(raw) != "null" {
					b.raw = raw
				}
				g.Buckets = append(g.Buckets, b)
				if end, err := s.elementEnd(); end || err != nil {
					return err
				}
			}
		}
		return s.skip()
	})
}

// bucketRows reads the buckets of a non-empty array, its opening bracket
// read, into rows (see rowMerger.addPage), up to the closing bracket.
func (s *jsonScanner) bucketRows(rows *pageRows) error {
	q := rows.q
	nk, nm := len(q.GroupBy), len(q.Metrics)
	// The rows of a page share one slice of keys and one of values,
	// allocated a chunk of buckets at a time, and one scratch of weights.
	const chunk = 1024
	var keys []string
	var values []float64
	scratch := bucketWeights{present: make([]bool, nm), counts: make([]float64, nm)}
	for i := 0; ; i++ {
		if i%chunk == 0 {
			keys, values = make([]string, chunk*nk), make([]float64, chunk*nm)
		}
		j := i % chunk
		row := Row{Key: keys[j*nk : (j+1)*nk : (j+1)*nk], Values: values[j*nm : (j+1)*nm : (j+1)*nm]}
		if err := s.row(q, row, scratch); err != nil {
			return fmt.Errorf("bucket %d: %w", i, err)
		}
		rows.acc.add(q, row, scratch)
		rows.read++
		if end, err := s.elementEnd(); end || err != nil {
			return err
		}
	}
}

// elementEnd reads what follows an element of an array: a comma before
// the next one, or the closing bracket (end is then true).
func (s *jsonScanner) elementEnd() (end bool, err error) {
	switch s.peek() {
	case ',':
		s.i++
		return false, nil
	case ']':
		s.i++
		return true, nil
	}
	return false, s.errorf("neither a comma nor the end of the array")
}

// peekIndex is where the next value starts.
func (s *jsonScanner) peekIndex() int {
	s.space()
	return s.i
}

// null reads a null if one comes next.
func (s *jsonScanner) null() bool {
	if s.peek() == 'n' && s.i+4 <= len(s.b) && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// decodeInto reads the next value with encoding/json into v.
func (s *jsonScanner) decodeInto(v any) error {
	start := s.peekIndex()
	if err := s.skip(); err != nil {
		return err
	}
	return json.Unmarshal(s.b[start:s.i], v)
}

// intInto reads an integer (or null, which leaves *v) into v.
func (s *jsonScanner) intInto(v *int64) error {
	if s.null() {
		return nil
	}
	start := s.peekIndex()
	if err := s.skip(); err != nil {
		return err
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not an integer", s.b[start:s.i])
	}
	*v = n
	return nil
}

// boolInto reads true or false (or null, which leaves *v) into v.
func (s *jsonScanner) boolInto(v *bool) error {
	if s.null() {
		return nil
	}
	start := s.peekIndex()
	if err := s.skip(); err != nil {
		return err
	}
	switch string(s.b[start:s.i]) {
	case "true":
		*v = true
	case "false":
		*v = false
	default:
		return fmt.Errorf("%s is not a boolean", s.b[start:s.i])
	}
	return nil
}

// validNumber reports whether b is a JSON number (RFC 8259).
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i == len(b)
}
