package calicolog

import (
	"fmt"
	"strings"
	"time"
)

// Layout is how Calico names its indices.
type Layout string

const (
	// LayoutLegacy is one index family per log type and cluster:
	// tigera_secure_ee_<type>.[<tenant>.]<cluster>.*
	LayoutLegacy Layout = "legacy"
	// LayoutSingle is one index per log type for every cluster
	// (calico_flowlogs, ...), with a `cluster` keyword field.
	LayoutSingle Layout = "single"
)

// ParseLayout returns the layout named s.
func ParseLayout(s string) (Layout, error) {
	switch Layout(s) {
	case LayoutLegacy, LayoutSingle:
		return Layout(s), nil
	}
	return "", fmt.Errorf("unknown index layout %q (want legacy or single)", s)
}

// IndexNaming says where one Calico cluster's logs and events live.
type IndexNaming struct {
	Layout  Layout
	Cluster string // CLUSTER_NAME; "cluster" by default
	Tenant  string // optional, legacy layout only
}

// Validate checks the names can be used in index names.
func (n IndexNaming) Validate() error {
	if _, err := ParseLayout(string(n.Layout)); err != nil {
		return err
	}
	if n.Cluster == "" {
		return fmt.Errorf("cluster name is empty")
	}
	for _, part := range []struct{ what, v string }{{"cluster", n.Cluster}, {"tenant", n.Tenant}} {
		if strings.ContainsAny(part.v, ` ,*?"<>|\/#:`) || part.v != strings.ToLower(part.v) {
			return fmt.Errorf("%s name %q cannot be part of an index name (lowercase, no spaces or ,*?\"<>|\\/#:)", part.what, part.v)
		}
	}
	return nil
}

func (n IndexNaming) legacyPrefix(kind string) string {
	if n.Tenant != "" {
		return "tigera_secure_ee_" + kind + "." + n.Tenant + "." + n.Cluster + "."
	}
	return "tigera_secure_ee_" + kind + "." + n.Cluster + "."
}

var singleIndex = map[LogType]string{Flows: "calico_flowlogs", DNS: "calico_dnslogs", L7: "calico_l7logs"}

// SearchIndex is the index pattern to search for logs of type t.
func (n IndexNaming) SearchIndex(t LogType) string {
	if n.Layout == LayoutSingle {
		return singleIndex[t]
	}
	return n.legacyPrefix(string(t)) + "*"
}

// WriteIndex is a concrete index name to write logs of type t for day,
// matching SearchIndex (used by the simulator and tests).
func (n IndexNaming) WriteIndex(t LogType, day time.Time) string {
	if n.Layout == LayoutSingle {
		return singleIndex[t]
	}
	return n.legacyPrefix(string(t)) + "fluentd." + day.UTC().Format("20060102")
}

// ClusterFilter returns the term filter that selects this cluster's
// documents, needed only in the single-index layout.
func (n IndexNaming) ClusterFilter() (field, value string, ok bool) {
	if n.Layout == LayoutSingle {
		return "cluster", n.Cluster, true
	}
	return "", "", false
}

// EventsIndex is the index the Manager UI Alerts page reads.
func (n IndexNaming) EventsIndex() string {
	if n.Layout == LayoutSingle {
		return "calico_alerts"
	}
	if n.Tenant != "" {
		return "tigera_secure_ee_events." + n.Tenant + "." + n.Cluster + ".lma"
	}
	return "tigera_secure_ee_events." + n.Cluster + ".lma"
}

// TemplatePattern is the index pattern an index template for log type t
// (or "events") must cover.
func (n IndexNaming) TemplatePattern(kind string) string {
	if kind == "events" {
		return n.EventsIndex()
	}
	t := LogType(kind)
	if n.Layout == LayoutSingle {
		return singleIndex[t] + "*"
	}
	return n.legacyPrefix(kind) + "*"
}

// IndexLogType returns the log type of the logs index named index, as
// Calico names them in either layout: tigera_secure_ee_<type>.* (legacy,
// whatever the tenant, cluster and day) or calico_<type>logs* (single
// index, with or without a suffix such as a rollover counter). The backing
// index of a data stream (.ds-<name>-...) reads as its stream. It returns
// false for any other index, the events indices included.
func IndexLogType(index string) (LogType, bool) {
	index = strings.TrimPrefix(index, ".ds-")
	if rest, ok := strings.CutPrefix(index, "tigera_secure_ee_"); ok {
		kind, _, _ := strings.Cut(rest, ".")
		t, err := ParseLogType(kind)
		return t, err == nil
	}
	for t, name := range singleIndex {
		if rest, ok := strings.CutPrefix(index, name); ok && (rest == "" || strings.IndexByte("-._", rest[0]) >= 0) {
			return t, true
		}
	}
	return "", false
}
