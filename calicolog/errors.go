package calicolog

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// FieldError says which field of which record kind broke the contract.
type FieldError struct {
	Record string // "flow log", "dns log", "l7 log", "event"
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: field %q: %s", e.Record, e.Field, e.Reason)
}

func fieldError(record, field, reason string) error {
	return &FieldError{Record: record, Field: field, Reason: reason}
}

// describeJSONError names the field in an error decoding data into a T.
// encoding/json names it in a type error; an error from a field's own
// UnmarshalJSON (the time types) does not, so that field is found by
// decoding data's top-level fields into a T one at a time.
func describeJSONError[T any](data []byte, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("field %q: %s is not a %s", te.Field, te.Value, te.Type)
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		one, _ := json.Marshal(map[string]json.RawMessage{name: fields[name]})
		var v T
		if json.Unmarshal(one, &v) != nil {
			return fmt.Errorf("field %q: %w", name, err)
		}
	}
	return err
}
