package source

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// Memory is a Source over records held in memory, fed by the simulated
// cluster and by log files. It computes aggregations exactly (Elasticsearch
// estimates distinct counts above its precision threshold). It is safe for
// concurrent use.
type Memory struct {
	kind string
	mu   sync.RWMutex
	// minutes holds records by log type and by the minute of their
	// end_time, so a window reads only its own minutes.
	minutes map[calicolog.LogType]map[int64][]memRecord
	// malformed counts undecodable documents by log type and minute of
	// their end_time; unplaced counts those whose end_time could not be
	// read either, reported with the next Count of their log type.
	malformed map[calicolog.LogType]map[int64]int64
	unplaced  map[calicolog.LogType]int64
}

type memRecord struct {
	end   int64 // end_time, Unix seconds
	field func(name string) value
	doc   any // for Samples
}

// NewMemory returns an empty in-memory source reporting kind (for example
// "simulated" or "file").
func NewMemory(kind string) *Memory {
	return &Memory{
		kind:      kind,
		minutes:   map[calicolog.LogType]map[int64][]memRecord{},
		malformed: map[calicolog.LogType]map[int64]int64{},
		unplaced:  map[calicolog.LogType]int64{},
	}
}

// Kind names the source.
func (m *Memory) Kind() string { return m.kind }

func (m *Memory) add(t calicolog.LogType, r memRecord) {
	byMinute := m.minutes[t]
	if byMinute == nil {
		byMinute = map[int64][]memRecord{}
		m.minutes[t] = byMinute
	}
	minute := floorDiv(r.end, 60)
	byMinute[minute] = append(byMinute[minute], r)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// AddFlows stores flow records.
func (m *Memory) AddFlows(recs ...calicolog.FlowLog) {
	recs = append([]calicolog.FlowLog(nil), recs...) // the caller may reuse its slice
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range recs {
		f := &recs[i]
		m.add(calicolog.Flows, memRecord{end: int64(f.EndTime), field: func(n string) value { return flowField(f, n) }, doc: f})
	}
}

// AddDNS stores DNS records.
func (m *Memory) AddDNS(recs ...calicolog.DNSLog) {
	recs = append([]calicolog.DNSLog(nil), recs...) // the caller may reuse its slice
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range recs {
		d := &recs[i]
		m.add(calicolog.DNS, memRecord{end: d.EndTime.Unix(), field: func(n string) value { return dnsField(d, n) }, doc: d})
	}
}

// AddL7 stores L7 records.
func (m *Memory) AddL7(recs ...calicolog.L7Log) {
	recs = append([]calicolog.L7Log(nil), recs...) // the caller may reuse its slice
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range recs {
		l := &recs[i]
		m.add(calicolog.L7, memRecord{end: int64(l.EndTime), field: func(n string) value { return l7Field(l, n) }, doc: l})
	}
}

// AddDocument decodes one log document of type t and stores it. A document
// that breaks the log contract is not stored: it is counted as malformed in
// the window of its end_time when that can be read, otherwise with the next
// Count of its log type. The decoding error is returned for the caller to
// report; nothing else is lost.
func (m *Memory) AddDocument(t calicolog.LogType, doc []byte) error {
	var err error
	switch t {
	case calicolog.Flows:
		var f calicolog.FlowLog
		if f, err = calicolog.DecodeFlowLog(doc); err == nil {
			m.AddFlows(f)
			return nil
		}
	case calicolog.DNS:
		var d calicolog.DNSLog
		if d, err = calicolog.DecodeDNSLog(doc); err == nil {
			m.AddDNS(d)
			return nil
		}
	case calicolog.L7:
		var l calicolog.L7Log
		if l, err = calicolog.DecodeL7Log(doc); err == nil {
			m.AddL7(l)
			return nil
		}
	default:
		return fmt.Errorf("unknown log type %q", t)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if end, ok := looseEndTime(doc); ok {
		if m.malformed[t] == nil {
			m.malformed[t] = map[int64]int64{}
		}
		m.malformed[t][floorDiv(end, 60)]++
	} else {
		m.unplaced[t]++
	}
	return err
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

// Forget drops records (and malformed counts) that end before before.
func (m *Memory) Forget(before time.Time) {
	cut := floorDiv(before.Unix(), 60)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, byMinute := range m.minutes {
		for minute := range byMinute {
			if minute < cut {
				delete(byMinute, minute)
			}
		}
	}
	for _, byMinute := range m.malformed {
		for minute := range byMinute {
			if minute < cut {
				delete(byMinute, minute)
			}
		}
	}
}

// each calls fn for every record of t whose end_time lies in w, in a
// deterministic order (by minute, then insertion). Called under the lock.
func (m *Memory) each(t calicolog.LogType, w Window, fn func(r *memRecord)) {
	byMinute := m.minutes[t]
	start, end := w.Start.Unix(), w.End.Unix()
	for minute := floorDiv(start, 60); minute*60 < end; minute++ {
		recs := byMinute[minute]
		for i := range recs {
			if recs[i].end >= start && recs[i].end < end {
				fn(&recs[i])
			}
		}
	}
}

func matches(r *memRecord, filters []Term) bool {
	for _, f := range filters {
		v := r.field(f.Field)
		ok := false
		for _, want := range f.Values {
			if v.present && v.str == want {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

type group struct {
	key      []string
	sums     []float64
	counts   []float64 // records with the field, for avg
	maxes    []float64
	distinct []map[string]struct{}
	records  float64
}

// Aggregate computes q over the records of w exactly.
func (m *Memory) Aggregate(ctx context.Context, w Window, q Query) ([]Row, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	groups := map[string]*group{}
	var keyBuf strings.Builder
	m.each(q.Log, w, func(r *memRecord) {
		if !matches(r, q.Filters) {
			return
		}
		keyBuf.Reset()
		key := make([]string, len(q.GroupBy))
		for i, f := range q.GroupBy {
			key[i] = r.field(f).str
			keyBuf.WriteString(key[i])
			keyBuf.WriteByte(0)
		}
		g := groups[keyBuf.String()]
		if g == nil {
			n := len(q.Metrics)
			g = &group{key: key, sums: make([]float64, n), counts: make([]float64, n),
				maxes: make([]float64, n), distinct: make([]map[string]struct{}, n)}
			for i := range g.maxes {
				g.maxes[i] = math.Inf(-1)
			}
			groups[keyBuf.String()] = g
		}
		g.records++
		for i, metric := range q.Metrics {
			if metric.Kind == Count {
				continue
			}
			v := r.field(metric.Field)
			if !v.present {
				continue
			}
			switch metric.Kind {
			case Cardinality:
				if g.distinct[i] == nil {
					g.distinct[i] = map[string]struct{}{}
				}
				g.distinct[i][v.str] = struct{}{}
			default:
				if !v.numeric {
					continue
				}
				g.sums[i] += v.num
				g.counts[i]++
				g.maxes[i] = math.Max(g.maxes[i], v.num)
			}
		}
	})
	rows := make([]Row, 0, len(groups))
	for _, g := range groups {
		row := Row{Key: g.key, Values: make([]float64, len(q.Metrics))}
		for i, metric := range q.Metrics {
			switch metric.Kind {
			case Count:
				row.Values[i] = g.records
			case Sum:
				row.Values[i] = g.sums[i]
			case Max:
				if g.counts[i] > 0 {
					row.Values[i] = g.maxes[i]
				}
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
	return rows, nil
}

// SortRows orders rows by key, so two sources' answers compare equal.
func SortRows(rows []Row) {
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i].Key, rows[j].Key
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return len(a) < len(b)
	})
}

// Count returns the records of t in w, malformed ones included.
func (m *Memory) Count(ctx context.Context, w Window, t calicolog.LogType) (Counts, error) {
	if err := ctx.Err(); err != nil {
		return Counts{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var c Counts
	m.each(t, w, func(*memRecord) { c.Records++ })
	start, end := w.Start.Unix(), w.End.Unix()
	for minute, n := range m.malformed[t] {
		// Malformed counts are kept per minute; a window holds whole minutes
		// when it is aligned to them, as windows are.
		if minute*60 >= start && minute*60 < end {
			c.Malformed += n
		}
	}
	c.Malformed += m.unplaced[t]
	m.unplaced[t] = 0
	c.Records += c.Malformed
	return c, nil
}

// Samples returns up to n records of t in w that match every filter, the
// latest-ending first.
func (m *Memory) Samples(ctx context.Context, w Window, t calicolog.LogType, filters []Term, n int) ([]json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	var picked []*memRecord
	m.each(t, w, func(r *memRecord) {
		if matches(r, filters) {
			picked = append(picked, r)
		}
	})
	m.mu.RUnlock()
	sort.SliceStable(picked, func(i, j int) bool { return picked[i].end > picked[j].end })
	if len(picked) > n {
		picked = picked[:n]
	}
	out := make([]json.RawMessage, 0, len(picked))
	for _, r := range picked {
		b, err := json.Marshal(r.doc)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
