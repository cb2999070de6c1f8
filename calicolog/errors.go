package calicolog

import (
	"encoding/json"
	"errors"
	"fmt"
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

// describeJSONError names the field in a JSON type error.
func describeJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("field %q: %s is not a %s", te.Field, te.Value, te.Type)
	}
	return err
}
