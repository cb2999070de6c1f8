package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Position is a place in a file; Line and Column count from 1, 0 when
// unknown.
type Position struct {
	File   string
	Line   int
	Column int
}

func (p Position) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Error is one problem in a configuration file, at the place it was found.
type Error struct {
	Pos Position
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// nodeReader walks YAML nodes, collecting every problem with its place.
type nodeReader struct {
	file string
	errs []error
}

func (r *nodeReader) pos(n *yaml.Node) Position {
	if n == nil {
		return Position{File: r.file}
	}
	return Position{File: r.file, Line: n.Line, Column: n.Column}
}

func (r *nodeReader) errorf(n *yaml.Node, format string, args ...any) {
	r.errs = append(r.errs, &Error{Pos: r.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// err joins the problems found, in the order of their places in the file.
func (r *nodeReader) err() error {
	sort.SliceStable(r.errs, func(i, j int) bool {
		a, b := position(r.errs[i]), position(r.errs[j])
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return errors.Join(r.errs...)
}

func position(err error) Position {
	var e *Error
	if errors.As(err, &e) {
		return e.Pos
	}
	return Position{}
}

var yamlLineError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// documents decodes every YAML document of data; a syntax error ends the
// list and is reported at its line.
func (r *nodeReader) documents(data []byte) []*yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			msg := err.Error()
			pos := Position{File: r.file}
			if m := yamlLineError.FindStringSubmatch(msg); m != nil {
				pos.Line, _ = strconv.Atoi(m[1])
				msg = m[2]
			} else {
				msg = strings.TrimPrefix(msg, "yaml: ")
			}
			r.errs = append(r.errs, &Error{Pos: pos, Msg: "YAML syntax: " + msg})
			return docs
		}
		root := &doc
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // an empty document, e.g. after a trailing ---
		}
		docs = append(docs, root)
	}
}

// describe names what a node holds, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int":
			return "the integer " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), n.Value)
	}
	return "an unexpected node"
}

// plain refuses aliases: configuration files here never need them, and
// following them could multiply a small file into a huge one.
func (r *nodeReader) plain(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode {
		r.errorf(n, "%s: aliases (*%s) are not supported here; write the value out", path, n.Value)
		return false
	}
	return true
}

// field is one known key of a mapping and what to do with its value.
type field struct {
	name string
	read func(key, value *yaml.Node)
}

// mapping checks that n is a mapping of known, unique keys and hands each
// value to its field's reader. path names n in messages ("spec").
func (r *nodeReader) mapping(n *yaml.Node, path string, fields []field) bool {
	if !r.plain(n, path) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		r.errorf(n, "%s: want a mapping, got %s", path, describe(n))
		return false
	}
	byName := map[string]func(k, v *yaml.Node){}
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		byName[f.name] = f.read
		names = append(names, f.name)
	}
	sort.Strings(names)
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			r.errorf(k, "%s: want keys that are strings, got %s", path, describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			r.errorf(k, "%s: key %q given twice (first at line %d)", path, k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		read, ok := byName[k.Value]
		if !ok {
			r.errorf(k, "%s: unknown key %q (want one of: %s)", path, k.Value, strings.Join(names, ", "))
			continue
		}
		if read != nil {
			read(k, v)
		}
	}
	return true
}

// entries returns the key and value nodes of a mapping with free keys (a
// name per entry), refusing duplicates and non-string keys.
func (r *nodeReader) entries(n *yaml.Node, path string) (keys, values []*yaml.Node) {
	if !r.plain(n, path) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		r.errorf(n, "%s: want a mapping, got %s", path, describe(n))
		return nil, nil
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
			r.errorf(k, "%s: want keys that are strings, got %s", path, describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			r.errorf(k, "%s: key %q given twice (first at line %d)", path, k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		keys, values = append(keys, k), append(values, v)
	}
	return keys, values
}

// sequence returns the items of a list.
func (r *nodeReader) sequence(n *yaml.Node, path string) []*yaml.Node {
	if !r.plain(n, path) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		r.errorf(n, "%s: want a list, got %s", path, describe(n))
		return nil
	}
	return n.Content
}

// str reads a string scalar.
func (r *nodeReader) str(n *yaml.Node, path string) (string, bool) {
	if !r.plain(n, path) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		r.errorf(n, "%s: want a string, got %s", path, describe(n))
		return "", false
	}
	return n.Value, true
}

// scalar reads any scalar as the text written (numbers, strings, booleans).
func (r *nodeReader) scalar(n *yaml.Node, path string) (string, bool) {
	if !r.plain(n, path) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		r.errorf(n, "%s: want a value, got %s", path, describe(n))
		return "", false
	}
	return n.Value, true
}

// integer reads a whole number in [min, max].
func (r *nodeReader) integer(n *yaml.Node, path string, min, max int64) (int64, bool) {
	if !r.plain(n, path) {
		return 0, false
	}
	var v int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		r.errorf(n, "%s: want a whole number from %d to %d, got %s", path, min, max, describe(n))
		return 0, false
	}
	if v < min || v > max {
		r.errorf(n, "%s: %d is out of range: want %d to %d", path, v, min, max)
		return 0, false
	}
	return v, true
}

// number reads a finite number in [min, max].
func (r *nodeReader) number(n *yaml.Node, path string, min, max float64) (float64, bool) {
	if !r.plain(n, path) {
		return 0, false
	}
	var v float64
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&v) != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		r.errorf(n, "%s: want a number from %g to %g, got %s", path, min, max, describe(n))
		return 0, false
	}
	if v < min || v > max {
		r.errorf(n, "%s: %g is out of range: want %g to %g", path, v, min, max)
		return 0, false
	}
	return v, true
}

// boolean reads true or false.
func (r *nodeReader) boolean(n *yaml.Node, path string) (bool, bool) {
	if !r.plain(n, path) {
		return false, false
	}
	var v bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&v) != nil {
		r.errorf(n, "%s: want true or false, got %s", path, describe(n))
		return false, false
	}
	return v, true
}

// duration reads a positive Go or Kubernetes duration such as 5m0s.
func (r *nodeReader) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if !r.plain(n, path) {
		return 0, false
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		if d, err := time.ParseDuration(n.Value); err == nil && d > 0 {
			return d, true
		}
	}
	r.errorf(n, "%s: want a positive duration such as 5m or 1h30m, got %s", path, describe(n))
	return 0, false
}

// where names a place for "first at ...": its line when in this file.
func (r *nodeReader) where(p Position) string {
	if p.File == r.file {
		return fmt.Sprintf("line %d", p.Line)
	}
	return p.String()
}

// timestamp reads an RFC 3339 time.
func (r *nodeReader) timestamp(n *yaml.Node, path string) (time.Time, bool) {
	if !r.plain(n, path) {
		return time.Time{}, false
	}
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!str" || n.Tag == "!!timestamp") {
		if t, err := time.Parse(time.RFC3339, n.Value); err == nil {
			return t, true
		}
	}
	r.errorf(n, "%s: want an RFC 3339 time such as 2026-12-31T23:00:00Z, got %s", path, describe(n))
	return time.Time{}, false
}
