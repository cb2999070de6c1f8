package web

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
)

// Units the page formats (scales) itself; the others are shown as named.
const (
	unitBytes  = detect.UnitBytes
	unitNanos  = detect.UnitNanoseconds
	unitMillis = detect.UnitMilliseconds
	unitMicros = detect.UnitMicroseconds
)

// unitOf is the unit of detector's observed value, from the registry
// (detect.Info.Unit), "" when it varies (the generic and time_series
// detectors report their most anomalous field, whose unit the verdict and
// its summary name).
func unitOf(detector string) string {
	info, _ := detect.Lookup(detector)
	return info.Unit
}

// verdictUnit is the unit of v's observed value: the one the verdict gives
// (the field baselines' most anomalous field), else its detector's.
func verdictUnit(v detect.Verdict) string {
	if v.Unit != "" {
		return v.Unit
	}
	return unitOf(v.Detector)
}

// chartUnit is the unit of points' observed values: unit, unless the
// points give units of their own and these differ (a field baseline whose
// most anomalous field changed between windows), when the axis has none.
func chartUnit(points []Point, unit string) string {
	for _, p := range points {
		if p.Unit != "" && p.Unit != unit {
			return ""
		}
	}
	return unit
}

// withUnit writes v in unit, scaled to read well: 1.3 MiB, 128.6 ms, 602
// ports.
func withUnit(v float64, unit string) string {
	a := math.Abs(v)
	switch unit {
	case unitBytes:
		for _, s := range []struct {
			f    float64
			name string
		}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
			if a >= s.f {
				return fmt.Sprintf("%.1f %s", v/s.f, s.name)
			}
		}
		return fmt.Sprintf("%.0f B", v)
	case unitNanos:
		return seconds(v / 1e9)
	case unitMillis:
		return seconds(v / 1e3)
	case unitMicros:
		return seconds(v / 1e6)
	case "":
		return compact(v)
	}
	return compact(v) + " " + unit
}

// seconds writes a duration given in seconds: 128.6 ms, 2.1 s, 350 µs.
func seconds(s float64) string {
	a := math.Abs(s)
	switch {
	case a >= 1:
		return fmt.Sprintf("%.1f s", s)
	case a >= 1e-3:
		return fmt.Sprintf("%.1f ms", s*1e3)
	case a == 0:
		return "0 s"
	}
	return fmt.Sprintf("%.0f µs", s*1e6)
}

type glossaryEntry struct{ Term, Meaning string }

// glossary explains the words the pages use.
var glossary = []glossaryEntry{
	{"score", "how anomalous a window is, from 0 to 1, comparable across detectors; the detector alerts at its threshold or above."},
	{"threshold", "the score at or above which a detector alerts (calico_anomaly_score_threshold)."},
	{"spreads", "how far a value lies from what is usual for this workload at this hour, in units of its usual variation (a robust standard deviation): 4 spreads is far outside its normal range."},
	{"observed / expected", "the value the detector looked at in the window, and what its model expected (for a threshold detector, the count at which it alerts)."},
	{"incident", "consecutive windows in which any detector alerted on the same workload: one alert, one Calico event, from its start to the first window without an alert."},
	{"severity", "Calico's 0 to 100 severity of the detectors' alerts: 70 and above is critical, 40 and above warning."},
	{"expected", "a user's decision that the incident's behaviour is normal: the detectors stop alerting on it until the decision expires or is undone, and those that learn a baseline learn it."},
}

// evidenceTable is one log's sample records as a table, with what they
// agree on written above it (the probed ports, the queried names).
type evidenceTable struct {
	Title   string
	Facts   []string
	Columns []string
	Rows    [][]string
}

// evidenceColumns are the fields shown of each log's records, in order;
// a column no record fills is left out.
var evidenceColumns = map[string][]string{
	"flows": {"start_time", "source_namespace", "source_name_aggr", "source_ip", "dest_namespace", "dest_name_aggr", "dest_ip", "dest_port", "proto", "action", "bytes_out", "bytes_in", "num_flows"},
	"dns":   {"start_time", "client_namespace", "client_name_aggr", "qname", "qtype", "rcode", "count", "latency_mean", "latency_max"},
	"l7":    {"start_time", "src_namespace", "src_name_aggr", "dest_name_aggr", "method", "url", "response_code", "count", "duration_mean", "duration_max", "bytes_out"},
}

// columnTitles are readable titles of record fields, with their unit.
var columnTitles = map[string]string{
	"start_time": "time (UTC)", "source_namespace": "source ns", "source_name_aggr": "source", "source_ip": "source IP",
	"dest_namespace": "dest ns", "dest_name_aggr": "destination", "dest_ip": "dest IP", "dest_port": "dest port",
	"bytes_out": "bytes out", "bytes_in": "bytes in", "num_flows": "flows", "client_namespace": "client ns",
	"client_name_aggr": "client", "qname": "name queried", "qtype": "type", "latency_mean": "latency mean",
	"latency_max": "latency max", "src_namespace": "source ns", "src_name_aggr": "source", "response_code": "code",
	"duration_mean": "duration mean", "duration_max": "duration max",
}

// evidenceTables turns the verdicts' sample records into tables, the peak
// verdict's logs first, each record once.
func evidenceTables(peak detect.Verdict, verdicts map[string]detect.Verdict) []evidenceTable {
	byLog := map[string][]map[string]any{}
	seen := map[string]bool{}
	add := func(v detect.Verdict) {
		logs := make([]string, 0, len(v.Evidence))
		for l := range v.Evidence {
			logs = append(logs, l)
		}
		sort.Strings(logs)
		for _, l := range logs {
			for _, raw := range v.Evidence[l] {
				if seen[l+string(raw)] {
					continue
				}
				seen[l+string(raw)] = true
				var rec map[string]any
				if json.Unmarshal(raw, &rec) == nil {
					byLog[l] = append(byLog[l], rec)
				}
			}
		}
	}
	add(peak)
	dets := make([]string, 0, len(verdicts))
	for d := range verdicts {
		dets = append(dets, d)
	}
	sort.Strings(dets)
	for _, d := range dets {
		add(verdicts[d])
	}
	logs := make([]string, 0, len(byLog))
	for l := range byLog {
		logs = append(logs, l)
	}
	sort.Strings(logs)
	var out []evidenceTable
	for _, l := range logs {
		recs := byLog[l]
		t := evidenceTable{Title: fmt.Sprintf("%s log records (%d)", l, len(recs)), Facts: evidenceFacts(l, recs)}
		cols := evidenceColumns[l]
		if cols == nil {
			cols = keysOf(recs)
		}
		for _, c := range cols {
			used := false
			for _, r := range recs {
				if v, ok := r[c]; ok && v != nil && v != "" {
					used = true
					break
				}
			}
			if used {
				t.Columns = append(t.Columns, c)
			}
		}
		for _, r := range recs {
			row := make([]string, len(t.Columns))
			for i, c := range t.Columns {
				row[i] = fieldText(l, c, r[c])
			}
			t.Rows = append(t.Rows, row)
		}
		for i, c := range t.Columns {
			if title, ok := columnTitles[c]; ok {
				t.Columns[i] = title
			}
		}
		out = append(out, t)
	}
	return out
}

func keysOf(recs []map[string]any) []string {
	set := map[string]bool{}
	for _, r := range recs {
		for k := range r {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fieldText writes a record's field readably: times as UTC clock times,
// latencies and durations in their units, bytes scaled.
func fieldText(log, field string, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		switch {
		case field == "start_time" || field == "end_time":
			return time.Unix(int64(x), 0).UTC().Format("2006-01-02 15:04:05")
		case log == "dns" && strings.HasPrefix(field, "latency"):
			return withUnit(x, unitNanos)
		case log == "l7" && strings.HasPrefix(field, "duration"):
			return withUnit(x, unitMillis)
		case strings.HasPrefix(field, "bytes"):
			return withUnit(x, unitBytes)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		if field == "start_time" || field == "end_time" {
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return t.UTC().Format("2006-01-02 15:04:05")
			}
		}
		return x
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// evidenceFacts sums up what the records show: the destination ports and
// addresses probed, the names queried, the slowest latency.
func evidenceFacts(log string, recs []map[string]any) []string {
	distinct := func(field string) []string {
		set := map[string]bool{}
		for _, r := range recs {
			if v, ok := r[field]; ok && v != nil && v != "" {
				set[fieldText(log, field, v)] = true
			}
		}
		out := make([]string, 0, len(set))
		for k := range set {
			out = append(out, k)
		}
		sort.Slice(out, func(i, j int) bool {
			a, errA := strconv.ParseFloat(out[i], 64)
			b, errB := strconv.ParseFloat(out[j], 64)
			if errA == nil && errB == nil {
				return a < b
			}
			return out[i] < out[j]
		})
		return out
	}
	list := func(name string, vs []string) string {
		const shown = 20
		s := fmt.Sprintf("%d %s: ", len(vs), name)
		if len(vs) > shown {
			return s + strings.Join(vs[:shown], ", ") + ", …"
		}
		return s + strings.Join(vs, ", ")
	}
	var out []string
	switch log {
	case "flows":
		if ps := distinct("dest_port"); len(ps) > 0 {
			out = append(out, list("destination ports", ps))
		}
		if ips := distinct("dest_ip"); len(ips) > 0 {
			out = append(out, list("destination addresses", ips))
		}
	case "dns":
		if ns := distinct("qname"); len(ns) > 0 {
			out = append(out, list("names queried", ns))
		}
		slowest := 0.0
		for _, r := range recs {
			if v, ok := r["latency_max"].(float64); ok {
				slowest = math.Max(slowest, v)
			}
		}
		if slowest > 0 {
			out = append(out, "slowest answer "+withUnit(slowest, unitNanos))
		}
	case "l7":
		if us := distinct("url"); len(us) > 0 {
			out = append(out, list("URLs", us))
		}
		if cs := distinct("response_code"); len(cs) > 0 {
			out = append(out, list("response codes", cs))
		}
	}
	return out
}
