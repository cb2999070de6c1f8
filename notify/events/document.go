package events

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/notify"
)

// Document is the Calico event of anomaly a, as Calico's anomaly detection
// jobs wrote them: type anomaly_detection_job, origin the detector id, the
// window's end as its time, the entity and whatever its evidence agrees on
// promoted to the endpoint fields, MITRE fields where a technique fits, and
// a record with the entity, the time range, the values and the suspicious
// records grouped by log name. It depends only on a, so every replica
// writes the same document.
func Document(a notify.Anomaly, naming calicolog.IndexNaming, severity int) calicolog.Event {
	e := calicolog.Event{
		Time:        calicolog.EventTime{Time: a.Window.End.UTC()},
		Type:        calicolog.EventTypeAnomaly,
		Description: a.Description(),
		Severity:    severity,
		Origin:      a.Detector,
		Name:        "tigera.io.detector." + detect.FlagName(a.Detector),
		Cluster:     a.Entity.Cluster,
	}
	if naming.Layout == calicolog.LayoutSingle && e.Cluster == "" {
		e.Cluster = naming.Cluster
	}
	if a.Entity.Namespace != "" {
		e.SourceNamespace = a.Entity.Namespace
	}
	e.SourceNameAggr = a.Entity.Workload
	promote(&e, a.Evidence["flows"])
	if m, ok := notify.MitreOf(a.Detector); ok {
		e.AttackVector, e.MitreTactic = m.AttackVector, m.Tactic
		e.MitreIDs = append([]string(nil), m.IDs...)
		e.Mitigations = append([]string(nil), m.Mitigations...)
	}
	record := map[string]any{
		"detector":   a.Detector,
		"detectors":  a.Detectors,
		"cluster":    a.Entity.Cluster,
		"namespace":  a.Entity.Namespace,
		"name_aggr":  a.Entity.Workload,
		"type":       a.Entity.Type,
		"start_time": a.Window.Start.Unix(),
		"end_time":   a.Window.End.Unix(),
		"score":      a.Score,
		"threshold":  a.Threshold,
		"observed":   a.Observed,
		"expected":   a.Expected,
		"summary":    a.Summary,
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
		record[log] = a.Evidence[log]
	}
	e.Record = record
	return e
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
