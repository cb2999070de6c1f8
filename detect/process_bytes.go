package detect

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func init() {
	Register(Info{
		Name:   "process_bytes",
		Family: Both,
		Logs:   []string{"flows"},
		Unit:   UnitBytes,
		// Calico's manifests shipped process_bytes disabled
		// (AD_DISABLED_JOBS).
		DefaultEnabled: false,
		Help:           "bytes each process (process_name) of a workload moves, against its own hour-of-day history and against the same process in sibling pods",
		Params: []Param{
			// Calico documented no setting for this detector.
			{Key: "sensitivity", Default: "5", Help: "0-100, higher means more alerts (not a Calico setting)"},
		},
		Scope: NamespaceScope,
		New:   newProcessBytes,
	})
}

const (
	// maxProcessesPerWorkload bounds the process names learned per
	// workload: process names are whatever runs in the pod.
	maxProcessesPerWorkload = 32
	// siblingSpreadFloor is the smallest spread, in the logarithm, of a
	// process's bytes across sibling pods: a factor of about 1.35.
	siblingSpreadFloor = 0.3
	// historySpreadFloor is the smallest spread, in the logarithm, of a
	// process's bytes against its history: a steady process still varies
	// by a factor of about 1.4 (a few more connections, larger replies,
	// and at night a handful of connections carry it all), so the alert
	// bound is never below a factor of e^(0.35·5.1) ≈ 6 at the default
	// sensitivity.
	historySpreadFloor = 0.35
)

// processBytes judges the bytes (in and out, each side's records counting
// its own endpoint's process) that each named process of a workload moved
// in a window:
//
//   - the process across the workload against what it usually moves at
//     this hour of the day and of the week (a seasonal baseline learned on
//     the logarithm, its spread never below a factor of 1.4);
//   - the pod where the process moved most against what the busiest pod's
//     process usually moves, and, with three named pods or more, against
//     the same process in its sibling pods in the same window (median and
//     MAD of the logarithm): the smaller of the two, so a job that always
//     lands on one pod is learned;
//   - a process the workload has never shown against everything the
//     workload usually moves at this hour: a program started in a pod (a
//     shell's curl, a miner) that moves more than the whole workload does.
//
// The verdict, one per workload, takes its most deviant process; the
// alert bound is SensitivityZ of the sensitivity setting. Workloads judged
// anomalous are not learned.
type processBytes struct {
	cluster    string
	zThreshold float64
	rows       int
	baselined  bool // some workload's baseline answers
	model      *model.Seasonal
	known      map[Entity]*knownProcesses
	peers      []float64
	forget     forgetter
	cols       []processColumns // of each query, in the order of Queries
}

// knownProcesses are the process names learned for a workload, and when
// it was last learned.
type knownProcesses struct {
	names map[string]bool
	seen  time.Time
}

func newProcessBytes(o Options) (Detector, error) {
	info, _ := Lookup("process_bytes")
	s, err := o.Float(info, "sensitivity")
	if err != nil {
		return nil, err
	}
	if s < 0 || s > 100 {
		return nil, fmt.Errorf("detector process_bytes: sensitivity %v is not within 0-100", s)
	}
	d := &processBytes{
		cluster: o.Cluster, zThreshold: model.SensitivityZ(s),
		model: model.NewSeasonal(model.SeasonalConfig{Bucket: o.Bucket, Sensitivity: s, MinSamples: seasonalMinSamples, LogScale: true}),
		known: map[Entity]*knownProcesses{},
	}
	for i, q := range d.Queries() {
		d.cols = append(d.cols, processColumnsOf(q, processSides[i].side))
	}
	return d, nil
}

func (d *processBytes) Name() string       { return "process_bytes" }
func (d *processBytes) Threshold() float64 { return scoreThreshold }
func (d *processBytes) Ready() bool        { return d.baselined }

func (d *processBytes) Queries() []source.Query {
	q := func(name, side, reporter string) source.Query {
		return source.Query{
			Name: name, Log: calicolog.Flows,
			GroupBy: []string{side + "_namespace", side + "_name_aggr", side + "_type", side + "_name", "process_name"},
			Filters: []source.Term{{Field: "reporter", Values: []string{reporter}}},
			Metrics: []source.Metric{
				{Name: "bytes_in", Kind: source.Sum, Field: "bytes_in"},
				{Name: "bytes_out", Kind: source.Sum, Field: "bytes_out"},
			},
		}
	}
	out := make([]source.Query, len(processSides))
	for i, s := range processSides {
		out[i] = q("process_bytes_"+s.reporter, s.side, s.reporter)
	}
	return out
}

// workloadProcesses is one workload's processes in a window.
type workloadProcesses struct {
	entity Entity
	total  float64
	procs  []*processWindow
}

// processWindow is one process of a workload in a window.
type processWindow struct {
	name  string
	total float64
	pods  []podBytes
}

func (p *processWindow) addPod(pod string, b float64) {
	for i := range p.pods {
		if p.pods[i].name == pod {
			p.pods[i].bytes += b
			return
		}
	}
	p.pods = append(p.pods, podBytes{name: pod, bytes: b})
}

// busiest is the named pod where the process moved most.
func (p *processWindow) busiest() (podBytes, int) {
	var b podBytes
	named := 0
	for _, q := range p.pods {
		if q.name == "" || q.name == calicolog.Aggregated {
			continue
		}
		named++
		if named == 1 || q.bytes > b.bytes {
			b = q
		}
	}
	return b, named
}

func (d *processBytes) group(rows [][]source.Row) []*workloadProcesses {
	by := map[Entity]*workloadProcesses{}
	var out []*workloadProcesses
	for qi, rs := range rows {
		if qi >= len(d.cols) {
			break
		}
		c := d.cols[qi]
		for _, r := range rs {
			if !c.fits(r) || len(r.Values) != 2 || r.Key[c.entity.workload] == "" || r.Key[c.entity.typ] != calicolog.TypeWorkload || !namedProcess(r.Key[c.process]) {
				continue
			}
			b := r.Values[0] + r.Values[1]
			if !(b >= 0) || math.IsInf(b, 0) {
				continue
			}
			e := c.entity.of(d.cluster, r)
			process := r.Key[c.process]
			wp := by[e]
			if wp == nil {
				wp = &workloadProcesses{entity: e}
				by[e] = wp
				out = append(out, wp)
			}
			var p *processWindow
			for _, q := range wp.procs {
				if q.name == process {
					p = q
				}
			}
			if p == nil {
				p = &processWindow{name: process}
				wp.procs = append(wp.procs, p)
			}
			p.total += b
			wp.total += b
			p.addPod(r.Key[c.pod], b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return entityLess(out[i].entity, out[j].entity) })
	for _, wp := range out {
		sort.Slice(wp.procs, func(i, j int) bool { return wp.procs[i].name < wp.procs[j].name })
	}
	return out
}

func workloadKey(e Entity) string          { return e.ModelKey() + "|*" }
func processKey(e Entity, p string) string { return e.ModelKey() + "|" + p + "|total" }
func busiestKey(e Entity, p string) string { return e.ModelKey() + "|" + p + "|busiest pod" }

func (d *processBytes) learn(w source.Window, wp *workloadProcesses) {
	e := wp.entity
	d.model.Observe(workloadKey(e), w.Start, wp.total)
	known := d.known[e]
	if known == nil {
		known = &knownProcesses{names: map[string]bool{}}
		d.known[e] = known
	}
	known.seen = w.End
	for _, p := range wp.procs {
		if !known.names[p.name] {
			if len(known.names) >= maxProcessesPerWorkload {
				continue
			}
			known.names[p.name] = true
		}
		d.model.Observe(processKey(e, p.name), w.Start, p.total)
		if b, named := p.busiest(); named > 0 {
			d.model.Observe(busiestKey(e, p.name), w.Start, b.bytes)
		}
	}
	d.rows++
}

// Learn adds each workload's processes of window w to their baselines.
func (d *processBytes) Learn(w source.Window, rows [][]source.Row) {
	d.sweep(w)
	for _, wp := range d.group(rows) {
		d.learn(w, wp)
		if !d.baselined {
			_, _, d.baselined = d.model.Expect(workloadKey(wp.entity), w.End)
		}
	}
}

// siblingZ is the deviation of pod b's bytes above the same process in
// the other named pods, on the logarithm.
func (d *processBytes) siblingZ(p *processWindow, b podBytes) (z, median float64) {
	d.peers = d.peers[:0]
	for _, q := range p.pods {
		if q.name != b.name && q.name != "" && q.name != calicolog.Aggregated {
			d.peers = append(d.peers, math.Log1p(q.bytes))
		}
	}
	m, spread := model.MedianMAD(d.peers)
	spread = max(spread, siblingSpreadFloor)
	return (math.Log1p(b.bytes) - m) / spread, math.Expm1(m)
}

// processDeviation is how far process p of workload e lies above what it
// usually moves; what is reported with it; ok is false when nothing is
// known to compare it with.
type processDeviation struct {
	z, observed, expected float64
	pod                   string
	unseen                bool
}

// historyZ is the deviation of v from the baseline of key, in spreads of
// the logarithm floored at historySpreadFloor.
func (d *processBytes) historyZ(key string, w source.Window, v float64) (z, expected float64, ok bool) {
	return logDeviation(d.model, key, w.Start, v, func(float64) float64 { return historySpreadFloor })
}

func (d *processBytes) deviation(w source.Window, e Entity, p *processWindow) (processDeviation, bool) {
	if k := d.known[e]; k == nil || !k.names[p.name] {
		z, exp, ok := d.historyZ(workloadKey(e), w, p.total)
		return processDeviation{z: z, observed: p.total, expected: exp, unseen: true}, ok
	}
	z, exp, ok := d.historyZ(processKey(e, p.name), w, p.total)
	dev := processDeviation{z: z, observed: p.total, expected: exp}
	if b, named := p.busiest(); named > 0 {
		if pz, pexp, pok := d.historyZ(busiestKey(e, p.name), w, b.bytes); pok {
			if named >= 3 {
				if sz, med := d.siblingZ(p, b); sz < pz {
					pz, pexp = sz, med
				}
			}
			if !ok || pz > dev.z {
				dev, ok = processDeviation{z: pz, observed: b.bytes, expected: pexp, pod: b.name}, true
			}
		}
	}
	return dev, ok
}

// Judge scores every workload's processes, then learns the workloads that
// are not anomalous.
func (d *processBytes) Judge(w source.Window, rows [][]source.Row) []Verdict {
	d.sweep(w)
	var out []Verdict
	for _, wp := range d.group(rows) {
		e := wp.entity
		var worst processDeviation
		var worstProc string
		judged := false
		for _, p := range wp.procs {
			dev, ok := d.deviation(w, e, p)
			if ok && (!judged || dev.z > worst.z) {
				worst, worstProc, judged = dev, p.name, true
			}
		}
		if !judged {
			d.learn(w, wp)
			continue
		}
		d.baselined = true
		v := Verdict{
			Detector: d.Name(), Entity: e, Window: w,
			Score: model.Score(worst.z, d.zThreshold), Threshold: scoreThreshold,
			Observed: worst.observed, Expected: worst.expected,
		}
		switch {
		case worst.unseen:
			v.Summary = fmt.Sprintf("%s in namespace %s: process %s, never seen in this workload, moved %.4g bytes where the whole workload usually moves %.4g at this hour (%+.1f spreads, alert at %.1f)",
				e.Workload, e.Namespace, worstProc, worst.observed, worst.expected, worst.z, d.zThreshold)
		case worst.pod != "":
			v.Summary = fmt.Sprintf("pod %s of %s in namespace %s: process %s moved %.4g bytes where %.4g is usual for its busiest pod and its siblings (%+.1f spreads, alert at %.1f)",
				worst.pod, e.Workload, e.Namespace, worstProc, worst.observed, worst.expected, worst.z, d.zThreshold)
		default:
			v.Summary = fmt.Sprintf("%s in namespace %s: process %s moved %.4g bytes where %.4g is usual at this hour (%+.1f spreads, alert at %.1f)",
				e.Workload, e.Namespace, worstProc, worst.observed, worst.expected, worst.z, d.zThreshold)
		}
		if v.Anomalous() {
			for _, side := range []struct{ reporter, prefix string }{{"src", "source"}, {"dst", "dest"}} {
				filters := []source.Term{
					{Field: "reporter", Values: []string{side.reporter}},
					{Field: side.prefix + "_namespace", Values: []string{e.Namespace}},
					{Field: side.prefix + "_name_aggr", Values: []string{e.Workload}},
					{Field: "process_name", Values: []string{worstProc}},
				}
				if worst.pod != "" {
					filters = append(filters, source.Term{Field: side.prefix + "_name", Values: []string{worst.pod}})
				}
				v.EvidenceQuery = append(v.EvidenceQuery, EvidenceQuery{Log: string(calicolog.Flows), Filters: filters, Limit: 5})
			}
		} else {
			d.learn(w, wp)
		}
		out = append(out, v)
	}
	return out
}

// sweep forgets the workloads not seen for forgetAfter.
func (d *processBytes) sweep(w source.Window) {
	if cut, ok := d.forget.due(w.End); ok {
		d.model.Prune(cut)
		for e, k := range d.known {
			if k.seen.Before(cut) {
				delete(d.known, e)
			}
		}
	}
}

type savedKnown struct {
	Entity    Entity    `json:"entity"`
	Processes []string  `json:"processes"`
	Seen      time.Time `json:"seen"`
}

// SaveModel writes the baselines and the processes known per workload.
func (d *processBytes) SaveModel(w io.Writer) error {
	m, err := d.model.MarshalBinary()
	if err != nil {
		return err
	}
	known := make([]savedKnown, 0, len(d.known))
	for e, ps := range d.known {
		k := savedKnown{Entity: e, Seen: ps.seen}
		for p := range ps.names {
			k.Processes = append(k.Processes, p)
		}
		sort.Strings(k.Processes)
		known = append(known, k)
	}
	sort.Slice(known, func(i, j int) bool { return entityLess(known[i].Entity, known[j].Entity) })
	k, err := json.Marshal(known)
	if err != nil {
		return err
	}
	return writeModelFile(w, d.Name(), d.rows, m, k, readyFlag(d.baselined))
}

// LoadModel replaces the model with a saved one; on error it is unchanged.
func (d *processBytes) LoadModel(r io.Reader) error {
	rows, parts, err := readModelFile(r, d.Name(), 3)
	if err != nil {
		return err
	}
	m := model.NewSeasonal(d.model.Config())
	if err := m.UnmarshalBinary(parts[0]); err != nil {
		return fmt.Errorf("%s model: %w", d.Name(), err)
	}
	var list []savedKnown
	if err := json.Unmarshal(parts[1], &list); err != nil {
		return fmt.Errorf("%s model: %v: %w", d.Name(), err, errModelFile)
	}
	known := make(map[Entity]*knownProcesses, len(list))
	for _, k := range list {
		if len(k.Processes) > maxProcessesPerWorkload {
			return fmt.Errorf("%s model: %d processes for %s: %w", d.Name(), len(k.Processes), k.Entity.Key(), errModelFile)
		}
		ps := make(map[string]bool, len(k.Processes))
		for _, p := range k.Processes {
			ps[p] = true
		}
		known[k.Entity] = &knownProcesses{names: ps, seen: k.Seen}
	}
	if len(parts[2]) != 1 || parts[2][0] > 1 {
		return fmt.Errorf("%s model: bad readiness flag: %w", d.Name(), errModelFile)
	}
	d.model, d.rows, d.known, d.baselined = m, rows, known, parts[2][0] == 1
	return nil
}

var _ EntityBounded = (*processBytes)(nil)

// LiveEntities is the workloads whose processes are known.
func (d *processBytes) LiveEntities() int { return len(d.known) }

// ForgetLeastRecent drops the baselines of the workloads seen least
// recently until keep remain.
func (d *processBytes) ForgetLeastRecent(keep int) int {
	clock := make(entityClock, len(d.known))
	for e, k := range d.known {
		clock[e] = k.seen.Unix()
	}
	gone := clock.forget(keep)
	forgotten := make(map[Entity]*knownProcesses, len(gone))
	for _, e := range gone {
		forgotten[e] = d.known[e]
		delete(d.known, e)
	}
	live := sharedModelKeys(d.known)
	for e, k := range forgotten {
		if live[e.ModelKey()] {
			continue
		}
		d.model.Forget(workloadKey(e))
		for p := range k.names {
			d.model.Forget(processKey(e, p))
			d.model.Forget(busiestKey(e, p))
		}
	}
	return len(gone)
}
