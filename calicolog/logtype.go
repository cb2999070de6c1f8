package calicolog

import "fmt"

// LogType names one of Calico's log kinds, as it appears in index names.
type LogType string

// The log types Calico writes to Elasticsearch.
const (
	Flows LogType = "flows"
	DNS   LogType = "dns"
	L7    LogType = "l7"
)

// LogTypes lists every log type, in a stable order.
var LogTypes = []LogType{Flows, DNS, L7}

// ParseLogType returns the log type named s.
func ParseLogType(s string) (LogType, error) {
	switch LogType(s) {
	case Flows, DNS, L7:
		return LogType(s), nil
	}
	return "", fmt.Errorf("unknown log type %q (want flows, dns or l7)", s)
}

// EndField is the field that holds the end of a record's interval: records
// are assigned to the window that holds their end.
func (t LogType) EndField() string { return "end_time" }
