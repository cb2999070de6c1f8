package calicolog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// decodeLog decodes one log document into a T. A field a query may read
// (one of fields: what Field returns, and so what detectors group, filter
// and aggregate on) must have its type, except that a keyword written as a
// number or a truth value reads as its text. Any other field (labels,
// policies, answers, servers, process arguments, fields of a newer Calico)
// carries evidence only: a value of an unexpected shape there is dropped,
// never making the record malformed, since Calico's writers change such
// shapes between versions (an EDNS OPT answer's class is the number 1232).
func decodeLog[T any](data []byte, fields map[string]bool) (T, error) {
	var v T
	err := json.Unmarshal(data, &v)
	if err == nil {
		return v, nil
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil || top == nil {
		// Not an object: nothing to decode field by field.
		return v, describeJSONError[T](data, err)
	}
	v = *new(T)
	for _, name := range slices.Sorted(maps.Keys(top)) {
		raw := top[name]
		if ferr := decodeField(&v, name, raw); ferr == nil {
			continue
		} else if text, ok := asText(raw); ok && decodeField(&v, name, text) == nil {
			continue
		} else if fields[name] {
			return v, namedError(name, ferr)
		}
		// Evidence only: left at its zero value.
	}
	return v, nil
}

// decodeField decodes {name: raw} into a fresh T first, so a value that
// fails half way leaves v untouched, then into v.
func decodeField[T any](v *T, name string, raw json.RawMessage) error {
	one, err := json.Marshal(map[string]json.RawMessage{name: raw})
	if err != nil {
		return err
	}
	var probe T
	if err := json.Unmarshal(one, &probe); err != nil {
		return err
	}
	return json.Unmarshal(one, v)
}

// asText returns a JSON number or truth value as a JSON string of its
// text (1232 → "1232").
func asText(raw json.RawMessage) (json.RawMessage, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return nil, false
	}
	switch c := t[0]; {
	case c == '-' || (c >= '0' && c <= '9'), bytes.Equal(t, []byte("true")), bytes.Equal(t, []byte("false")):
		s, err := json.Marshal(string(t))
		return s, err == nil
	}
	return nil, false
}

// namedError says which field err is about, as describeJSONError does.
func namedError(name string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("field %q: %s is not a %s", te.Field, te.Value, te.Type)
	}
	return fmt.Errorf("field %q: %w", name, err)
}

// keySet is the set of keys of m.
func keySet[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
