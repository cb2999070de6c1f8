package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// A plan is what the source is asked for each window: the detectors'
// queries, with those that read the same records into the same groups
// merged into one. Each query is one full pass of the source over the
// window's records (Elasticsearch visits every record of the window for
// every composite aggregation), so the number of passes is the cost of a
// window, not the number of metrics.
//
// Two queries merge when they have the same Log, the same GroupBy in the
// same order and the same Filters: the same terms in any order, each
// term's values compared as a set (a record matches a term when its field
// holds any of the values, and every term, in both sources). They select
// the same records and group them into the same groups, whatever their
// metrics, so the merged query has exactly the groups each of them has,
// and each metric is computed per group independently of the others (by
// the in-memory source and by Elasticsearch's sub-aggregations, including
// its merging of buckets whose keys read the same). The merged query
// computes the union of the metrics, each (Kind, Field) once, and every
// detector gets back the rows it would have got from its own query: the
// same keys in the same order, its values in its own metric order.
//
// A query that only counts and sums, over a prefix of another query's
// group-by fields with the same log and filters, is not sent at all when
// that other query computes its sums already: its rows are that query's
// rows added up (see foldable), and it costs no pass of its own.
//
// A query that merges with no other is sent as the detector wrote it. A
// merged query is named after the queries it serves
// ("generic_flows+multivariable_flow"), its metrics after what they
// compute ("sum(bytes_in)", "count"), so a source's errors name them.
//
// Detectors must treat the rows they get as read-only: the keys of a
// merged query's rows are shared by every detector it serves (each gets
// its own values).
//
// Sharded (see Shard), a planned query whose detectors are all
// namespace-scoped leaves out the namespaces known to be other replicas'
// (filtered on its first group-by field), and every namespace-scoped
// detector gets only the rows of the replica's own namespaces.
type plan struct {
	queries []plannedQuery
	// book, when sharded, knows the cluster's namespaces and their owners.
	book *namespaceBook
	// names are the detectors' names, shapes how many queries each
	// declared, uses the planned queries each reads (each once, in order).
	names  []string
	shapes []int
	uses   [][]int

	mu       sync.Mutex
	lastTook []time.Duration // each query's time in the last window read whole
}

// plannedQuery is one query sent to the source and the detector queries
// it answers.
type plannedQuery struct {
	query  source.Query
	serves []serving
	merged bool // serves several detector queries
	// sharded is set when every detector the query serves is
	// namespace-scoped: sharded, it leaves out other replicas' namespaces.
	sharded bool
}

// serving maps one detector query onto a planned query.
type serving struct {
	detector, query int // index of the detector, and of its query
	// metrics holds, for each metric of the detector's query, the index of
	// the planned query's metric that computes it.
	metrics []int
	// identity is set when the detector's query has the planned query's
	// metrics, all of them in the same order, so its rows are the planned
	// query's rows as they are.
	identity bool
	// own is set for a namespace-scoped detector: sharded, it gets the
	// rows of the replica's namespaces only.
	own bool
	// rollup, when above 0, is the number of the planned query's group-by
	// fields the detector's query groups by (a prefix of them): its rows
	// are the planned query's rows added up over the fields after those
	// (see foldable).
	rollup int
}

// newPlan plans the queries of detectors. With merge false every detector
// query is sent on its own (the way to check the merge changes nothing).
// A sharded replica passes its book (nil: not sharded).
func newPlan(detectors []detect.Detector, merge bool, book *namespaceBook) (*plan, error) {
	p := &plan{names: make([]string, len(detectors)), shapes: make([]int, len(detectors)), uses: make([][]int, len(detectors)), book: book}
	scoped := make([]bool, len(detectors))
	for i, d := range detectors {
		scoped[i] = scopeOf(d).Sharded()
	}
	type member struct {
		detector, query int
		q               source.Query
		rollup          int
	}
	var groups [][]member
	index := map[string]int{}
	for i, d := range detectors {
		p.names[i] = d.Name()
		qs := d.Queries()
		p.shapes[i] = len(qs)
		for j, q := range qs {
			if err := q.Validate(); err != nil {
				return nil, fmt.Errorf("detector %s: %w", d.Name(), err)
			}
			if scoped[i] && !isNamespaceField(q.GroupBy[0]) {
				return nil, fmt.Errorf("detector %s is %s-scoped but its query %s groups first by %s, not by the namespace of the entity it judges", d.Name(), scopeOf(d), q.Name, q.GroupBy[0])
			}
			key := fmt.Sprintf("%d/%d", i, j)
			if merge {
				key = planKey(q)
			}
			g, ok := index[key]
			if !ok {
				g = len(groups)
				index[key] = g
				groups = append(groups, nil)
			}
			groups[g] = append(groups[g], member{detector: i, query: j, q: q})
		}
	}
	if merge {
		// Fold each group that can be added up from a finer one into it
		// (the longest first, so a group folded into is never folded).
		order := seq(len(groups))
		slices.SortStableFunc(order, func(a, b int) int {
			return cmp.Compare(len(groups[b][0].q.GroupBy), len(groups[a][0].q.GroupBy))
		})
		folded := make([]bool, len(groups))
		for _, g := range order {
			var best = -1
			for _, h := range order {
				if h == g || folded[h] {
					continue
				}
				var fine []source.Query
				for _, m := range groups[h] {
					fine = append(fine, m.q)
				}
				if slices.ContainsFunc(groups[g], func(m member) bool { return !foldable(m.q, fine[0]) || !metricsWithin(m.q, fine) }) {
					continue
				}
				if best < 0 || len(groups[h][0].q.GroupBy) < len(groups[best][0].q.GroupBy) {
					best = h
				}
			}
			if best < 0 {
				continue
			}
			for _, m := range groups[g] {
				m.rollup = len(m.q.GroupBy)
				groups[best] = append(groups[best], m)
			}
			folded[g] = true
		}
		kept := groups[:0]
		for g, members := range groups {
			if !folded[g] {
				kept = append(kept, members)
			}
		}
		groups = kept
	}
	for k, members := range groups {
		pq := plannedQuery{merged: len(members) > 1}
		if !pq.merged {
			m := members[0]
			pq.query = cloneQuery(m.q)
			pq.serves = []serving{{detector: m.detector, query: m.query, metrics: seq(len(m.q.Metrics)), identity: true}}
		} else {
			first := members[0].q
			pq.query = source.Query{Log: first.Log, GroupBy: slices.Clone(first.GroupBy), Filters: cloneTerms(first.Filters)}
			var names []string
			metricIndex := map[metricID]int{}
			for _, m := range members {
				if !slices.Contains(names, m.q.Name) {
					names = append(names, m.q.Name)
				}
				s := serving{detector: m.detector, query: m.query, metrics: make([]int, len(m.q.Metrics)), rollup: m.rollup}
				for mi, metric := range m.q.Metrics {
					id := idOf(metric)
					at, ok := metricIndex[id]
					if !ok {
						at = len(pq.query.Metrics)
						metricIndex[id] = at
						pq.query.Metrics = append(pq.query.Metrics, source.Metric{Name: id.String(), Kind: id.kind, Field: id.field})
					}
					s.metrics[mi] = at
				}
				pq.serves = append(pq.serves, s)
			}
			pq.query.Name = strings.Join(names, "+")
			for i := range pq.serves {
				s := &pq.serves[i]
				s.identity = s.rollup == 0 && slices.Equal(s.metrics, seq(len(pq.query.Metrics)))
			}
		}
		pq.sharded = true
		for i := range pq.serves {
			s := &pq.serves[i]
			s.own = scoped[s.detector]
			pq.sharded = pq.sharded && s.own
		}
		if err := pq.query.Validate(); err != nil {
			return nil, fmt.Errorf("planned query: %w", err)
		}
		for _, s := range pq.serves {
			if !slices.Contains(p.uses[s.detector], k) {
				p.uses[s.detector] = append(p.uses[s.detector], k)
			}
		}
		p.queries = append(p.queries, pq)
	}
	return p, nil
}

// planKey is what two queries that merge have in common: the log, the
// group-by fields in order, and the filters as a set of terms, each
// term's values as a set.
func planKey(q source.Query) string {
	type term struct {
		Field  string
		Values []string
	}
	terms := make([]term, len(q.Filters))
	for i, t := range q.Filters {
		values := slices.Clone(t.Values)
		slices.Sort(values)
		terms[i] = term{Field: t.Field, Values: slices.Compact(values)}
	}
	slices.SortFunc(terms, func(a, b term) int {
		return cmp.Or(cmp.Compare(a.Field, b.Field), slices.Compare(a.Values, b.Values))
	})
	terms = slices.CompactFunc(terms, func(a, b term) bool { return a.Field == b.Field && slices.Equal(a.Values, b.Values) })
	b, err := json.Marshal(struct {
		Log     string
		GroupBy []string
		Filters []term
	}{string(q.Log), q.GroupBy, terms})
	if err != nil { // strings only: cannot happen
		panic(err)
	}
	return string(b)
}

// foldable says whether the rows of query coarse can be added up from the
// rows of query fine, so that fine's pass over the records serves both:
// the same log and filters (as planKey compares them), coarse grouping by
// a proper prefix of fine's group-by fields, and only metrics that add up
// exactly, Count and Sum. A group's records are then the records of fine's
// groups that share its prefix, each counted once, so its count and sums
// are the sums of theirs (the fields summed are integers, which doubles
// add exactly below 2^53). Max, Avg and Cardinality are left alone: a Max
// or Avg over groups without the field would need to know which groups had
// it, and distinct counts do not add up.
//
// Elasticsearch then visits the window's records once for both queries
// instead of twice: time_series_flows, which groups by source_namespace
// the records reported by their source, is read from the flow entity
// query's groups.
func foldable(coarse, fine source.Query) bool {
	if coarse.Log != fine.Log || len(coarse.GroupBy) >= len(fine.GroupBy) || !slices.Equal(coarse.GroupBy, fine.GroupBy[:len(coarse.GroupBy)]) {
		return false
	}
	for _, m := range coarse.Metrics {
		if m.Kind != source.Count && m.Kind != source.Sum {
			return false
		}
	}
	c, f := cloneQuery(coarse), cloneQuery(fine)
	c.GroupBy, f.GroupBy = nil, nil
	return planKey(c) == planKey(f)
}

// metricsWithin says whether every Sum of q is computed by a query of fine
// already, so folding q into them adds no work to their pass (a Count is
// the groups' record count, which the source has without asking).
func metricsWithin(q source.Query, fine []source.Query) bool {
	for _, m := range q.Metrics {
		if m.Kind == source.Count {
			continue
		}
		found := false
		for _, f := range fine {
			if slices.ContainsFunc(f.Metrics, func(x source.Metric) bool { return idOf(x) == idOf(m) }) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// metricID is what a metric computes; a Count has no field.
type metricID struct {
	kind  source.MetricKind
	field string
}

func idOf(m source.Metric) metricID {
	if m.Kind == source.Count {
		return metricID{kind: source.Count}
	}
	return metricID{kind: m.Kind, field: m.Field}
}

// String names a merged metric: "count", "sum(bytes_in)".
func (id metricID) String() string {
	if id.kind == source.Count {
		return id.kind.String()
	}
	return id.kind.String() + "(" + id.field + ")"
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func cloneTerms(ts []source.Term) []source.Term {
	if ts == nil {
		return nil
	}
	out := make([]source.Term, len(ts))
	for i, t := range ts {
		out[i] = source.Term{Field: t.Field, Values: slices.Clone(t.Values)}
	}
	return out
}

func cloneQuery(q source.Query) source.Query {
	q.GroupBy = slices.Clone(q.GroupBy)
	q.Filters = cloneTerms(q.Filters)
	q.Metrics = slices.Clone(q.Metrics)
	return q
}

// Queries are the queries sent to the source for each window.
func (p *plan) Queries() []source.Query {
	out := make([]source.Query, len(p.queries))
	for i, pq := range p.queries {
		out[i] = cloneQuery(pq.query)
	}
	return out
}

// detectorsOf names the detectors planned query k serves.
func (p *plan) detectorsOf(k int) []string {
	var out []string
	for _, s := range p.queries[k].serves {
		if name := p.names[s.detector]; !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// queryError is the failure of planned query k.
type queryError struct {
	k   int
	err error
}

func (e *queryError) Error() string { return e.err.Error() }
func (e *queryError) Unwrap() error { return e.err }

// queryFailed is the error of a failed planned query, naming the query
// and the detectors it serves after what (empty for a window's reading).
func (p *plan) queryFailed(qe *queryError, what string) error {
	names := p.detectorsOf(qe.k)
	who := "detector " + names[0]
	if len(names) > 1 {
		who = "detectors " + strings.Join(names, ",")
	}
	if what != "" {
		return fmt.Errorf("%s for %s, query %s: %w", what, strings.Join(names, ","), p.queries[qe.k].query.Name, qe.err)
	}
	return fmt.Errorf("%s query %s: %w", who, p.queries[qe.k].query.Name, qe.err)
}

// read runs every planned query over w, at most limit at once, and
// returns each query's rows and the time each took. The first query to
// fail cancels the others; its error is a *queryError. The extra tasks
// (the window's record counts, which are quick) run first when the reads
// are sequential, so a source that is down fails at once, and last
// otherwise.
//
// With several at once, the queries start the longest first, by their
// time in the previous window read whole (at first, those with more
// group-by fields, which have more groups to page through): the last to
// start are then short, and no long query is left to run alone at the
// end while the other slots idle.
func (p *plan) read(ctx context.Context, src source.Source, w source.Window, limit int, extra []func(context.Context) error) ([][]source.Row, []time.Duration, error) {
	var shardTerm source.Term
	filtered := false
	if p.book != nil {
		shardTerm, filtered = p.book.filter()
	}
	results := make([][]source.Row, len(p.queries))
	took := make([]time.Duration, len(p.queries))
	var tasks []func(context.Context) error
	if limit <= 1 {
		tasks = append(tasks, extra...)
	}
	for _, k := range p.order() {
		tasks = append(tasks, func(ctx context.Context) error {
			start := time.Now()
			q := p.queries[k].query
			if p.queries[k].sharded && filtered {
				t := shardTerm
				t.Field = q.GroupBy[0]
				// A new slice: the tasks run at once over the same plan.
				q.Filters = append(slices.Clip(q.Filters), t)
			}
			rows, err := src.Aggregate(ctx, w, q)
			took[k] = time.Since(start)
			if err != nil {
				return &queryError{k: k, err: err}
			}
			results[k] = rows
			return nil
		})
	}
	if limit > 1 {
		tasks = append(tasks, extra...)
	}
	if err := runAll(ctx, limit, tasks); err != nil {
		return nil, took, err
	}
	p.mu.Lock()
	p.lastTook = took
	p.mu.Unlock()
	return results, took, nil
}

// order lists the planned queries longest first: by their time in the
// last window read whole, then by their number of group-by fields, then
// in plan order.
func (p *plan) order() []int {
	p.mu.Lock()
	last := p.lastTook
	p.mu.Unlock()
	out := seq(len(p.queries))
	slices.SortStableFunc(out, func(a, b int) int {
		if last != nil && last[a] != last[b] {
			return cmp.Compare(last[b], last[a])
		}
		return cmp.Compare(len(p.queries[b].query.GroupBy), len(p.queries[a].query.GroupBy))
	})
	return out
}

// split hands each detector the rows of its own queries, in the order of
// its Queries, from the planned queries' results of the window ending at
// end. Sharded, a namespace-scoped detector gets only the rows of the
// replica's namespaces, and the book learns the namespaces the rows name.
func (p *plan) split(results [][]source.Row, end time.Time) ([][][]source.Row, error) {
	out := make([][][]source.Row, len(p.shapes))
	for i, n := range p.shapes {
		out[i] = make([][]source.Row, n)
	}
	for k, pq := range p.queries {
		rows := results[k]
		if pq.merged {
			n := len(pq.query.Metrics)
			for _, r := range rows {
				if len(r.Values) != n {
					return nil, &queryError{k: k, err: fmt.Errorf("query %s: the source answered a row %v with %d values for %d metrics", pq.query.Name, r.Key, len(r.Values), n)}
				}
			}
		}
		var owned []source.Row
		if p.book != nil {
			if isNamespaceField(pq.query.GroupBy[0]) {
				p.book.note(rows, end)
			}
			for _, s := range pq.serves {
				if s.own {
					owned = p.book.own(rows)
					break
				}
			}
		}
		handedOut, handedOwned := false, false
		for _, s := range pq.serves {
			rows := rows
			if p.book != nil && s.own {
				if s.identity && !handedOwned {
					out[s.detector][s.query] = owned
					handedOwned = true
					continue
				}
				rows = owned
			} else if s.identity && !handedOut {
				out[s.detector][s.query] = rows
				handedOut = true
				continue
			}
			own := make([]source.Row, len(rows))
			values := make([]float64, len(rows)*len(s.metrics))
			for ri, r := range rows {
				v := values[ri*len(s.metrics) : (ri+1)*len(s.metrics) : (ri+1)*len(s.metrics)]
				for mi, at := range s.metrics {
					v[mi] = r.Values[at]
				}
				own[ri] = source.Row{Key: r.Key, Values: v}
			}
			if rows == nil {
				own = nil
			}
			if s.rollup > 0 {
				own = rollUp(own, s.rollup)
			}
			out[s.detector][s.query] = own
		}
	}
	return out, nil
}

// rollUp adds up rows (Count and Sum values) over every key after the
// first n: one row per distinct first n keys, in key order, as a query
// grouping by those n fields answers. The keys are new slices, the values
// those of the first row of each group, added to.
func rollUp(rows []source.Row, n int) []source.Row {
	if rows == nil {
		return nil
	}
	out := make([]source.Row, 0, len(rows)/4+1)
	index := make(map[string]int, len(rows)/4+1)
	for _, r := range rows {
		k := strings.Join(r.Key[:n], "\x00")
		if at, ok := index[k]; ok {
			for j, v := range r.Values {
				out[at].Values[j] += v
			}
			continue
		}
		index[k] = len(out)
		out = append(out, source.Row{Key: slices.Clone(r.Key[:n]), Values: r.Values})
	}
	source.SortRows(out)
	return out
}

// scopeOf is the scope detector d registered; ClusterScope for a detector
// the registry does not know.
func scopeOf(d detect.Detector) detect.Scope {
	info, ok := detect.Lookup(d.Name())
	if !ok {
		return detect.ClusterScope
	}
	return info.Scope
}

// tookBy is each detector's read time: the time of the planned queries it
// reads, each counted in full for every detector it serves.
func (p *plan) tookBy(took []time.Duration) []time.Duration {
	out := make([]time.Duration, len(p.uses))
	for i, ks := range p.uses {
		for _, k := range ks {
			out[i] += took[k]
		}
	}
	return out
}

// runAll runs tasks, at most limit at once (one after another, in order,
// when limit is 1 or less). The first error cancels the context of the
// tasks still running, keeps the others from starting, and is returned
// once every started task has returned.
func runAll(ctx context.Context, limit int, tasks []func(context.Context) error) error {
	if limit <= 1 || len(tasks) <= 1 {
		for _, t := range tasks {
			if err := t(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	sem := make(chan struct{}, limit)
	started := 0
start:
	for _, t := range tasks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break start
		}
		if ctx.Err() != nil {
			<-sem
			break
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := t(ctx); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if started < len(tasks) {
		return ctx.Err() // the caller's context ended before every task ran
	}
	return nil
}
