package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// Memory is a Source over records held in memory, fed by the simulated
// cluster and by log files. It answers every query exactly (Elasticsearch
// estimates distinct counts above its precision threshold) and reads
// fields as Calico's index mapping stores them: a null IP reads 0.0.0.0
// and a null port 0 (calicolog.NullValue), so both sources give the same
// rows for the same records. It is safe for concurrent use.
type Memory struct {
	kind string

	mu    sync.RWMutex
	flows table[calicolog.FlowLog]
	dns   table[calicolog.DNSLog]
	l7    table[calicolog.L7Log]
	// malformed holds the end_time of each undecodable document, by log
	// type and minute; unplaced counts those whose end_time could not be
	// read either, reported with the next Count of their log type.
	malformed map[calicolog.LogType]map[int64][]int64
	unplaced  map[calicolog.LogType]int64
}

var _ Source = (*Memory)(nil)

// table holds records of one log type by the minute (Unix seconds / 60) of
// their end_time, so a window of any size and alignment reads only the
// minutes it covers.
type table[R any] struct {
	minutes map[int64][]stored[R]
}

type stored[R any] struct {
	end int64 // end_time, Unix seconds
	rec R
}

// NewMemory returns an empty in-memory source whose Kind is kind
// ("simulated" when kind is empty; "file" for records read from files).
func NewMemory(kind string) *Memory {
	if kind == "" {
		kind = "simulated"
	}
	return &Memory{
		kind:      kind,
		flows:     table[calicolog.FlowLog]{minutes: map[int64][]stored[calicolog.FlowLog]{}},
		dns:       table[calicolog.DNSLog]{minutes: map[int64][]stored[calicolog.DNSLog]{}},
		l7:        table[calicolog.L7Log]{minutes: map[int64][]stored[calicolog.L7Log]{}},
		malformed: map[calicolog.LogType]map[int64][]int64{},
		unplaced:  map[calicolog.LogType]int64{},
	}
}

// Kind names the source.
func (m *Memory) Kind() string { return m.kind }

func (t *table[R]) add(end int64, rec R) {
	minute := floorDiv(end, 60)
	t.minutes[minute] = append(t.minutes[minute], stored[R]{end: end, rec: rec})
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// AddFlows stores flow records (copies of them).
func (m *Memory) AddFlows(recs ...calicolog.FlowLog) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range recs {
		m.flows.add(int64(f.EndTime), f)
	}
}

// AddDNS stores DNS records (copies of them).
func (m *Memory) AddDNS(recs ...calicolog.DNSLog) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range recs {
		m.dns.add(d.EndTime.Unix(), d)
	}
}

// AddL7 stores L7 records (copies of them).
func (m *Memory) AddL7(recs ...calicolog.L7Log) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range recs {
		m.l7.add(int64(l.EndTime), l)
	}
}

// AddDocument decodes one log document of type t (its _source, as
// calicolog.DecodeFlowLog and its siblings read it) and stores the record.
// A document that breaks the log contract is never stored: it is counted
// as malformed in the window that holds its end_time when that can still
// be read (epoch seconds or RFC 3339), and otherwise with the next Count of
// log type t, whatever its window. Beyond what the decoders check, an IP
// field that holds no IP address makes a document malformed, as it does in
// Elasticsearch (whose ip fields refuse it). The error is returned for the
// caller to log; ignoring it loses nothing.
func (m *Memory) AddDocument(t calicolog.LogType, doc []byte) error {
	var r record
	if err := r.decode(t, doc); err != nil {
		if errors.Is(err, errUnknownLogType) {
			return err
		}
		m.addMalformed(t, doc, false)
		return err
	}
	m.add(&r)
	return nil
}

var errUnknownLogType = errors.New("unknown log type")

// record is one decoded document of any log type.
type record struct {
	log  calicolog.LogType
	flow calicolog.FlowLog
	dns  calicolog.DNSLog
	l7   calicolog.L7Log
}

// decode decodes doc as a document of log type t and checks it as
// AddDocument does, without storing it.
// end is the record's end_time, in Unix seconds.
func (r *record) end() int64 {
	switch r.log {
	case calicolog.Flows:
		return int64(r.flow.EndTime)
	case calicolog.DNS:
		return r.dns.EndTime.Unix()
	case calicolog.L7:
		return int64(r.l7.EndTime)
	}
	return 0
}

func (r *record) decode(t calicolog.LogType, doc []byte) error {
	r.log = t
	var err error
	switch t {
	case calicolog.Flows:
		if r.flow, err = calicolog.DecodeFlowLog(doc); err == nil {
			err = flowIPs(&r.flow)
		}
	case calicolog.DNS:
		if r.dns, err = calicolog.DecodeDNSLog(doc); err == nil {
			err = dnsIPs(&r.dns)
		}
	case calicolog.L7:
		r.l7, err = calicolog.DecodeL7Log(doc)
	default:
		return fmt.Errorf("%w %q", errUnknownLogType, t)
	}
	return err
}

// add stores a decoded record.
func (m *Memory) add(r *record) {
	switch r.log {
	case calicolog.Flows:
		m.AddFlows(r.flow)
	case calicolog.DNS:
		m.AddDNS(r.dns)
	case calicolog.L7:
		m.AddL7(r.l7)
	}
}

// addMalformed counts doc as a malformed document of log type t ("" when
// unknown), in the window of its end_time when that can be read and is
// to be trusted (not unplaced).
func (m *Memory) addMalformed(t calicolog.LogType, doc []byte, unplaced bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if end, ok := looseEndTime(doc); ok && t != "" && !unplaced {
		if m.malformed[t] == nil {
			m.malformed[t] = map[int64][]int64{}
		}
		minute := floorDiv(end, 60)
		m.malformed[t][minute] = append(m.malformed[t][minute], end)
	} else {
		m.unplaced[t]++
	}
}

// flowIPs checks the IP fields of a flow log hold IP addresses, as the
// index's ip type requires (Elasticsearch lists a field that does not in
// _ignored, which makes the record malformed).
func flowIPs(f *calicolog.FlowLog) error {
	if err := checkIP("flow log", "source_ip", f.SourceIP); err != nil {
		return err
	}
	if err := checkIP("flow log", "dest_ip", f.DestIP); err != nil {
		return err
	}
	for i := range f.OriginalSourceIPs {
		if err := checkIP("flow log", "original_source_ips", &f.OriginalSourceIPs[i]); err != nil {
			return err
		}
	}
	return nil
}

// dnsIPs checks the IP fields of a DNS log hold IP addresses.
func dnsIPs(d *calicolog.DNSLog) error {
	if err := checkIP("dns log", "client_ip", d.ClientIP); err != nil {
		return err
	}
	for i := range d.Servers {
		if err := checkIP("dns log", "servers.ip", &d.Servers[i].IP); err != nil {
			return err
		}
	}
	return nil
}

func checkIP(record, field string, ip *string) error {
	if ip == nil {
		return nil
	}
	if _, err := netip.ParseAddr(*ip); err != nil {
		return &calicolog.FieldError{Record: record, Field: field, Reason: fmt.Sprintf("%q is not an IP address", *ip)}
	}
	return nil
}

// looseEndTime reads end_time as epoch seconds or an RFC 3339 string from a
// document that may be otherwise broken.
func looseEndTime(doc []byte) (int64, bool) {
	var probe struct {
		End json.RawMessage `json:"end_time"`
	}
	if json.Unmarshal(doc, &probe) != nil || len(probe.End) == 0 {
		return 0, false
	}
	var secs calicolog.EpochSeconds
	if secs.UnmarshalJSON(probe.End) == nil && secs > 0 {
		return int64(secs), true
	}
	var s string
	if json.Unmarshal(probe.End, &s) == nil {
		if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return ts.Unix(), true
		}
	}
	return 0, false
}

// Forget drops the records, and the malformed counts, whose end_time is
// before before, so a long-running source stays bounded.
func (m *Memory) Forget(before time.Time) {
	cut := before.Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	forget(&m.flows, cut)
	forget(&m.dns, cut)
	forget(&m.l7, cut)
	for _, byMinute := range m.malformed {
		for minute, ends := range byMinute {
			if kept := slices.DeleteFunc(ends, func(end int64) bool { return end < cut }); len(kept) == 0 {
				delete(byMinute, minute)
			} else {
				byMinute[minute] = kept
			}
		}
	}
}

func forget[R any](t *table[R], cut int64) {
	cutMinute := floorDiv(cut, 60)
	for minute, recs := range t.minutes {
		switch {
		case minute < cutMinute:
			delete(t.minutes, minute)
		case minute == cutMinute:
			kept := slices.DeleteFunc(recs, func(s stored[R]) bool { return s.end < cut })
			if len(kept) == 0 {
				delete(t.minutes, minute)
			} else {
				t.minutes[minute] = kept
			}
		}
	}
}

// minutesOf lists, in order, the minutes of byMinute that may hold
// end_times in [start, end).
func minutesOf[V any](byMinute map[int64]V, start, end int64) []int64 {
	first, last := floorDiv(start, 60), floorDiv(end-1, 60)
	if last < first {
		return nil
	}
	var out []int64
	if span := last - first + 1; span <= int64(len(byMinute)) {
		for minute := first; minute <= last; minute++ {
			if _, ok := byMinute[minute]; ok {
				out = append(out, minute)
			}
		}
		return out
	}
	for minute := range byMinute {
		if minute >= first && minute <= last {
			out = append(out, minute)
		}
	}
	slices.Sort(out)
	return out
}

// each calls fn for every record of t whose end_time lies in w, in a
// deterministic order: by minute, then as added. Called under the lock.
func each[R any](t *table[R], w Window, fn func(s *stored[R])) {
	start, end := w.Start.Unix(), w.End.Unix()
	for _, minute := range minutesOf(t.minutes, start, end) {
		recs := t.minutes[minute]
		for i := range recs {
			if recs[i].end >= start && recs[i].end < end {
				fn(&recs[i])
			}
		}
	}
}

// reader returns how a query reads field name of records of log type lt:
// as the record holds it, or as the index's null_value when the record
// has none (an IP or a port written as null).
func reader[R any](lt calicolog.LogType, lookup func(string) (calicolog.FieldFunc[R], bool), name string) (calicolog.FieldFunc[R], error) {
	get, ok := lookup(name)
	if !ok {
		return nil, fmt.Errorf("%s logs have no field %q (known: %v)", lt, name, calicolog.FieldNames(lt))
	}
	if calicolog.MappedType(lt, name) == "ip" {
		// Elasticsearch answers an IP in its canonical form: ::ffff:10.0.0.1
		// reads 10.0.0.1.
		raw := get
		get = func(r *R) (calicolog.Value, bool) {
			v, ok := raw(r)
			if ok {
				if a, err := netip.ParseAddr(v.Str); err == nil && a.Is6() {
					v.Str = a.Unmap().String()
				}
			}
			return v, ok
		}
	}
	if null, ok := calicolog.NullValue(lt, name); ok {
		present := get
		return func(r *R) (calicolog.Value, bool) {
			if v, ok := present(r); ok {
				return v, true
			}
			return null, true
		}, nil
	}
	return get, nil
}

// filter is a compiled Term: a record matches when its field is present
// and equals one of the values, or, excluding, when it is absent or equals
// none of them.
type filter[R any] struct {
	get     calicolog.FieldFunc[R]
	values  map[string]struct{}
	exclude bool
	known   map[string]struct{} // nil: a Term without Known
}

func compileFilters[R any](lt calicolog.LogType, lookup func(string) (calicolog.FieldFunc[R], bool), terms []Term) ([]filter[R], error) {
	out := make([]filter[R], len(terms))
	for i, t := range terms {
		get, err := reader(lt, lookup, t.Field)
		if err != nil {
			return nil, fmt.Errorf("filter: %w", err)
		}
		values := make(map[string]struct{}, len(t.Values))
		for _, v := range t.Values {
			values[v] = struct{}{}
		}
		out[i] = filter[R]{get: get, values: values, exclude: t.Exclude}
		if len(t.Known) > 0 && !t.Exclude {
			out[i].known = make(map[string]struct{}, len(t.Known))
			for _, v := range t.Known {
				out[i].known[v] = struct{}{}
			}
		}
	}
	return out, nil
}

func matchAll[R any](r *R, filters []filter[R]) bool {
	for _, f := range filters {
		v, ok := f.get(r)
		if !ok {
			if f.exclude {
				continue
			}
			return false
		}
		_, listed := f.values[v.String()]
		if !listed && f.known != nil {
			_, known := f.known[v.String()]
			listed = !known
		}
		if listed == f.exclude {
			return false
		}
	}
	return true
}

// group accumulates one row.
type group struct {
	key      []string
	records  float64
	sums     []float64
	counts   []float64 // records with a numeric value, for Avg and Max
	maxes    []float64
	distinct []map[calicolog.Value]struct{}
}

// aggregate computes q over the records of t in w.
func aggregate[R any](t *table[R], lookup func(string) (calicolog.FieldFunc[R], bool), w Window, q Query) ([]Row, error) {
	a, err := newAccumulator(lookup, q)
	if err != nil {
		return nil, err
	}
	each(t, w, func(s *stored[R]) { a.add(&s.rec) })
	return a.rows(), nil
}

// accumulator computes one query over records fed one at a time.
type accumulator[R any] struct {
	q       Query
	filters []filter[R]
	keys    []calicolog.FieldFunc[R]
	metrics []calicolog.FieldFunc[R]
	groups  map[string]*group
	order   []*group
	buf     []byte
	key     []string
}

func newAccumulator[R any](lookup func(string) (calicolog.FieldFunc[R], bool), q Query) (*accumulator[R], error) {
	filters, err := compileFilters(q.Log, lookup, q.Filters)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	keys := make([]calicolog.FieldFunc[R], len(q.GroupBy))
	for i, f := range q.GroupBy {
		if keys[i], err = reader(q.Log, lookup, f); err != nil {
			return nil, fmt.Errorf("query %s: group by: %w", q.Name, err)
		}
	}
	metrics := make([]calicolog.FieldFunc[R], len(q.Metrics))
	for i, metric := range q.Metrics {
		switch metric.Kind {
		case Count:
			continue
		case Sum, Max, Avg, Cardinality:
		default:
			return nil, fmt.Errorf("query %s: metric %s: unsupported kind %s", q.Name, metric.Name, metric.Kind)
		}
		if metrics[i], err = reader(q.Log, lookup, metric.Field); err != nil {
			return nil, fmt.Errorf("query %s: metric %s: %w", q.Name, metric.Name, err)
		}
	}
	return &accumulator[R]{q: q, filters: filters, keys: keys, metrics: metrics,
		groups: map[string]*group{}, key: make([]string, len(keys))}, nil
}

// add counts record r if it matches the query's filters.
func (a *accumulator[R]) add(r *R) {
	q := a.q
	if !matchAll(r, a.filters) {
		return
	}
	buf, key := a.buf[:0], a.key
	for i, get := range a.keys {
		key[i] = ""
		if v, ok := get(r); ok {
			key[i] = v.String()
		}
		buf = append(buf, key[i]...)
		buf = append(buf, 0)
	}
	a.buf = buf
	g := a.groups[string(buf)]
	if g == nil {
		n := len(q.Metrics)
		g = &group{key: slices.Clone(key), sums: make([]float64, n), counts: make([]float64, n),
			maxes: make([]float64, n), distinct: make([]map[calicolog.Value]struct{}, n)}
		a.groups[string(buf)] = g
		a.order = append(a.order, g)
	}
	g.records++
	for i, metric := range q.Metrics {
		if metric.Kind == Count {
			continue
		}
		v, ok := a.metrics[i](r)
		if !ok {
			continue
		}
		if metric.Kind == Cardinality {
			if g.distinct[i] == nil {
				g.distinct[i] = map[calicolog.Value]struct{}{}
			}
			g.distinct[i][v] = struct{}{}
			continue
		}
		if !v.Numeric {
			continue
		}
		if g.counts[i] == 0 || v.Num > g.maxes[i] {
			g.maxes[i] = v.Num
		}
		g.sums[i] += v.Num
		g.counts[i]++
	}
}

// rows is the answer so far, sorted by key.
func (a *accumulator[R]) rows() []Row {
	q := a.q
	rows := make([]Row, 0, len(a.order))
	for _, g := range a.order {
		row := Row{Key: g.key, Values: make([]float64, len(q.Metrics))}
		for i, metric := range q.Metrics {
			switch metric.Kind {
			case Count:
				row.Values[i] = g.records
			case Sum:
				row.Values[i] = g.sums[i]
			case Max:
				row.Values[i] = g.maxes[i]
			case Avg:
				if g.counts[i] > 0 {
					row.Values[i] = g.sums[i] / g.counts[i]
				}
			case Cardinality:
				row.Values[i] = float64(len(g.distinct[i]))
			}
		}
		rows = append(rows, row)
	}
	SortRows(rows)
	return rows
}

// Aggregate computes q over the records of w exactly. A group key a record
// lacks reads ""; Sum, Max and Avg read the numeric values of the group's
// records that have the field (0 when none has); Count counts records. A
// field the records do not have is an error, so a misspelt query fails
// here rather than silently counting nothing.
func (m *Memory) Aggregate(ctx context.Context, w Window, q Query) ([]Row, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	switch q.Log {
	case calicolog.Flows:
		return aggregate(&m.flows, calicolog.FlowField, w, q)
	case calicolog.DNS:
		return aggregate(&m.dns, calicolog.DNSField, w, q)
	default:
		return aggregate(&m.l7, calicolog.L7Field, w, q)
	}
}

// SortRows orders rows by key, so two sources' answers compare equal.
func SortRows(rows []Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i].Key, rows[j].Key
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return len(a) < len(b)
	})
}

// Count returns the records of t in w, malformed ones included. Malformed
// documents whose end_time could not be read are reported once, by the
// first Count of their log type after they were added.
func (m *Memory) Count(ctx context.Context, w Window, t calicolog.LogType) (Counts, error) {
	if err := ctx.Err(); err != nil {
		return Counts{}, err
	}
	if _, err := calicolog.ParseLogType(string(t)); err != nil {
		return Counts{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var c Counts
	switch t {
	case calicolog.Flows:
		each(&m.flows, w, func(*stored[calicolog.FlowLog]) { c.Records++ })
	case calicolog.DNS:
		each(&m.dns, w, func(*stored[calicolog.DNSLog]) { c.Records++ })
	case calicolog.L7:
		each(&m.l7, w, func(*stored[calicolog.L7Log]) { c.Records++ })
	}
	start, end := w.Start.Unix(), w.End.Unix()
	byMinute := m.malformed[t]
	for _, minute := range minutesOf(byMinute, start, end) {
		for _, e := range byMinute[minute] {
			if e >= start && e < end {
				c.Malformed++
			}
		}
	}
	c.Malformed += m.unplaced[t]
	m.unplaced[t] = 0
	c.UnknownType = m.unplaced[""]
	m.unplaced[""] = 0
	c.Records += c.Malformed
	return c, nil
}

// Samples returns up to n records of t in w that match every filter, JSON
// encoded: the latest end_time first, records with the same end_time in
// the order they were added.
func (m *Memory) Samples(ctx context.Context, w Window, t calicolog.LogType, filters []Term, n int) ([]json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	switch t {
	case calicolog.Flows:
		return samples(&m.flows, calicolog.FlowField, w, t, filters, n)
	case calicolog.DNS:
		return samples(&m.dns, calicolog.DNSField, w, t, filters, n)
	case calicolog.L7:
		return samples(&m.l7, calicolog.L7Field, w, t, filters, n)
	}
	return nil, fmt.Errorf("unknown log type %q", t)
}

func samples[R any](t *table[R], lookup func(string) (calicolog.FieldFunc[R], bool), w Window, lt calicolog.LogType, terms []Term, n int) ([]json.RawMessage, error) {
	filters, err := compileFilters(lt, lookup, terms)
	if err != nil {
		return nil, fmt.Errorf("samples of %s: %w", lt, err)
	}
	var picked []*stored[R]
	each(t, w, func(s *stored[R]) {
		if matchAll(&s.rec, filters) {
			picked = append(picked, s)
		}
	})
	sort.SliceStable(picked, func(i, j int) bool { return picked[i].end > picked[j].end })
	picked = picked[:min(n, len(picked))]
	out := make([]json.RawMessage, 0, len(picked))
	for _, s := range picked {
		b, err := json.Marshal(&s.rec)
		if err != nil {
			return nil, fmt.Errorf("samples of %s: %w", lt, err)
		}
		out = append(out, b)
	}
	return out, nil
}
