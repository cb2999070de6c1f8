package source

import (
	"fmt"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// Stream computes queries over records fed to it one at a time, exactly as
// Memory computes them over records it holds, without keeping the records:
// what a reader of raw documents (Calico's own jobs read them page by page)
// must do to count what the aggregations count. Records outside the window
// are ignored. A Stream is not safe for concurrent use.
type Stream struct {
	w       Window
	queries []Query
	flows   []*accumulator[calicolog.FlowLog]
	dns     []*accumulator[calicolog.DNSLog]
	l7      []*accumulator[calicolog.L7Log]
	// index maps each query to its accumulator in the list of its log type.
	index []int
}

// NewStream returns a stream computing queries over the records of w.
func NewStream(w Window, queries []Query) (*Stream, error) {
	s := &Stream{w: w, queries: queries, index: make([]int, len(queries))}
	for i, q := range queries {
		if err := q.Validate(); err != nil {
			return nil, err
		}
		var err error
		switch q.Log {
		case calicolog.Flows:
			var a *accumulator[calicolog.FlowLog]
			a, err = newAccumulator(calicolog.FlowField, q)
			s.index[i] = len(s.flows)
			s.flows = append(s.flows, a)
		case calicolog.DNS:
			var a *accumulator[calicolog.DNSLog]
			a, err = newAccumulator(calicolog.DNSField, q)
			s.index[i] = len(s.dns)
			s.dns = append(s.dns, a)
		case calicolog.L7:
			var a *accumulator[calicolog.L7Log]
			a, err = newAccumulator(calicolog.L7Field, q)
			s.index[i] = len(s.l7)
			s.l7 = append(s.l7, a)
		default:
			err = fmt.Errorf("query %s: unknown log type %q", q.Name, q.Log)
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Stream) inWindow(end int64) bool {
	return end >= s.w.Start.Unix() && end < s.w.End.Unix()
}

// AddFlow counts a flow record.
func (s *Stream) AddFlow(f *calicolog.FlowLog) {
	if s.inWindow(int64(f.EndTime)) {
		for _, a := range s.flows {
			a.add(f)
		}
	}
}

// AddDNS counts a DNS record.
func (s *Stream) AddDNS(d *calicolog.DNSLog) {
	if s.inWindow(d.EndTime.Unix()) {
		for _, a := range s.dns {
			a.add(d)
		}
	}
}

// AddL7 counts an L7 record.
func (s *Stream) AddL7(l *calicolog.L7Log) {
	if s.inWindow(int64(l.EndTime)) {
		for _, a := range s.l7 {
			a.add(l)
		}
	}
}

// Rows is the answer to query i (in the order given to NewStream) over the
// records fed so far, sorted by key as every source sorts them.
func (s *Stream) Rows(i int) []Row {
	j := s.index[i]
	switch s.queries[i].Log {
	case calicolog.Flows:
		return s.flows[j].rows()
	case calicolog.DNS:
		return s.dns[j].rows()
	default:
		return s.l7[j].rows()
	}
}
