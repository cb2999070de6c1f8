package calicolog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// EpochSeconds is a time stored as whole seconds since the Unix epoch, as
// Calico writes flow and L7 `start_time` and `end_time`. It decodes from a
// JSON number or a quoted number, and encodes as a JSON number.
type EpochSeconds int64

// Time returns the instant in UTC.
func (s EpochSeconds) Time() time.Time { return time.Unix(int64(s), 0).UTC() }

// MarshalJSON encodes the value as a JSON integer.
func (s EpochSeconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(s), 10), nil
}

// UnmarshalJSON accepts 1675469001, 1675469001.0 and "1675469001".
func (s *EpochSeconds) UnmarshalJSON(data []byte) error {
	v, err := decodeNumber(data)
	if err != nil {
		return err
	}
	if !(v >= 0 && v <= 1e11) { // NaN fails both
		return fmt.Errorf("epoch seconds %v out of range", v)
	}
	*s = EpochSeconds(v)
	return nil
}

// EpochMillis is a time stored as milliseconds since the Unix epoch, as
// Calico writes the flow log `@timestamp`.
type EpochMillis int64

// Time returns the instant in UTC.
func (m EpochMillis) Time() time.Time { return time.UnixMilli(int64(m)).UTC() }

// MarshalJSON encodes the value as a JSON integer.
func (m EpochMillis) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(m), 10), nil
}

// UnmarshalJSON accepts a JSON number or a quoted number.
func (m *EpochMillis) UnmarshalJSON(data []byte) error {
	v, err := decodeNumber(data)
	if err != nil {
		return err
	}
	if !(v >= 0 && v <= 1e14) { // NaN fails both
		return fmt.Errorf("epoch milliseconds %v out of range", v)
	}
	*m = EpochMillis(v)
	return nil
}

func decodeNumber(data []byte) (float64, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 1 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return 0, err
		}
		data = []byte(s)
	}
	v, err := strconv.ParseFloat(string(data), 64)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", truncate(string(data), 40))
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
