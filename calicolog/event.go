package calicolog

import (
	"encoding/json"
	"fmt"
	"time"
)

// EventTypeAnomaly is the event type Calico's anomaly detection jobs wrote.
const EventTypeAnomaly = "anomaly_detection_job"

// Event is one document of the Calico events index, the one the Manager UI
// Alerts page reads. Time is written as epoch seconds.
type Event struct {
	Time        EventTime `json:"time"`
	Type        string    `json:"type"`
	Description string    `json:"description"`
	Severity    int       `json:"severity"`
	Origin      string    `json:"origin"`
	Dismissed   bool      `json:"dismissed"`
	Name        string    `json:"name,omitempty"`

	SourceIP        *string `json:"source_ip,omitempty"`
	SourcePort      *int64  `json:"source_port,omitempty"`
	SourceNamespace string  `json:"source_namespace,omitempty"`
	SourceName      string  `json:"source_name,omitempty"`
	SourceNameAggr  string  `json:"source_name_aggr,omitempty"`
	DestIP          *string `json:"dest_ip,omitempty"`
	DestPort        *int64  `json:"dest_port,omitempty"`
	DestNamespace   string  `json:"dest_namespace,omitempty"`
	DestName        string  `json:"dest_name,omitempty"`
	DestNameAggr    string  `json:"dest_name_aggr,omitempty"`
	Host            string  `json:"host,omitempty"`
	Protocol        string  `json:"protocol,omitempty"`

	AttackVector string   `json:"attack_vector,omitempty"`
	MitreTactic  string   `json:"mitre_tactic,omitempty"`
	MitreIDs     []string `json:"mitre_ids,omitempty"`
	Mitigations  []string `json:"mitigations,omitempty"`

	Record  map[string]any `json:"record,omitempty"`
	Cluster string         `json:"cluster,omitempty"`
}

// eventEndpointKeys are the endpoint fields of an event. Calico's jobs
// wrote every one of them, null when an anomaly did not name it (a DNS
// client is named in record, not as a source), and so does MarshalJSON.
var eventEndpointKeys = []string{
	"source_ip", "source_port", "source_namespace", "source_name", "source_name_aggr",
	"dest_ip", "dest_port", "dest_namespace", "dest_name", "dest_name_aggr", "host", "protocol",
}

// MarshalJSON writes the event with every endpoint field present, null
// when unset, as Calico's anomaly detection jobs wrote them.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	b, err := json.Marshal(plain(e))
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	for _, k := range eventEndpointKeys {
		if _, ok := fields[k]; !ok {
			fields[k] = json.RawMessage("null")
		}
	}
	return json.Marshal(fields)
}

// DecodeEvent decodes and validates one event document (its _source).
func DecodeEvent(data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Event{}, fmt.Errorf("event: %w", describeJSONError[Event](data, err))
	}
	switch {
	case e.Time.IsZero():
		return Event{}, fieldError("event", "time", "missing or zero")
	case e.Type == "":
		return Event{}, fieldError("event", "type", "missing")
	case e.Severity < 0 || e.Severity > 100:
		return Event{}, fieldError("event", "severity", fmt.Sprintf("%d outside 0..100", e.Severity))
	}
	return e, nil
}

// EventTime is an event's time: Calico wrote epoch seconds or an ISO 8601
// string. It decodes from either and encodes as epoch seconds.
type EventTime struct{ time.Time }

// MarshalJSON encodes the time as epoch seconds.
func (t EventTime) MarshalJSON() ([]byte, error) {
	return EpochSeconds(t.Unix()).MarshalJSON()
}

// UnmarshalJSON accepts a number of epoch seconds or an RFC 3339 string.
func (t *EventTime) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) == nil {
		if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
			if secs := ts.Unix(); secs < 0 || secs > 1e11 {
				return fmt.Errorf("event time %s out of range (as epoch seconds 0 to 1e11)", truncate(s, 40))
			}
			t.Time = ts.UTC()
			return nil
		}
	}
	var secs EpochSeconds
	if err := secs.UnmarshalJSON(data); err != nil {
		return err
	}
	t.Time = secs.Time()
	return nil
}
