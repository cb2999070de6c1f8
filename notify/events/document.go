package events

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
)

// Document is the Calico event of anomaly a, as Calico's anomaly detection
// jobs wrote them: type anomaly_detection_job, origin the detector id, the
// window's end as its time, a description that opens as theirs did
// ("dga detector found anomalies. Detected 2 suspicious domain names."),
// MITRE fields where a technique fits, and a record with the entity named
// as the detector's log names it, the time range written as Calico wrote
// it, and, beside those, our values and the suspicious records grouped by
// log name. Endpoint fields are those of the detector's log type (see
// Shape); the others are null. It depends only on a, so every replica
// writes the same document.
func Document(a notify.Anomaly, naming calicolog.IndexNaming, severity int) calicolog.Event {
	shape := ShapeOf(a.Detector)
	domains := suspiciousDomains(a)
	e := calicolog.Event{
		Time:        calicolog.EventTime{Time: a.Window.End.UTC()},
		Type:        calicolog.EventTypeAnomaly,
		Description: description(a, domains),
		Severity:    severity,
		Origin:      a.Detector,
		Name:        "tigera.io.detector." + detect.FlagName(a.Detector),
		Cluster:     a.Entity.Cluster,
	}
	if naming.Layout == calicolog.LayoutSingle && e.Cluster == "" {
		e.Cluster = naming.Cluster
	}
	namespace := a.Entity.Namespace
	switch shape {
	case ShapeSource:
		e.SourceNamespace, e.SourceNameAggr = namespace, a.Entity.Workload
		promote(&e, a.Evidence["flows"])
	case ShapeDest:
		e.DestNamespace, e.DestNameAggr = namespace, a.Entity.Workload
	}
	if m, ok := notify.MitreOf(a.Detector); ok {
		e.AttackVector, e.MitreTactic = m.AttackVector, m.Tactic
		e.MitreIDs = append([]string(nil), m.IDs...)
		e.Mitigations = append([]string(nil), m.Mitigations...)
	}
	prefix := shape.recordPrefix()
	record := map[string]any{
		prefix + "namespace": namespace,
		prefix + "name_aggr": a.Entity.Workload,
		"start_time":         a.Window.Start.UTC().Format(recordTimeLayout),
		"end_time":           a.Window.End.UTC().Format(recordTimeLayout),
		"detector":           a.Detector,
		"detectors":          a.Detectors,
		"cluster":            a.Entity.Cluster,
		"type":               a.Entity.Type,
		"score":              a.Score,
		"threshold":          a.Threshold,
		"observed":           a.Observed,
		"expected":           a.Expected,
		"summary":            a.Summary,
	}
	if domains != nil {
		record["domains"] = domains
	}
	logs := make([]string, 0, len(a.Evidence))
	for log := range a.Evidence {
		logs = append(logs, log)
	}
	sort.Strings(logs)
	for _, log := range logs {
		if _, clash := record[log]; clash {
			continue
		}
		if recs := storable(a.Evidence[log]); len(recs) > 0 {
			record[log] = recs
		}
	}
	e.Record = record
	return e
}

// storable keeps the evidence records an event can carry: JSON objects
// whose numbers a float64 holds, as Elasticsearch and Calico's readers
// take them. Evidence comes from outside; a record that is not an object,
// or holds a number such as 1e700, would make the event unreadable, so it
// is left out of the event (the alert's evidence still shows it).
func storable(recs []json.RawMessage) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(recs))
	for _, raw := range recs {
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil && m != nil {
			out = append(out, raw)
		}
	}
	return out
}

// recordTimeLayout is how Calico's jobs wrote a record's start_time and
// end_time (UTC): "2023-04-28 19:38:14".
const recordTimeLayout = "2006-01-02 15:04:05"

// Shape is where an event names the entity, following the log its
// detector reads, as Calico's Manager UI expects.
type Shape string

// The shapes of events.
const (
	// ShapeSource: flow detectors judge the sending workload, named in
	// source_namespace and source_name_aggr, and in record under the
	// same names.
	ShapeSource Shape = "source"
	// ShapeClient: DNS detectors judge the querying client, named only in
	// record.client_namespace and record.client_name_aggr; every endpoint
	// field is null.
	ShapeClient Shape = "client"
	// ShapeDest: L7 detectors judge the serving workload, named in
	// dest_namespace and dest_name_aggr, and in record under the same
	// names.
	ShapeDest Shape = "dest"
)

// ShapeOf returns the shape of detector's events, from the log it reads.
func ShapeOf(detector string) Shape {
	info, _ := detect.Lookup(detector)
	if len(info.Logs) > 0 {
		switch calicolog.LogType(info.Logs[0]) {
		case calicolog.DNS:
			return ShapeClient
		case calicolog.L7:
			return ShapeDest
		}
	}
	return ShapeSource
}

func (s Shape) recordPrefix() string { return string(s) + "_" }

// domainDetectors judge query names: their events list the suspicious
// ones in record.domains, as Calico's did.
var domainDetectors = map[string]bool{"dga": true, "dns_tunnel": true}

// suspiciousDomains lists, sorted and once each, the query names of a
// domain detector's DNS evidence; nil for other detectors.
func suspiciousDomains(a notify.Anomaly) []string {
	if !domainDetectors[a.Detector] {
		return nil
	}
	seen := map[string]bool{}
	out := []string{}
	for _, raw := range a.Evidence["dns"] {
		var q struct {
			QName string `json:"qname"`
		}
		if json.Unmarshal(raw, &q) == nil && q.QName != "" && !seen[q.QName] {
			seen[q.QName] = true
			out = append(out, q.QName)
		}
	}
	sort.Strings(out)
	return out
}

// description opens as Calico's did ("dns_tunnel detector found anomalies.
// Detected 1 suspicious domain name."), then says what the exporter saw.
func description(a notify.Anomaly, domains []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s detector found anomalies.", a.Detector)
	if len(domains) > 0 {
		s := "s"
		if len(domains) == 1 {
			s = ""
		}
		fmt.Fprintf(&b, " Detected %d suspicious domain name%s.", len(domains), s)
	}
	ours := a.Description()
	ours = strings.Replace(ours, fmt.Sprintf("%s detector found anomalies in cluster %s: ", a.Detector, a.Entity.Cluster),
		fmt.Sprintf("In cluster %s: ", a.Entity.Cluster), 1)
	b.WriteString(" ")
	b.WriteString(ours)
	return b.String()
}

// flowEndpoints is what promote reads of a flow record.
type flowEndpoints struct {
	SourceIP   *string `json:"source_ip"`
	SourcePort *int64  `json:"source_port"`
	SourceName string  `json:"source_name"`
	DestIP     *string `json:"dest_ip"`
	DestPort   *int64  `json:"dest_port"`
	DestNS     string  `json:"dest_namespace"`
	DestName   string  `json:"dest_name"`
	DestAggr   string  `json:"dest_name_aggr"`
	Host       string  `json:"host"`
	Proto      string  `json:"proto"`
}

// promote sets the endpoint fields every flow record of the evidence
// agrees on (a scan's one target, its one source address); a field the
// records disagree on, or that Calico aggregated away ("-"), stays unset.
func promote(e *calicolog.Event, flows []json.RawMessage) {
	if len(flows) == 0 {
		return
	}
	recs := make([]flowEndpoints, 0, len(flows))
	for _, raw := range flows {
		var f flowEndpoints
		if json.Unmarshal(raw, &f) != nil {
			return
		}
		recs = append(recs, f)
	}
	str := func(get func(flowEndpoints) string) string {
		v := get(recs[0])
		for _, r := range recs[1:] {
			if get(r) != v {
				return ""
			}
		}
		if v == "-" {
			return ""
		}
		return v
	}
	ptrStr := func(get func(flowEndpoints) *string) *string {
		v := str(func(f flowEndpoints) string {
			if p := get(f); p != nil {
				return *p
			}
			return ""
		})
		if v == "" || v == "0.0.0.0" {
			return nil
		}
		return &v
	}
	ptrInt := func(get func(flowEndpoints) *int64) *int64 {
		v := str(func(f flowEndpoints) string {
			if p := get(f); p != nil && *p > 0 {
				return fmt.Sprint(*p)
			}
			return ""
		})
		if v == "" {
			return nil
		}
		p := get(recs[0])
		return p
	}
	e.SourceIP = ptrStr(func(f flowEndpoints) *string { return f.SourceIP })
	e.SourcePort = ptrInt(func(f flowEndpoints) *int64 { return f.SourcePort })
	e.SourceName = str(func(f flowEndpoints) string { return f.SourceName })
	e.DestIP = ptrStr(func(f flowEndpoints) *string { return f.DestIP })
	e.DestPort = ptrInt(func(f flowEndpoints) *int64 { return f.DestPort })
	e.DestNamespace = str(func(f flowEndpoints) string { return f.DestNS })
	e.DestName = str(func(f flowEndpoints) string { return f.DestName })
	e.DestNameAggr = str(func(f flowEndpoints) string { return f.DestAggr })
	e.Host = str(func(f flowEndpoints) string { return f.Host })
	e.Protocol = str(func(f flowEndpoints) string { return f.Proto })
}
