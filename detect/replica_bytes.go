package detect

import (
	"fmt"
	"io"
	"math"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// replicaBytes is the model of bytes_in and bytes_out, Calico's bytes
// models: the bytes one side of a flow moved in a window, judged two ways.
//
//   - A pod against its replica set: the replica set's busiest pod against
//     what the busiest pod of that replica set usually moves at this hour
//     (a seasonal baseline), and, with three named pods or more, against
//     the median and MAD of its sibling pods in the same window. Both must
//     agree (the smaller deviation counts), so a daily job that always
//     lands on one pod is learned, and pods that rise together are left
//     to the replica set's total.
//   - A replica set against its history in the cluster: the replica set's
//     total against its seasonal baseline (hour of day, hour of week).
//
// The verdict, one per replica set, takes the larger deviation; both are
// in spreads, and the alert bound is Calico's AD_SeasonalAD_c read as ADTK's
// SeasonalAD did (Q3 + c·IQR). Replica sets judged anomalous are kept out
// of the baseline; a deviation the replica set showed as large in the last
// 48 hours (model.Seasonal.Seen: a bursty or sparse transfer it makes) is
// behaviour, not news, and stays just below the threshold. Memory is
// bounded per replica set: pods are never keys.
type replicaBytes struct {
	name       string
	cluster    string
	field      string // bytes_in or bytes_out
	reporter   string // the side whose own counters these are: dst or src
	side       string // flow field prefix of the judged endpoint: source or dest
	noun       string // "sent" or "received"
	zThreshold float64
	minRows    int
	rows       int
	model      *model.Seasonal
	keys       map[Entity]replicaKeys
	seen       entityClock                      // when each replica set was last seen
	peers      []float64                        // scratch
	text       text                             // scratch for summaries
	cols       entityFieldColumns               // of the query: the replica set and the pod
	sets       windowGroups[Entity, replicaSet] // scratch of group
}

// replicaKeys are a replica set's model keys: its total and its busiest pod.
type replicaKeys struct{ total, busiest string }

func newReplicaBytes(name string, o Options, field, reporter, side, noun string) (Detector, error) {
	info, _ := Lookup(name)
	c, err := o.Float(info, "c")
	if err != nil {
		return nil, err
	}
	if c < 0 {
		return nil, fmt.Errorf("detector %s: AD_SeasonalAD_c=%v must not be negative", name, c)
	}
	minRows, err := minSizeForTrain(info, o)
	if err != nil {
		return nil, err
	}
	d := &replicaBytes{
		name: name, cluster: o.Cluster, field: field, reporter: reporter, side: side, noun: noun,
		zThreshold: model.IQRFactorZ(c), minRows: minRows,
		model: model.NewSeasonal(model.SeasonalConfig{Bucket: o.Bucket, MinSamples: seasonalMinSamples}),
		keys:  map[Entity]replicaKeys{},
		seen:  entityClock{},
	}
	d.cols = entityFieldColumnsOf(d.Queries()[0], side, side+"_name")
	return d, nil
}

func (d *replicaBytes) Name() string       { return d.name }
func (d *replicaBytes) Threshold() float64 { return scoreThreshold }
func (d *replicaBytes) Ready() bool        { return d.rows >= d.minRows }

func (d *replicaBytes) Queries() []source.Query {
	return []source.Query{{
		Name:    d.name,
		Log:     calicolog.Flows,
		GroupBy: []string{d.side + "_namespace", d.side + "_name_aggr", d.side + "_type", d.side + "_name"},
		Filters: []source.Term{{Field: "reporter", Values: []string{d.reporter}}},
		Metrics: []source.Metric{{Name: d.field, Kind: source.Sum, Field: d.field}},
	}}
}

// replicaSet is one replica set's pods in a window.
type replicaSet struct {
	entity Entity
	keys   replicaKeys // its model keys
	total  float64
	pods   []podBytes
}

type podBytes struct {
	name  string
	bytes float64
}

// group collects the window's rows by replica set, in a stable order. The
// sets are the detector's scratch: valid until the next call.
func (d *replicaBytes) group(rows [][]source.Row) []*replicaSet {
	if len(rows) == 0 {
		return nil
	}
	d.sets.reset()
	c := d.cols
	for _, r := range rows[0] {
		if !c.fits(r) || len(r.Values) != 1 || r.Key[c.entity.workload] == "" || r.Key[c.entity.typ] != calicolog.TypeWorkload {
			continue
		}
		e := c.entity.of(d.cluster, r)
		rs, fresh := d.sets.get(e)
		if fresh {
			// The pods are read within the window only: their capacity is reused.
			*rs = replicaSet{entity: e, keys: d.key(e), pods: rs.pods[:0]}
		}
		rs.total += r.Values[0]
		rs.pods = append(rs.pods, podBytes{name: r.Key[c.field], bytes: r.Values[0]})
	}
	return d.sets.sorted(func(a, b *replicaSet) int { return entityKeyCompare(a.entity, b.entity) })
}

func (d *replicaBytes) key(e Entity) replicaKeys {
	k, ok := d.keys[e]
	if !ok {
		base := e.ModelKey()
		k = replicaKeys{total: base, busiest: base + "|busiest pod"}
		d.keys[e] = k
	}
	return k
}

// busiest is the replica set's pod that moved the most bytes.
func (rs *replicaSet) busiest() podBytes {
	var b podBytes
	for i, p := range rs.pods {
		if i == 0 || p.bytes > b.bytes {
			b = p
		}
	}
	return b
}

func (d *replicaBytes) learn(w source.Window, rs *replicaSet) {
	k := rs.keys
	d.model.Observe(k.total, w.Start, rs.total)
	d.model.Observe(k.busiest, w.Start, rs.busiest().bytes)
	d.rows += len(rs.pods)
}

// Learn adds each replica set's total and busiest pod to their baselines.
func (d *replicaBytes) Learn(w source.Window, rows [][]source.Row) {
	for _, rs := range d.group(rows) {
		d.seen.see(rs.entity, w.End)
		d.learn(w, rs)
	}
}

// podDeviation is how far the busiest pod of the replica set lies above
// what its busiest pod usually moves at this hour and, when it has three
// named pods or more, above its siblings: the smaller of the two.
func (d *replicaBytes) podDeviation(w source.Window, rs *replicaSet) (z, observed, expected float64, pod string, ok bool) {
	b := rs.busiest()
	if b.name == "" || b.name == calicolog.Aggregated {
		return 0, 0, 0, "", false
	}
	z, expected, ok = d.model.Deviation(rs.keys.busiest, w.Start, b.bytes)
	if !ok {
		return 0, 0, 0, "", false
	}
	if pz, med, pok := d.peerDeviation(rs, b); pok && pz < z {
		z, expected = pz, med
	}
	return z, b.bytes, expected, b.name, true
}

// peerDeviation is pod p against the other named pods of its replica set.
func (d *replicaBytes) peerDeviation(rs *replicaSet, p podBytes) (z, median float64, ok bool) {
	named := 0
	for _, p := range rs.pods {
		if p.name != "" && p.name != calicolog.Aggregated {
			named++
		}
	}
	if named < 3 {
		return 0, 0, false
	}
	d.peers = d.peers[:0]
	for _, q := range rs.pods {
		if q.name != p.name && q.name != "" && q.name != calicolog.Aggregated {
			d.peers = append(d.peers, q.bytes)
		}
	}
	return model.RobustZ(p.bytes, d.peers, 2)
}

// Judge scores every replica set, then learns the normal ones.
func (d *replicaBytes) Judge(w source.Window, rows [][]source.Row) []Verdict {
	sets := d.group(rows)
	for _, rs := range sets {
		d.seen.see(rs.entity, w.End)
	}
	out := make([]Verdict, 0, len(sets))
	for _, rs := range sets {
		z, expected, ok := d.model.Deviation(rs.keys.total, w.Start, rs.total)
		observed, pod, key := rs.total, "", rs.keys.total
		if pz, pobs, pexp, p, pok := d.podDeviation(w, rs); pok && (!ok || pz > z) {
			z, observed, expected, pod, ok, key = pz, pobs, pexp, p, true, rs.keys.busiest
		}
		if !ok {
			d.learn(w, rs)
			continue
		}
		v := Verdict{
			Detector: d.name, Entity: rs.entity, Window: w,
			Score: model.Score(z, d.zThreshold), Threshold: scoreThreshold,
			Observed: observed, Expected: expected,
		}
		e := rs.entity
		v.Summary = replicaSummary(&d.text, e, pod, d.noun, observed, expected, z, d.zThreshold)
		if v.Anomalous() && d.model.Seen(key, w.Start, z) {
			v.Score = math.Nextafter(scoreThreshold, 0)
			v.Summary += "; not alerting: it moved as much in the last 48 hours"
		}
		if z >= d.zThreshold {
			d.model.Note(rs.keys.total, w.Start, rs.total)
			d.model.Note(rs.keys.busiest, w.Start, rs.busiest().bytes)
		}
		if v.Anomalous() {
			filters := []source.Term{
				{Field: "reporter", Values: []string{d.reporter}},
				{Field: d.side + "_namespace", Values: []string{rs.entity.Namespace}},
				{Field: d.side + "_name_aggr", Values: []string{rs.entity.Workload}},
			}
			if pod != "" {
				filters = append(filters, source.Term{Field: d.side + "_name", Values: []string{pod}})
			}
			v.EvidenceQuery = []EvidenceQuery{{Log: string(calicolog.Flows), Filters: filters, Limit: 5}}
		} else if z < d.zThreshold {
			d.learn(w, rs)
		}
		out = append(out, v)
	}
	return out
}

// replicaSummary is "pod <pod> of <workload> in namespace <ns> <noun> <n>
// bytes where <m> is usual for its replicas (<z> spreads, alert at <zAlert>)"
// when the busiest pod decided, and "<workload> in namespace <ns> <noun> <n>
// bytes where <m> is usual at this hour (...)" when the replica set's total
// did.
func replicaSummary(t *text, e Entity, pod, noun string, observed, expected, z, zAlert float64) string {
	t.reset()
	if pod != "" {
		t.str("pod ").str(pod).str(" of ")
	}
	t.str(e.Workload).str(" in namespace ").str(e.Namespace).str(" ").str(noun).str(" ").general(observed, 4).
		str(" bytes where ").general(expected, 4)
	if pod != "" {
		t.str(" is usual for its replicas (")
	} else {
		t.str(" is usual at this hour (")
	}
	return t.plusFixed(z, 1).str(" spreads, alert at ").fixed(zAlert, 1).str(")").String()
}

// SaveModel writes the replica sets' baselines and the rows learned.
func (d *replicaBytes) SaveModel(w io.Writer) error {
	m, err := d.model.MarshalBinary()
	if err != nil {
		return err
	}
	return writeModelFile(w, d.name, d.rows, m)
}

// LoadModel replaces the baselines with saved ones; on error the model is
// unchanged.
func (d *replicaBytes) LoadModel(r io.Reader) error {
	rows, parts, err := readModelFile(r, d.name, 1)
	if err != nil {
		return err
	}
	m := model.NewSeasonal(d.model.Config())
	if err := m.UnmarshalBinary(parts[0]); err != nil {
		return fmt.Errorf("%s model: %w", d.name, err)
	}
	d.model, d.rows, d.keys, d.seen = m, rows, map[Entity]replicaKeys{}, entityClock{}
	return nil
}

var _ EntityBounded = (*replicaBytes)(nil)

// LiveEntities is the replica sets seen since the start.
func (d *replicaBytes) LiveEntities() int { return len(d.seen) }

// ForgetLeastRecent drops the baselines of the replica sets seen least
// recently until keep remain.
func (d *replicaBytes) ForgetLeastRecent(keep int) int {
	gone := d.seen.forget(keep)
	live := sharedModelKeys(d.seen)
	for _, e := range gone {
		if !live[e.ModelKey()] {
			k := d.key(e)
			d.model.Forget(k.total)
			d.model.Forget(k.busiest)
		}
		delete(d.keys, e)
	}
	return len(gone)
}
