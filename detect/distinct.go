package detect

import (
	"cmp"
	"fmt"
	"math"
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
//     stay under the per-window threshold is still found. A window already
//     reported as a fast scan is left out of the union (it was reported on
//     its own), and the slow verdict only holds while the window adds
//     values the span had not seen, so the hour after a scan is not
//     reported again.
//
// Both limits start at the thresholds, Calico's meaning for a workload
// with no history. Each workload (its deployment, across rollouts) keeps a
// history of what it reached; once it has min_history_windows windows, the
// limits become learned_margin times its median when that is higher, so a
// prober or a health checker that always reaches many ports or addresses
// is not flagged, while it still is when it reaches far more than usual,
// and any other workload still is at the thresholds.
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
	sketches    []model.DistinctSketch

	// What each workload usually reaches, by model key (Entity.ModelKey).
	history      map[string]*scanHistory
	historyLen   int     // windows each history keeps
	minHistory   int     // windows of history before it raises the limits
	margin       float64 // how many times its usual level a learned entity may reach
	trainWindows int     // windows learned before the detector judges
	learned      int     // windows learned or judged so far
	usualScratch []float64
	text         text                               // scratch for summaries
	reached      entityFieldColumns                 // of the first query: the entity and the value reached
	outside      entityFieldColumns                 // of the second: the entity and the outside address
	window       windowGroups[Entity, windowEntity] // scratch of collect
	valueHashes  []entityHash                       // scratch of collect
}

// entityHash is a value one entity of the window reached, by the entity's
// index among the window's groups.
type entityHash struct {
	group int
	hash  uint64
}

// scanRing is one entity's last slowWindows windows.
type scanRing struct {
	slots []scanSlot // oldest first, at most slowWindows
	hk    string     // the entity's ModelKey, once built
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
	d := &distinctScan{
		name: info.Name, cluster: o.Cluster, field: field, noun: noun,
		threshold: t, slowLimit: max(slow, t), slowWindows: int(n),
		recent: map[Entity]*scanRing{}, history: map[string]*scanHistory{},
	}
	qs := d.Queries()
	d.reached, d.outside = entityFieldColumnsOf(qs[0], "source", field), entityFieldColumnsOf(qs[1], "source", "source_ip")
	windows := func(key string, lo, hi int) (int, error) {
		v, err := o.Float(info, key)
		if err != nil {
			return 0, err
		}
		if v < float64(lo) || v > float64(hi) || v != float64(int(v)) {
			return 0, fmt.Errorf("detector %s: %s %v must be a whole number of windows from %d to %d", info.Name, key, v, lo, hi)
		}
		return int(v), nil
	}
	if d.historyLen, err = windows("history_windows", 1, maxHistoryWindows); err != nil {
		return nil, err
	}
	if d.minHistory, err = windows("min_history_windows", 1, maxHistoryWindows); err != nil {
		return nil, err
	}
	if d.minHistory > d.historyLen {
		return nil, fmt.Errorf("detector %s: min_history_windows %d is more than the history_windows %d kept", info.Name, d.minHistory, d.historyLen)
	}
	if d.trainWindows, err = windows("train_windows", 0, maxHistoryWindows); err != nil {
		return nil, err
	}
	if d.margin, err = o.Float(info, "learned_margin"); err != nil {
		return nil, err
	}
	if d.margin < 1 {
		return nil, fmt.Errorf("detector %s: learned_margin %v must be at least 1", info.Name, d.margin)
	}
	return d, nil
}

func (d *distinctScan) Name() string       { return d.name }
func (d *distinctScan) Threshold() float64 { return scoreThreshold }

// Ready is true once train_windows windows were learned: at once by
// default, judging entities with no history by Calico's thresholds.
func (d *distinctScan) Ready() bool { return d.learned >= d.trainWindows }

// WantsHistory is true until the first window is learned, judged or
// loaded: the engine then feeds the detector the history it reads at
// start (--train.lookback), though it judges from the first window.
func (d *distinctScan) WantsHistory() bool { return d.learned == 0 }

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
	count   int // rows of values
	hashes  []uint64
	sources []sourceCount
}

// collect groups the window's rows by entity, in entity order; the groups
// are the detector's scratch, valid until the next call.
func (d *distinctScan) collect(rows [][]source.Row) []*windowEntity {
	if len(rows) == 0 {
		return nil
	}
	d.window.reset()
	hashes := d.valueHashes[:0]
	c := d.reached
	for _, r := range rows[0] {
		if !c.fits(r) || r.Key[c.entity.workload] == "" {
			continue
		}
		e := c.entity.of(d.cluster, r)
		i, fresh := d.window.at(e)
		if fresh {
			// Not the hashes' nor the sources' capacity: the ring of
			// recent windows keeps them.
			d.window.items[i] = windowEntity{entity: e, key: c.entity.key(r)}
		}
		hashes = append(hashes, entityHash{group: i, hash: model.HashValue(r.Key[c.field])})
		d.window.items[i].count++
	}
	d.valueHashes = hashes
	// Every entity's hashes in one array the sketches keep, each its own
	// part of it, in the order of the rows.
	all := make([]uint64, len(hashes))
	off := 0
	for i := range d.window.items {
		we := &d.window.items[i]
		we.hashes = all[off:off:min(off+we.count, len(all))]
		off += we.count
	}
	for _, h := range hashes {
		we := &d.window.items[h.group]
		we.hashes = append(we.hashes, h.hash)
	}
	if len(rows) > 1 {
		c := d.outside
		for _, r := range rows[1] {
			if !c.fits(r) || len(r.Values) < 1 {
				continue
			}
			if we, ok := d.window.find(c.entity.of(d.cluster, r)); ok {
				we.sources = append(we.sources, sourceCount{ip: r.Key[c.field], count: r.Values[0]})
			}
		}
	}
	out := d.window.sorted(func(a, b *windowEntity) int {
		x, y := a.entity, b.entity
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Workload, y.Workload), cmp.Compare(x.Type, y.Type))
	})
	for _, we := range out {
		we.sources = topSourceCounts(we.sources)
	}
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
	earlier := d.sketches[:0]
	for _, s := range r.slots {
		if !s.fast {
			earlier = append(earlier, s.sketch)
		}
	}
	before, scratch := model.UnionCount(sketchSize, d.scratch, earlier...)
	earlier = append(earlier, current)
	total, scratch = model.UnionCount(sketchSize, scratch, earlier...)
	d.scratch, d.sketches = scratch, earlier[:0]
	return total, max(0, total-before)
}

// scanJudgement is one entity's counts in a window.
type scanJudgement struct {
	fast, slow, fresh float64
	fastLimit         float64
	slowLimit         float64
	fastScore         float64
	slowScore         float64
	// learned is set when the entity's history raised its limits above
	// the thresholds; usualFast and usualSlow are what it usually reaches.
	learned              bool
	usualFast, usualSlow float64
}

func (j scanJudgement) score() float64 { return max(j.fastScore, j.slowScore) }

// isSlow reports whether the verdict is about the slow count.
func (j scanJudgement) isSlow() bool {
	return j.fastScore < scoreThreshold && j.slowScore > j.fastScore
}

// observe judges one entity's window and records it in the sliding span.
func (d *distinctScan) observe(w source.Window, we *windowEntity) scanJudgement {
	r := d.ring(we.entity, w)
	slices.Sort(we.hashes)
	we.hashes = slices.Compact(we.hashes) // a value twice in the rows counts once
	fast := float64(len(we.hashes))
	sketch := model.NewDistinctSketch(sketchSize, we.hashes)
	j := scanJudgement{fast: fast, fastLimit: d.threshold, slowLimit: d.slowLimit}
	j.slow, j.fresh = d.slowCounts(r, sketch)
	if r.hk == "" {
		r.hk = we.entity.ModelKey()
	}
	hk := r.hk
	h := d.history[hk]
	if h != nil && h.Seen >= d.minHistory {
		j.usualFast, j.usualSlow = h.usual(&d.usualScratch)
		j.fastLimit = max(j.fastLimit, d.margin*j.usualFast)
		j.slowLimit = max(j.slowLimit, d.margin*j.usualSlow, j.fastLimit)
		j.learned = j.fastLimit > d.threshold || j.slowLimit > d.slowLimit
	}
	j.fastScore = countScore(j.fast, j.fastLimit)
	if j.fresh > 0 {
		j.slowScore = countScore(j.slow, j.slowLimit)
	}
	r.slots = append(r.slots, scanSlot{
		start: w.Start.Unix(), fast: j.fastScore >= scoreThreshold, sketch: sketch, sources: we.sources,
	})
	if h == nil {
		h = &scanHistory{}
		d.history[hk] = h
	}
	h.add(j.fast, j.slow, w.Start.Unix(), d.historyLen)
	return j
}

// Learn records the window's entities in the sliding span and in their
// history without judging them (training from past windows).
func (d *distinctScan) Learn(w source.Window, rows [][]source.Row) {
	for _, we := range d.collect(rows) {
		d.observe(w, we)
	}
	d.endWindow(w)
}

// Judge scores every source entity of the window, fast and slow, then
// records it.
func (d *distinctScan) Judge(w source.Window, rows [][]source.Row) []Verdict {
	ents := d.collect(rows)
	out := make([]Verdict, 0, len(ents))
	for _, we := range ents {
		j := d.observe(w, we)
		v := d.verdict(w, we, j)
		if v.Anomalous() {
			v.EvidenceQuery = probedEvidence(d.field, d.reached, rows[0], we.entity, v.EvidenceQuery)
		}
		out = append(out, v)
	}
	d.endWindow(w)
	return out
}

func (d *distinctScan) endWindow(w source.Window) {
	d.learned = min(d.learned+1, math.MaxInt32)
	d.forget(w)
	cut := w.Start.Add(-historyIdle).Unix()
	for k, h := range d.history {
		if h.Last < cut {
			delete(d.history, k)
		}
	}
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
	sources := we.sources
	if j.isSlow() {
		v.Observed, v.Expected = j.slow, j.slowLimit
		sources = d.slowSources(e)
	}
	network := e.Type == calicolog.TypeNetwork && len(sources) > 0
	t := d.scanSummary(e, w.End.Sub(w.Start), j, v.Anomalous())
	if network {
		t.str("; top sources: ")
		describeSources(t, sources)
	}
	v.Summary = t.String()
	v.EvidenceQuery = scanEvidence(we.key, network, sources)
	return v
}

// scanEvidence selects the entity's flows and, for an outside network, its
// top source address when known; in one allocation, as every verdict has
// one.
func scanEvidence(key []string, network bool, sources []sourceCount) []EvidenceQuery {
	b := &struct {
		query  [1]EvidenceQuery
		terms  [4]source.Term
		values [4]string
	}{values: [4]string{key[0], key[1], key[2]}}
	b.terms[0] = source.Term{Field: "source_namespace", Values: b.values[0:1:1]}
	b.terms[1] = source.Term{Field: "source_name_aggr", Values: b.values[1:2:2]}
	b.terms[2] = source.Term{Field: "source_type", Values: b.values[2:3:3]}
	n := 3
	if network && sources[0].ip != nullIP {
		b.values[3] = sources[0].ip
		b.terms[3] = source.Term{Field: "source_ip", Values: b.values[3:4:4]}
		n = 4
	}
	b.query[0] = EvidenceQuery{Log: string(calicolog.Flows), Filters: b.terms[:n:n], Limit: 5}
	return b.query[:]
}

// scanSummary writes into the detector's scratch text what the entity
// reached against its limit, fast or slow, naming the kind of scan only
// when the verdict is anomalous.
func (d *distinctScan) scanSummary(e Entity, length time.Duration, j scanJudgement, anomalous bool) *text {
	t := d.text.reset()
	if e.Type == calicolog.TypeNetwork {
		t.str("the network ").str(e.Workload).str(" outside the cluster")
	} else {
		t.str(e.Workload).str(" in namespace ").str(e.Namespace)
	}
	kind := func(k string) {
		if anomalous {
			t.str(k).str(" scan; ")
		}
	}
	if j.isSlow() {
		t.str(" reached ").fixed(j.slow, 0).str(" distinct ").str(d.noun).str(" over the last ").duration(d.span(length)).
			str(", ").fixed(j.fast, 0).str(" in this window, ").fixed(j.fresh, 0).str(" of them new (")
		kind("slow")
		t.str("alert at ").fixed(j.slowLimit, 0).str(" over ").integer(d.slowWindows).str(" windows")
		d.usualNote(t, j.learned, j.usualSlow)
	} else {
		t.str(" reached ").fixed(j.fast, 0).str(" distinct ").str(d.noun).str(" in ").duration(length).str(" (")
		kind("fast")
		t.str("alert at ").fixed(j.fastLimit, 0)
		d.usualNote(t, j.learned, j.usualFast)
	}
	return t.str(")")
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

// describeSources writes "<ip> (<count>), ..." of the top sources.
func describeSources(t *text, s []sourceCount) {
	for i, c := range s {
		if i > 0 {
			t.str(", ")
		}
		ip := c.ip
		if ip == nullIP {
			ip = "aggregated addresses"
		}
		t.str(ip).str(" (").fixed(c.count, 0).str(")")
	}
}

// usualNote explains a limit raised by what the entity usually reaches.
func (d *distinctScan) usualNote(t *text, learned bool, usual float64) {
	if learned {
		t.str(", ").general(d.margin, -1).str("× the ").fixed(usual, 0).str(" it usually reaches")
	}
}

const (
	// maxHistoryWindows bounds history_windows and min_history_windows
	// (a week at 5 minutes).
	maxHistoryWindows = 7 * 24 * 12
	// historyIdle is how long a workload's history is kept after it was
	// last seen.
	historyIdle = 7 * 24 * time.Hour
)

// scanHistory is what one workload reached in its last windows (those it
// appeared in), fast and slow: two rings of history_windows counts, 8 bytes
// a window (2.3 KiB at 288 windows). What it usually reaches is the
// median, so scans that fill less than half of the history do not move
// it, whatever the verdicts were; a workload that reaches many values in
// most of its windows for min_history_windows windows (a prober, a health
// checker) is learned.
type scanHistory struct {
	Fast []uint32 `json:"fast"`
	Slow []uint32 `json:"slow"`
	Next int      `json:"next"` // ring position of the next window
	Seen int      `json:"seen"` // windows recorded (at most MaxInt32)
	Last int64    `json:"last"` // start of the last window recorded, Unix seconds

	// The medians, recomputed every usualEvery windows: what a workload
	// usually reaches moves slowly, and sorting each history every window
	// would cost more than the rest of the judgement.
	UsualFast float64 `json:"usual_fast,omitempty"`
	UsualSlow float64 `json:"usual_slow,omitempty"`
	UsualAt   int     `json:"usual_at,omitempty"` // Seen when they were computed; 0: never
}

// usualEvery is how many windows the medians of a history are reused for.
const usualEvery = 12

func (h *scanHistory) add(fast, slow float64, at int64, size int) {
	f, s := uint32(min(math.Round(fast), math.MaxUint32)), uint32(min(math.Round(slow), math.MaxUint32))
	if len(h.Fast) < size {
		h.Fast, h.Slow = append(h.Fast, f), append(h.Slow, s)
		h.Next = len(h.Fast) % size
	} else {
		h.Next %= len(h.Fast)
		h.Fast[h.Next], h.Slow[h.Next] = f, s
		h.Next = (h.Next + 1) % len(h.Fast)
	}
	h.Seen = min(h.Seen+1, math.MaxInt32)
	h.Last = at
}

// usual is the median of the fast and of the slow counts, as of at most
// usualEvery windows ago.
func (h *scanHistory) usual(scratch *[]float64) (fast, slow float64) {
	if h.UsualAt > 0 && h.Seen-h.UsualAt < usualEvery {
		return h.UsualFast, h.UsualSlow
	}
	med := func(v []uint32) float64 {
		x := (*scratch)[:0]
		for _, c := range v {
			x = append(x, float64(c))
		}
		*scratch = x
		return model.Median(x)
	}
	h.UsualFast, h.UsualSlow, h.UsualAt = med(h.Fast), med(h.Slow), h.Seen
	return h.UsualFast, h.UsualSlow
}

// learnedScanParams are the settings port_scan and ip_sweep share about
// what a workload usually reaches.
var learnedScanParams = []Param{{
	Key: "history_windows", Default: "288",
	Help: "windows of its own history each workload keeps (288 windows of 5 minutes: one day)",
}, {
	Key: "min_history_windows", Default: "72",
	Help: "windows a workload must have been seen in before what it usually reaches can raise its limits above the thresholds",
}, {
	Key: "learned_margin", Default: "2",
	Help: "a workload with history alerts at this many times what it usually reaches (the median of its history), never below the thresholds",
}, {
	Key: "train_windows", Default: "0",
	Help: "windows learned from history before the detector judges (0: judge at once, by the thresholds while there is no history)",
}}

var _ EntityBounded = (*distinctScan)(nil)

// LiveEntities is the workloads with a learned history or windows in the
// slow span.
func (d *distinctScan) LiveEntities() int { return max(len(d.history), len(d.recent)) }

// ForgetLeastRecent drops the histories and slow-span windows of the
// workloads seen least recently, keeping keep of each.
func (d *distinctScan) ForgetLeastRecent(keep int) int {
	last := make(map[string]int64, len(d.history))
	for k, h := range d.history {
		last[k] = h.Last
	}
	dropped := 0
	for _, k := range leastRecent(last, keep) {
		delete(d.history, k)
		dropped++
	}
	if len(d.recent) > keep {
		byKey := make(map[string]int64, len(d.recent))
		entities := make(map[string]Entity, len(d.recent))
		for e, r := range d.recent {
			k := e.Key()
			entities[k] = e
			if n := len(r.slots); n > 0 {
				byKey[k] = r.slots[n-1].start
			} else {
				byKey[k] = math.MinInt64
			}
		}
		for _, k := range leastRecent(byKey, keep) {
			delete(d.recent, entities[k])
		}
		dropped = max(dropped, len(byKey)-keep)
	}
	return dropped
}
