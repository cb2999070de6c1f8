package detect

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// flowSourceKey groups flow records by the source entity.
var flowSourceKey = []string{"source_namespace", "source_name_aggr", "source_type"}

// scoreThreshold is the score of an entity exactly at its detector's count
// threshold: count detectors map a count x to x/(x+threshold), so the
// threshold lands at 0.5 and scores stay comparable across detectors.
const scoreThreshold = 0.5

// countScore maps a count against its threshold onto 0..1.
func countScore(x, threshold float64) float64 {
	if x <= 0 {
		return 0
	}
	return x / (x + threshold)
}

const (
	// sketchSize is the most value hashes one entity keeps per window for
	// the slow count (model.DistinctSketch): counts are exact up to it and
	// estimated beyond. With slow_windows windows kept, one entity holds at
	// most slow_windows·sketchSize·8 bytes (48 KiB at 12 windows), and only
	// an entity that reached sketchSize distinct values in those windows
	// holds that much; a usual workload holds a few dozen bytes a window.
	sketchSize = 512
	// topSources is how many outside source addresses each window keeps per
	// network entity, to name them in summaries and evidence.
	topSources = 3
	// maxSlowWindows bounds the slow_windows setting (a week at 5 minutes).
	maxSlowWindows = 7 * 24 * 12
)

// distinctScan is the model shared by port_scan (distinct dest_port) and
// ip_sweep (distinct dest_ip): how many distinct values of the field one
// source entity reaches, judged two ways.
//
//   - Fast: in the window itself, against Calico's threshold
//     (AD_port_scan_threshold, AD_ip_sweep_threshold), as Calico did.
//   - Slow: over the last slow_windows windows together (a sliding union,
//     counted with one bounded sketch per entity and window), against the
//     slow threshold (never below the per-window one: so many values are a
//     scan whether they take one window or an hour), so a scan paced to
//     stay under the per-window threshold is still found. A window already reported as a fast scan is
//     left out of the union (it was reported on its own), and the slow
//     verdict only holds while the window adds values the span had not
//     seen, so the hour after a scan is not reported again.
//
// Entities are the source's namespace, name_aggr and type; a source
// outside the cluster is the network entity (namespace "-", workload "pub"
// or "pvt", type net), and its addresses are named in the summary and the
// evidence query, never in the entity.
type distinctScan struct {
	name        string
	cluster     string
	field       string  // the flow field counted, e.g. "dest_port"
	noun        string  // what is counted, for summaries: "destination ports"
	threshold   float64 // Calico's: distinct values per window at which it alerts
	slowLimit   float64 // distinct values over slowWindows at which it alerts
	slowWindows int
	recent      map[Entity]*scanRing
	scratch     []uint64
}

// scanRing is one entity's last slowWindows windows.
type scanRing struct {
	slots []scanSlot // oldest first, at most slowWindows
}

// scanSlot is what one entity reached in one window.
type scanSlot struct {
	start  int64 // window start, Unix seconds
	fast   bool  // the window was reported as a fast scan: kept out of the union
	sketch model.DistinctSketch
	// sources are the outside addresses that reached the most values in
	// the window (network entities only).
	sources []sourceCount
}

// sourceCount is how many distinct values one outside address reached.
type sourceCount struct {
	ip    string
	count float64
}

func newDistinctScan(info Info, o Options, field, noun string) (*distinctScan, error) {
	t, err := o.Float(info, "threshold")
	if err != nil {
		return nil, err
	}
	if t < 1 {
		return nil, fmt.Errorf("detector %s: threshold %v must be at least 1", info.Name, t)
	}
	slow, err := o.Float(info, "slow_threshold")
	if err != nil {
		return nil, err
	}
	if slow < 1 {
		return nil, fmt.Errorf("detector %s: slow_threshold %v must be at least 1", info.Name, slow)
	}
	n, err := o.Float(info, "slow_windows")
	if err != nil {
		return nil, err
	}
	if n < 1 || n > maxSlowWindows || n != float64(int(n)) {
		return nil, fmt.Errorf("detector %s: slow_windows %v must be a whole number of windows from 1 to %d", info.Name, n, maxSlowWindows)
	}
	return &distinctScan{
		name: info.Name, cluster: o.Cluster, field: field, noun: noun,
		threshold: t, slowLimit: max(slow, t), slowWindows: int(n),
		recent: map[Entity]*scanRing{},
	}, nil
}

func (d *distinctScan) Name() string       { return d.name }
func (d *distinctScan) Threshold() float64 { return scoreThreshold }
func (d *distinctScan) Ready() bool        { return true }

// Queries reads, per window, the distinct values of the field each source
// entity reached (one row per entity and value, so windows can be joined
// exactly), and, for sources outside the cluster, how many each address
// reached.
func (d *distinctScan) Queries() []source.Query {
	return []source.Query{
		{
			Name:    d.name,
			Log:     calicolog.Flows,
			GroupBy: append(slices.Clone(flowSourceKey), d.field),
			Metrics: []source.Metric{{Name: "records", Kind: source.Count}},
		},
		{
			Name:    d.name + "_outside_sources",
			Log:     calicolog.Flows,
			GroupBy: append(slices.Clone(flowSourceKey), "source_ip"),
			Filters: []source.Term{{Field: "source_type", Values: []string{calicolog.TypeNetwork}}},
			Metrics: []source.Metric{{Name: "distinct", Kind: source.Cardinality, Field: d.field}},
		},
	}
}

// windowEntity is one entity's rows in a window.
type windowEntity struct {
	entity  Entity
	key     []string
	hashes  []uint64
	sources []sourceCount
}

// collect groups the window's rows by entity, in entity order.
func (d *distinctScan) collect(rows [][]source.Row) []*windowEntity {
	if len(rows) == 0 {
		return nil
	}
	byEntity := map[Entity]*windowEntity{}
	var out []*windowEntity
	for _, r := range rows[0] {
		if len(r.Key) != len(flowSourceKey)+1 || r.Key[1] == "" {
			continue
		}
		e := Entity{Cluster: d.cluster, Namespace: r.Key[0], Workload: r.Key[1], Type: r.Key[2]}
		we := byEntity[e]
		if we == nil {
			we = &windowEntity{entity: e, key: r.Key[:3]}
			byEntity[e] = we
			out = append(out, we)
		}
		we.hashes = append(we.hashes, model.HashValue(r.Key[3]))
	}
	if len(rows) > 1 {
		for _, r := range rows[1] {
			if len(r.Key) != len(flowSourceKey)+1 || len(r.Values) < 1 {
				continue
			}
			e := Entity{Cluster: d.cluster, Namespace: r.Key[0], Workload: r.Key[1], Type: r.Key[2]}
			if we := byEntity[e]; we != nil {
				we.sources = append(we.sources, sourceCount{ip: r.Key[3], count: r.Values[0]})
			}
		}
	}
	for _, we := range out {
		we.sources = topSourceCounts(we.sources)
	}
	slices.SortFunc(out, func(a, b *windowEntity) int { return cmp.Compare(a.entity.Key(), b.entity.Key()) })
	return out
}

// topSourceCounts keeps the addresses that reached the most values, the
// null address (records whose source Calico aggregated) last.
func topSourceCounts(s []sourceCount) []sourceCount {
	slices.SortFunc(s, func(a, b sourceCount) int {
		if an, bn := a.ip == nullIP, b.ip == nullIP; an != bn {
			if an {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return cmp.Compare(a.ip, b.ip)
	})
	if len(s) > topSources {
		s = s[:topSources]
	}
	return slices.Clip(s)
}

// nullIP is how an absent (aggregated) address reads (Calico's mapping
// stores null IPs as 0.0.0.0).
const nullIP = "0.0.0.0"

// span is how far back the slow count reaches for a window of length l.
func (d *distinctScan) span(l time.Duration) time.Duration { return time.Duration(d.slowWindows) * l }

// ring returns e's recent windows, dropping those older than the slow
// span before window w.
func (d *distinctScan) ring(e Entity, w source.Window) *scanRing {
	r := d.recent[e]
	if r == nil {
		r = &scanRing{}
		d.recent[e] = r
	}
	r.expire(w.Start.Add(-d.span(w.End.Sub(w.Start)) + w.End.Sub(w.Start)).Unix())
	return r
}

// expire drops the slots that started before oldest.
func (r *scanRing) expire(oldest int64) {
	i := 0
	for i < len(r.slots) && r.slots[i].start < oldest {
		i++
	}
	r.slots = r.slots[i:]
}

// forget drops entities with no window left in the slow span, so memory
// follows the entities active in the last slow_windows windows.
func (d *distinctScan) forget(w source.Window) {
	oldest := w.Start.Add(-d.span(w.End.Sub(w.Start)) + w.End.Sub(w.Start)).Unix()
	for e, r := range d.recent {
		if r.expire(oldest); len(r.slots) == 0 {
			delete(d.recent, e)
		}
	}
}

// slowCounts is the distinct values of e over the slow span, the current
// window included, and how many of them the current window added.
func (d *distinctScan) slowCounts(r *scanRing, current model.DistinctSketch) (total, fresh float64) {
	var earlier []model.DistinctSketch
	for _, s := range r.slots {
		if !s.fast {
			earlier = append(earlier, s.sketch)
		}
	}
	before, scratch := model.UnionCount(sketchSize, d.scratch, earlier...)
	total, scratch = model.UnionCount(sketchSize, scratch, append(earlier, current)...)
	d.scratch = scratch
	return total, max(0, total-before)
}

// scanJudgement is one entity's counts in a window.
type scanJudgement struct {
	fast, slow, fresh float64
	fastLimit         float64
	slowLimit         float64
	fastScore         float64
	slowScore         float64
}

func (j scanJudgement) score() float64 { return max(j.fastScore, j.slowScore) }

// isSlow reports whether the verdict is about the slow count.
func (j scanJudgement) isSlow() bool {
	return j.fastScore < scoreThreshold && j.slowScore > j.fastScore
}

// observe judges one entity's window and records it in the sliding span.
func (d *distinctScan) observe(w source.Window, we *windowEntity) scanJudgement {
	r := d.ring(we.entity, w)
	sketch := model.NewDistinctSketch(sketchSize, we.hashes)
	j := scanJudgement{fast: float64(len(we.hashes)), fastLimit: d.threshold, slowLimit: d.slowLimit}
	j.slow, j.fresh = d.slowCounts(r, sketch)
	j.fastScore = countScore(j.fast, j.fastLimit)
	if j.fresh > 0 {
		j.slowScore = countScore(j.slow, j.slowLimit)
	}
	r.slots = append(r.slots, scanSlot{
		start: w.Start.Unix(), fast: j.fastScore >= scoreThreshold, sketch: sketch, sources: we.sources,
	})
	return j
}

// Judge scores every source entity of the window, fast and slow.
func (d *distinctScan) Judge(w source.Window, rows [][]source.Row) []Verdict {
	ents := d.collect(rows)
	out := make([]Verdict, 0, len(ents))
	for _, we := range ents {
		j := d.observe(w, we)
		out = append(out, d.verdict(w, we, j))
	}
	d.forget(w)
	return out
}

func (d *distinctScan) verdict(w source.Window, we *windowEntity, j scanJudgement) Verdict {
	e := we.entity
	v := Verdict{
		Detector:  d.name,
		Entity:    e,
		Window:    w,
		Score:     j.score(),
		Threshold: scoreThreshold,
		Observed:  j.fast,
		Expected:  j.fastLimit,
	}
	who := fmt.Sprintf("%s in namespace %s", e.Workload, e.Namespace)
	sources := we.sources
	length := w.End.Sub(w.Start)
	if j.isSlow() {
		v.Observed, v.Expected = j.slow, j.slowLimit
		sources = d.slowSources(e)
		v.Summary = fmt.Sprintf("%s reached %.0f distinct %s over the last %s, %.0f in this window, %.0f of them new (slow scan; alert at %.0f over %d windows)",
			who, j.slow, d.noun, d.span(length), j.fast, j.fresh, j.slowLimit, d.slowWindows)
	} else {
		v.Summary = fmt.Sprintf("%s reached %.0f distinct %s in %s (fast scan; alert at %.0f)",
			who, j.fast, d.noun, length, j.fastLimit)
	}
	filters := []source.Term{
		{Field: "source_namespace", Values: []string{we.key[0]}},
		{Field: "source_name_aggr", Values: []string{we.key[1]}},
		{Field: "source_type", Values: []string{we.key[2]}},
	}
	if e.Type == calicolog.TypeNetwork && len(sources) > 0 {
		v.Summary += "; from outside the cluster: " + describeSources(sources)
		if sources[0].ip != nullIP {
			filters = append(filters, source.Term{Field: "source_ip", Values: []string{sources[0].ip}})
		}
	}
	v.EvidenceQuery = []EvidenceQuery{{Log: string(calicolog.Flows), Filters: filters, Limit: 5}}
	return v
}

// slowSources adds up the outside addresses of e's windows in the span.
func (d *distinctScan) slowSources(e Entity) []sourceCount {
	r := d.recent[e]
	if r == nil {
		return nil
	}
	sum := map[string]float64{}
	for _, s := range r.slots {
		for _, c := range s.sources {
			sum[c.ip] += c.count
		}
	}
	out := make([]sourceCount, 0, len(sum))
	for ip, n := range sum {
		out = append(out, sourceCount{ip: ip, count: n})
	}
	return topSourceCounts(out)
}

func describeSources(s []sourceCount) string {
	var b []byte
	for i, c := range s {
		if i > 0 {
			b = append(b, ", "...)
		}
		ip := c.ip
		if ip == nullIP {
			ip = "aggregated addresses"
		}
		b = fmt.Appendf(b, "%s (%.0f)", ip, c.count)
	}
	return string(b)
}
