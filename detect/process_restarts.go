package detect

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func init() {
	Register(Info{
		Name:           "process_restarts",
		Family:         Both,
		Logs:           []string{"flows"},
		Unit:           UnitRestarts,
		DefaultEnabled: true,
		Help:           "process restarts per pod: distinct process_id for the same process_name in a window and over the last hour, against the workload's usual restarts",
		Params: []Param{
			{Key: "sensitivity", Env: "AD_PROCESS_RESTARTS_SENSITIVITY", Default: "2", Help: "0-100, higher means more alerts"},
			{Key: "min_restarts", Env: "AD_PROCESS_RESTARTS_MIN_RESTARTS", Default: "4", Help: "fewest restarts above what the workload usually shows that alert"},
			{Key: "threshold", Env: "AD_ProcessRestarts_threshold", Default: "4", Help: "older name of min_restarts (a workshop used 5); used when min_restarts is not set"},
		},
		Scope: NamespaceScope,
		New:   newProcessRestarts,
	})
}

const (
	// restartSpanWindows is the sliding span restarts are counted over: an
	// hour of 5-minute windows, long enough to hold a crash loop backing
	// off to five minutes between restarts.
	restartSpanWindows = 12
	// maxIDsPerProcess bounds the process ids remembered per pod and
	// process name.
	maxIDsPerProcess = 256
	// restartsHalfLife is how fast a workload's usual restarts forget.
	restartsHalfLife = 7 * 24 * time.Hour
)

// processRestarts counts, for each pod and process name, the distinct
// process ids its flow records carried (each side reports its own
// endpoint's process: the source's records and the destination's): in
// the window, and over the last restartSpanWindows windows. Restarts are
// distinct ids less one. When a record stands for several ids of one
// process (process_id "*"), num_process_ids counts for the window.
//
// At Calico's default aggregation of allowed flows the pod names are
// aggregated ("-"): the pods of a replica set on one node then share a
// record, whose num_process_ids counts their processes together. Such
// records are counted per node, as one pseudo-pod ("-@<host>"), whose
// "restarts" include its sibling pods; that offset is steady, so it is
// learned as the workload's usual.
//
// A workload is judged in a window where one of its pods' processes
// started a new id; its restarts are the worst pod's, in the window or
// over the span. What a workload usually shows (a server that recycles
// worker processes, a pod that restarts nightly, pods sharing a record)
// is learned as a decayed mean and standard deviation of its restarts
// per window (half-life a week), and the alert bound is
//
//	bound = usual + max(min_restarts, z·sd)
//
// with z from AD_PROCESS_RESTARTS_SENSITIVITY as for every sensitivity:
// min_restarts above what the workload steadily shows, more where its
// restarts vary. The score is restarts/(restarts+bound), 0.5 at the
// bound. Anomalous workloads are not learned.
type processRestarts struct {
	cluster     string
	zThreshold  float64
	minRestarts float64
	span        time.Duration
	windows     int // windows learned
	procs       map[procKey]*procIDs
	usual       map[Entity]*restartHistory
	forget      forgetter
	cols        []processColumns                  // of each query, in the order of Queries
	text        text                              // scratch for summaries
	window      windowGroups[procKey, procWindow] // scratch of collect
}

// processSides are the two queries of the process detectors, in their
// order: each workload's processes as the source of its flows (from the
// source's reports) and as their destination (from the destination's).
var processSides = [...]struct{ side, reporter string }{{"source", "src"}, {"dest", "dst"}}

// processColumns are the fields a process detector reads of a query's
// rows: the workload, its pod, the process, and, where the query groups
// by them, the process id and the node.
type processColumns struct {
	rowColumns
	entity                        entityColumns
	pod, process, processID, host int
}

// processColumnsOf resolves the fields of q, a query of side's processes;
// processID and host are -1 where q does not group by them.
func processColumnsOf(q source.Query, side string) processColumns {
	c := processColumns{rowColumns: columnsOf(q), processID: -1, host: -1}
	c.entity, c.pod, c.process = c.rowColumns.entity(side), c.col(side+"_name"), c.col("process_name")
	if _, ok := c.fields["process_id"]; ok {
		c.processID, c.host = c.col("process_id"), c.col("host")
	}
	return c
}

// procKey is one process name in one pod of a workload.
type procKey struct {
	Entity  Entity `json:"entity"`
	Pod     string `json:"pod"`
	Process string `json:"process"`
}

// procIDs are the ids a process had, with the start of the window each
// was last seen in.
type procIDs struct {
	IDs map[string]time.Time `json:"ids"`
}

type restartHistory struct {
	Sum    float64   `json:"sum"`
	SumSq  float64   `json:"sum_sq"`
	Weight float64   `json:"weight"`
	At     time.Time `json:"at"`
}

func newProcessRestarts(o Options) (Detector, error) {
	info, _ := Lookup("process_restarts")
	s, err := o.Float(info, "sensitivity")
	if err != nil {
		return nil, err
	}
	if s < 0 || s > 100 {
		return nil, fmt.Errorf("detector process_restarts: AD_PROCESS_RESTARTS_SENSITIVITY=%v is not within 0-100", s)
	}
	minRestarts, err := o.Float(info, "min_restarts")
	if err != nil {
		return nil, err
	}
	if _, set := o.Params["min_restarts"]; !set {
		if raw := o.Params["threshold"]; raw != "" {
			v, err := strconv.ParseFloat(raw, 64)
			if err != nil {
				return nil, fmt.Errorf("detector process_restarts: setting AD_ProcessRestarts_threshold=%q is not a number", raw)
			}
			minRestarts = v
		}
	}
	if !(minRestarts >= 1) || math.IsInf(minRestarts, 0) {
		return nil, fmt.Errorf("detector process_restarts: AD_PROCESS_RESTARTS_MIN_RESTARTS=%v must be at least 1", minRestarts)
	}
	bucket := o.Bucket
	if bucket <= 0 {
		bucket = 5 * time.Minute
	}
	d := &processRestarts{
		cluster: o.Cluster, zThreshold: model.SensitivityZ(s), minRestarts: minRestarts,
		span:  restartSpanWindows * bucket,
		procs: map[procKey]*procIDs{}, usual: map[Entity]*restartHistory{},
	}
	for i, q := range d.Queries() {
		d.cols = append(d.cols, processColumnsOf(q, processSides[i].side))
	}
	return d, nil
}

func (d *processRestarts) Name() string       { return "process_restarts" }
func (d *processRestarts) Threshold() float64 { return scoreThreshold }
func (d *processRestarts) Ready() bool        { return d.windows >= restartSpanWindows }

func processQuery(name, side, reporter string, metrics ...source.Metric) source.Query {
	return source.Query{
		Name: name, Log: calicolog.Flows,
		GroupBy: []string{side + "_namespace", side + "_name_aggr", side + "_type", side + "_name", "process_name", "process_id", "host"},
		Filters: []source.Term{{Field: "reporter", Values: []string{reporter}}},
		Metrics: metrics,
	}
}

func (d *processRestarts) Queries() []source.Query {
	ids := source.Metric{Name: "num_process_ids", Kind: source.Max, Field: "num_process_ids"}
	out := make([]source.Query, len(processSides))
	for i, s := range processSides {
		out[i] = processQuery("process_restarts_"+s.reporter, s.side, s.reporter, ids)
	}
	return out
}

// procWindow is one pod's process in a window.
type procWindow struct {
	key      procKey
	ids      []string
	starred  float64 // most ids one aggregated record stood for
	restarts float64 // in the window
	spanned  float64 // over the span, the window included
	started  bool    // an id not seen in the span before
}

// namedProcess reports whether a process name is a logged one.
func namedProcess(p string) bool {
	return p != "" && p != calicolog.Aggregated && p != "*"
}

// collect reads the window's rows into each pod's processes, updates the
// ids remembered, and returns them by workload (entityLess), pod and
// process, so each workload's are contiguous (nextWorkload). They are the
// detector's scratch, valid until the next call.
func (d *processRestarts) collect(w source.Window, rows [][]source.Row) []*procWindow {
	d.window.reset()
	for qi, rs := range rows {
		if qi >= len(d.cols) {
			break
		}
		c := d.cols[qi]
		for _, r := range rs {
			if !c.fits(r) || r.Key[c.entity.workload] == "" || r.Key[c.entity.typ] != calicolog.TypeWorkload || !namedProcess(r.Key[c.process]) {
				continue
			}
			pod := r.Key[c.pod]
			if pod == "" || pod == calicolog.Aggregated {
				pod = calicolog.Aggregated + "@" + r.Key[c.host] // the pods of one node
			}
			k := procKey{Entity: c.entity.of(d.cluster, r), Pod: pod, Process: r.Key[c.process]}
			pw, fresh := d.window.get(k)
			if fresh {
				// The ids are read within the window only.
				*pw = procWindow{key: k, ids: pw.ids[:0]}
			}
			switch id := r.Key[c.processID]; {
			case id == "*":
				if len(r.Values) == 1 {
					pw.starred = max(pw.starred, r.Values[0])
				}
			case id != "" && id != calicolog.Aggregated:
				pw.ids = append(pw.ids, id)
			}
		}
	}
	if forgetCut, ok := d.forget.due(w.End); ok {
		for e, h := range d.usual {
			if h.At.Before(forgetCut) {
				delete(d.usual, e)
			}
		}
	}
	cut := w.End.Add(-d.span)
	for i := range d.window.items {
		pw := &d.window.items[i]
		k := pw.key
		p := d.procs[k]
		if p == nil {
			p = &procIDs{IDs: map[string]time.Time{}}
			d.procs[k] = p
		}
		distinct := 0
		for i, id := range pw.ids {
			if !slices.Contains(pw.ids[:i], id) {
				distinct++
			}
			if last, ok := p.IDs[id]; !ok || last.Before(cut) {
				pw.started = true
			}
			p.IDs[id] = w.Start
		}
		n := 0
		for id, last := range p.IDs {
			if last.Before(cut) {
				delete(p.IDs, id)
				continue
			}
			n++
		}
		for len(p.IDs) > maxIDsPerProcess {
			p.dropOldest()
		}
		pw.restarts = max(float64(distinct), pw.starred) - 1
		pw.spanned = max(float64(n)-1, pw.restarts)
		if pw.starred > 1 {
			pw.started = true
		}
	}
	// Keys are unique: a total order.
	out := d.window.sorted(func(a, b *procWindow) int {
		return cmp.Or(entityCompare(a.key.Entity, b.key.Entity), strings.Compare(a.key.Pod, b.key.Pod),
			strings.Compare(a.key.Process, b.key.Process))
	})
	d.prune(cut)
	return out
}

// nextWorkload splits the processes collect returned into the first
// workload's and the rest.
func nextWorkload(ps []*procWindow) (e Entity, its, rest []*procWindow) {
	e = ps[0].key.Entity
	n := 1
	for n < len(ps) && ps[n].key.Entity == e {
		n++
	}
	return e, ps[:n], ps[n:]
}

func (p *procIDs) dropOldest() {
	var oldest string
	var at time.Time
	for id, t := range p.IDs {
		if oldest == "" || t.Before(at) || (t.Equal(at) && id < oldest) {
			oldest, at = id, t
		}
	}
	delete(p.IDs, oldest)
}

// prune forgets the processes not seen over the span.
func (d *processRestarts) prune(cut time.Time) {
	for k, p := range d.procs {
		keep := false
		for _, last := range p.IDs {
			if !last.Before(cut) {
				keep = true
				break
			}
		}
		if !keep {
			delete(d.procs, k)
		}
	}
}

// worst is the workload's process that restarted most, over the window or
// the span, among those that started a new id in this window.
func worstRestarts(ps []*procWindow) (*procWindow, float64) {
	var worst *procWindow
	r := 0.0
	for _, p := range ps {
		if !p.started {
			continue
		}
		if x := max(p.restarts, p.spanned); worst == nil || x > r {
			worst, r = p, x
		}
	}
	return worst, r
}

func (d *processRestarts) learn(w source.Window, e Entity, restarts float64) {
	h := d.usual[e]
	if h == nil {
		h = &restartHistory{At: w.End}
		d.usual[e] = h
	}
	if w.End.After(h.At) {
		f := math.Exp2(-w.End.Sub(h.At).Hours() / restartsHalfLife.Hours())
		h.Sum, h.SumSq, h.Weight, h.At = h.Sum*f, h.SumSq*f, h.Weight*f, w.End
	}
	h.Sum += restarts
	h.SumSq += restarts * restarts
	h.Weight++
}

// Learn counts the window's process ids and learns each workload's restarts.
func (d *processRestarts) Learn(w source.Window, rows [][]source.Row) {
	for ps := d.collect(w, rows); len(ps) > 0; {
		e, its, rest := nextWorkload(ps)
		_, r := worstRestarts(its)
		d.learn(w, e, r)
		ps = rest
	}
	d.windows++
}

// bound is the restarts at which a workload alerts.
func (d *processRestarts) bound(e Entity) (usual, bound float64) {
	var sd float64
	if h := d.usual[e]; h != nil && h.Weight > 0 {
		usual = h.Sum / h.Weight
		sd = math.Sqrt(max(0, h.SumSq/h.Weight-usual*usual))
	}
	return usual, usual + max(d.minRestarts, d.zThreshold*sd)
}

// Judge scores every workload whose processes were seen, then learns the
// workloads that are not anomalous.
func (d *processRestarts) Judge(w source.Window, rows [][]source.Row) []Verdict {
	ps := d.collect(w, rows)
	d.windows++
	workloads := 0
	for i, p := range ps {
		if i == 0 || p.key.Entity != ps[i-1].key.Entity {
			workloads++
		}
	}
	out := make([]Verdict, 0, workloads)
	for len(ps) > 0 {
		e, its, rest := nextWorkload(ps)
		ps = rest
		p, r := worstRestarts(its)
		usual, bound := d.bound(e)
		v := Verdict{
			Detector: d.Name(), Entity: e, Window: w,
			Score: countScore(r, bound), Threshold: scoreThreshold,
			Observed: r, Expected: usual,
		}
		v.Summary = d.summary(e, p, usual, bound)
		if v.Anomalous() {
			for _, side := range []struct{ reporter, prefix string }{{"src", "source"}, {"dst", "dest"}} {
				filters := []source.Term{
					{Field: "reporter", Values: []string{side.reporter}},
					{Field: side.prefix + "_namespace", Values: []string{e.Namespace}},
					{Field: side.prefix + "_name_aggr", Values: []string{e.Workload}},
					{Field: "process_name", Values: []string{p.key.Process}},
				}
				if host, ok := strings.CutPrefix(p.key.Pod, calicolog.Aggregated+"@"); ok {
					filters = append(filters, source.Term{Field: side.prefix + "_name", Values: []string{calicolog.Aggregated}})
					if host != "" {
						filters = append(filters, source.Term{Field: "host", Values: []string{host}})
					}
				} else {
					filters = append(filters, source.Term{Field: side.prefix + "_name", Values: []string{p.key.Pod}})
				}
				v.EvidenceQuery = append(v.EvidenceQuery, EvidenceQuery{Log: string(calicolog.Flows), Filters: filters, Limit: 5})
			}
		} else {
			d.learn(w, e, r)
		}
		out = append(out, v)
	}
	return out
}

// summary names the process that restarted most and how often, or says
// none restarted.
func (d *processRestarts) summary(e Entity, p *procWindow, usual, bound float64) string {
	t := d.text.reset()
	if p == nil {
		return t.str(e.Workload).str(" in namespace ").str(e.Namespace).str(": no process restarted in this window").String()
	}
	return t.str("pod ").str(p.key.Pod).str(" of ").str(e.Workload).str(" in namespace ").str(e.Namespace).
		str(": process ").str(p.key.Process).str(" restarted ").fixed(p.restarts, 0).str(" times in this window and ").
		fixed(p.spanned, 0).str(" times in the last ").duration(d.span).str(" (").integer(int(p.spanned)+1).
		str(" ids), where ").fixed(usual, 2).str(" is usual (alert at ").fixed(bound, 1).str(")").String()
}

type savedProc struct {
	Key procKey              `json:"key"`
	IDs map[string]time.Time `json:"ids"`
}

type savedRestarts struct {
	Entity  Entity         `json:"entity"`
	History restartHistory `json:"history"`
}

// SaveModel writes the ids of the span and the workloads' usual restarts.
func (d *processRestarts) SaveModel(w io.Writer) error {
	procs := make([]savedProc, 0, len(d.procs))
	for k, p := range d.procs {
		procs = append(procs, savedProc{Key: k, IDs: p.IDs})
	}
	sort.Slice(procs, func(i, j int) bool {
		a, b := procs[i].Key, procs[j].Key
		if a.Entity != b.Entity {
			return entityLess(a.Entity, b.Entity)
		}
		if a.Pod != b.Pod {
			return a.Pod < b.Pod
		}
		return a.Process < b.Process
	})
	usual := make([]savedRestarts, 0, len(d.usual))
	for e, h := range d.usual {
		usual = append(usual, savedRestarts{Entity: e, History: *h})
	}
	sort.Slice(usual, func(i, j int) bool { return entityLess(usual[i].Entity, usual[j].Entity) })
	p, err := json.Marshal(procs)
	if err != nil {
		return err
	}
	u, err := json.Marshal(usual)
	if err != nil {
		return err
	}
	return writeModelFile(w, d.Name(), d.windows, p, u)
}

// LoadModel replaces the model with a saved one; on error it is unchanged.
func (d *processRestarts) LoadModel(r io.Reader) error {
	windows, parts, err := readModelFile(r, d.Name(), 2)
	if err != nil {
		return err
	}
	var procs []savedProc
	var usual []savedRestarts
	if err := json.Unmarshal(parts[0], &procs); err != nil {
		return fmt.Errorf("%s model: %v: %w", d.Name(), err, errModelFile)
	}
	if err := json.Unmarshal(parts[1], &usual); err != nil {
		return fmt.Errorf("%s model: %v: %w", d.Name(), err, errModelFile)
	}
	pm := make(map[procKey]*procIDs, len(procs))
	for _, p := range procs {
		if len(p.IDs) > maxIDsPerProcess {
			return fmt.Errorf("%s model: %d ids for one process: %w", d.Name(), len(p.IDs), errModelFile)
		}
		if p.IDs == nil {
			p.IDs = map[string]time.Time{}
		}
		pm[p.Key] = &procIDs{IDs: p.IDs}
	}
	um := make(map[Entity]*restartHistory, len(usual))
	for _, u := range usual {
		h := u.History
		if h.Sum < 0 || h.SumSq < 0 || h.Weight < 0 {
			return fmt.Errorf("%s model: workload %s has negative restarts: %w", d.Name(), u.Entity.Key(), errModelFile)
		}
		um[u.Entity] = &h
	}
	d.procs, d.usual, d.windows = pm, um, windows
	return nil
}

var _ EntityBounded = (*processRestarts)(nil)

// clock is when each workload with state was last seen: its usual
// restarts' last window, or the last window of its processes' ids.
func (d *processRestarts) clock() entityClock {
	c := make(entityClock, len(d.usual))
	for e, h := range d.usual {
		c.see(e, h.At)
	}
	for k, p := range d.procs {
		for _, at := range p.IDs {
			c.see(k.Entity, at)
		}
	}
	return c
}

// LiveEntities is the workloads with usual restarts or processes tracked.
func (d *processRestarts) LiveEntities() int { return len(d.clock()) }

// ForgetLeastRecent drops the usual restarts and the tracked processes of
// the workloads seen least recently until keep remain.
func (d *processRestarts) ForgetLeastRecent(keep int) int {
	gone := d.clock().forget(keep)
	if len(gone) == 0 {
		return 0
	}
	forgotten := make(map[Entity]bool, len(gone))
	for _, e := range gone {
		forgotten[e] = true
		delete(d.usual, e)
	}
	for k := range d.procs {
		if forgotten[k.Entity] {
			delete(d.procs, k)
		}
	}
	return len(gone)
}
