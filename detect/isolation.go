package detect

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// isolationDetector is the model of the detectors Calico built on an
// isolation forest (dns_latency, l7_latency) and of multivariable_flow:
// several numeric fields of an entity's window judged together.
//
// Each entity keeps a bounded reservoir of its own windows' features
// (log1p of each field, plus derived ratios); a window's features are
// centred on the medians of that reservoir, so the forest learns how an
// entity's fields depart from its own usual values together, and one
// forest serves every entity. The centred rows of all entities feed a
// bounded reservoir (uniform over history), from which the forest is
// rebuilt every train interval. A window scores the forest's
// 2^(-E[h]/c(ψ)); Calico's score threshold t alerts at -t. Detectors with
// a sensitivity also require the main field (latency) to lie above the
// entity's usual value by the deviation the sensitivity sets: a forest
// isolates an unusually fast window as readily as a slow one, and only
// the slow one is a latency anomaly.
//
// The model is ready once it has learned min_size_for_train rows over at
// least min_history_hours, so that every entity's medians and the forest
// have seen a whole day's pattern. Anomalous windows are not learned.
type isolationDetector struct {
	name    string
	cluster string
	spec    isolationSpec
	metrics []source.Metric

	threshold     float64 // score at or above which a window alerts
	calicoScore   float64 // Calico's score threshold, for summaries
	gateZ         float64 // deviation of the main field required; 0: none
	minRows       int
	minHistory    time.Duration
	trainInterval time.Duration
	forestCfg     model.ForestConfig
	capacity      int
	seed          uint64

	rows      int
	firstSeen time.Time
	lastTrain time.Time
	forest    *model.Forest
	train     *model.Reservoir // centred feature rows of all entities
	entities  map[Entity]*isolationEntity

	feat, centred []float64 // scratch
	col           []float64
}

// isolationEntity is one entity's history: a reservoir of its feature
// rows and their medians.
type isolationEntity struct {
	hist     *model.Reservoir
	medians  []float64
	spread   float64 // robust spread of the main feature
	pending  int     // rows learned since the medians were computed
	lastSeen time.Time
}

// isolationSpec is what one isolation detector registers.
type isolationSpec struct {
	log      calicolog.LogType
	groupBy  []string
	filters  []source.Term
	fields   []numericField
	entity   func(cluster string, key []string) (Entity, bool)
	evidence func(key []string) []source.Term
	// main is the index of the field reported as Observed and Expected.
	main int
	// ratios are derived features log((1+a)/(1+b)) of field indexes:
	// how much of one quantity each unit of another carries (bytes per
	// flow), which a window can break while every field stays in range.
	ratios [][2]int
	// sensitivity is the Param key of the main field's deviation gate, ""
	// for none.
	sensitivity string
	// what names the entity's quantity in summaries ("DNS latency").
	what string
}

// entityCapacity bounds the windows each entity keeps to centre its
// features: nearly a day of 5-minute windows, drawn uniformly from all of
// its history.
const entityCapacity = 256

// minEntityRows is how many windows an entity needs before it is judged
// and its rows train the forest.
const minEntityRows = 12

// Defaults of the isolation detectors' own settings (Calico documented
// none besides n_estimators and the score threshold).
const (
	defaultIsolationReservoir  = "10000"
	defaultIsolationMinRows    = "1000"
	defaultIsolationMinHistory = "24"
)

// isolationParams are the settings every isolation detector shares, after
// its Calico-named ones.
func isolationParams(estimatorsEnv, thresholdEnv string) []Param {
	return []Param{
		{Key: "n_estimators", Env: estimatorsEnv, Default: "100", Help: "trees in the isolation forest"},
		{Key: "score_threshold", Env: thresholdEnv, Default: "-0.836",
			Help: "scikit-learn's score_samples at or below which a window alerts, -1..0; more negative means fewer alerts (the exported score is its negation)"},
		{Key: "max_samples", Default: "256", Help: "rows each tree is grown from"},
		{Key: "reservoir_size", Default: defaultIsolationReservoir, Help: "rows kept, uniformly over history, to train the forest on"},
		{Key: "min_size_for_train", Default: defaultIsolationMinRows, Help: "entity windows learned before the model judges"},
		{Key: "min_history_hours", Default: defaultIsolationMinHistory, Help: "hours of history learned before the model judges, so a day's pattern is known"},
	}
}

func wholeSetting(info Info, o Options, key string, least float64) (int, error) {
	v, err := o.Float(info, key)
	if err != nil {
		return 0, err
	}
	if v < least || v != math.Trunc(v) || v > math.MaxInt32 {
		return 0, fmt.Errorf("detector %s: %s=%v must be a whole number, at least %v", info.Name, envOrKey(info, key), v, least)
	}
	return int(v), nil
}

func newIsolationDetector(name string, spec isolationSpec, o Options) (Detector, error) {
	info, _ := Lookup(name)
	estimators, err := wholeSetting(info, o, "n_estimators", 1)
	if err != nil {
		return nil, err
	}
	maxSamples, err := wholeSetting(info, o, "max_samples", 2)
	if err != nil {
		return nil, err
	}
	capacity, err := wholeSetting(info, o, "reservoir_size", 2)
	if err != nil {
		return nil, err
	}
	minRows, err := minSizeForTrain(info, o)
	if err != nil {
		return nil, err
	}
	hours, err := o.Float(info, "min_history_hours")
	if err != nil {
		return nil, err
	}
	if hours < 0 || hours > 24*365 {
		return nil, fmt.Errorf("detector %s: min_history_hours=%v must be within 0-8760", name, hours)
	}
	t, err := o.Float(info, "score_threshold")
	if err != nil {
		return nil, err
	}
	if t >= 0 || t < -1 {
		return nil, fmt.Errorf("detector %s: %s=%v must be within -1 and 0 (scikit-learn's score_samples, e.g. -0.836)", name, envOrKey(info, "score_threshold"), t)
	}
	var gateZ float64
	if spec.sensitivity != "" {
		s, err := o.Float(info, spec.sensitivity)
		if err != nil {
			return nil, err
		}
		gateZ = model.SensitivityZ(s)
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	seed := uint64(o.Seed) ^ h.Sum64()
	metrics := make([]source.Metric, len(spec.fields))
	for i, f := range spec.fields {
		metrics[i] = source.Metric{Name: f.name, Kind: f.kind, Field: f.name}
	}
	d := &isolationDetector{
		name: name, cluster: o.Cluster, spec: spec, metrics: metrics,
		threshold: model.ThresholdFromCalico(t), calicoScore: t, gateZ: gateZ,
		minRows: minRows, minHistory: time.Duration(hours * float64(time.Hour)), trainInterval: o.TrainInterval,
		forestCfg: model.ForestConfig{Estimators: estimators, MaxSamples: maxSamples, Seed: seed, Extrapolate: true},
		capacity:  capacity, seed: seed,
	}
	d.reset()
	return d, nil
}

func (d *isolationDetector) dims() int { return len(d.spec.fields) + len(d.spec.ratios) }

func (d *isolationDetector) reset() {
	d.rows, d.firstSeen, d.lastTrain = 0, time.Time{}, time.Time{}
	d.forest = model.NewForest(d.forestCfg)
	d.train = model.NewReservoir(d.dims(), d.capacity, d.seed)
	d.entities = map[Entity]*isolationEntity{}
}

func (d *isolationDetector) Name() string       { return d.name }
func (d *isolationDetector) Threshold() float64 { return d.threshold }

// Ready reports whether the forest is trained on enough rows and history.
func (d *isolationDetector) Ready() bool { return d.forest.Fitted() && d.rows >= d.minRows }

func (d *isolationDetector) Queries() []source.Query {
	return []source.Query{{Name: d.name, Log: d.spec.log, GroupBy: d.spec.groupBy, Filters: d.spec.filters, Metrics: d.metrics}}
}

// features turns a row's values into the model's features: log1p of each
// field (negative, missing or infinite values read as 0), then the ratios.
func (d *isolationDetector) features(values []float64) []float64 {
	f := d.feat[:0]
	for _, v := range values {
		if !(v > 0) || math.IsInf(v, 1) {
			v = 0
		}
		f = append(f, math.Log1p(v))
	}
	for _, r := range d.spec.ratios {
		f = append(f, f[r[0]]-f[r[1]])
	}
	d.feat = f
	return f
}

func (d *isolationDetector) entityOf(e Entity) *isolationEntity {
	ent := d.entities[e]
	if ent == nil {
		h := fnv.New64a()
		h.Write([]byte(e.Key()))
		ent = &isolationEntity{hist: model.NewReservoir(d.dims(), entityCapacity, d.seed^h.Sum64())}
		d.entities[e] = ent
	}
	return ent
}

// refresh recomputes an entity's medians after it learned: at every row
// while its history is short, every 16 rows once it is long enough that
// they barely move.
func (d *isolationDetector) refresh(ent *isolationEntity) {
	if ent.pending == 0 || (ent.medians != nil && ent.hist.Len() >= 64 && ent.pending < 16) {
		return
	}
	if len(ent.medians) != d.dims() {
		ent.medians = make([]float64, d.dims())
	}
	for j := range ent.medians {
		d.col = ent.hist.Column(j, d.col)
		if j == d.spec.main {
			ent.medians[j], ent.spread = model.MedianMAD(d.col)
		} else {
			ent.medians[j] = model.Median(d.col)
		}
	}
	ent.pending = 0
}

func (d *isolationDetector) centre(ent *isolationEntity, feat []float64) []float64 {
	d.refresh(ent)
	c := d.centred[:0]
	for j, v := range feat {
		c = append(c, v-ent.medians[j])
	}
	d.centred = c
	return c
}

// learnRow adds an entity's window to its history and, once the entity
// has enough history to be centred, to the forest's training sample.
func (d *isolationDetector) learnRow(w source.Window, ent *isolationEntity, feat []float64) {
	ent.hist.Add(feat)
	ent.pending++
	ent.lastSeen = w.Start
	if ent.hist.Len() >= minEntityRows {
		d.train.Add(d.centre(ent, feat))
	}
	d.rows++
	if d.firstSeen.IsZero() {
		d.firstSeen = w.Start
	}
}

// maybeTrain rebuilds the forest from the training sample when the model
// has learned enough and the train interval has passed since the last
// build (every window when the interval is 0).
func (d *isolationDetector) maybeTrain(w source.Window) {
	if d.rows < d.minRows || d.train.Len() < 2 || w.End.Sub(d.firstSeen) < d.minHistory {
		return
	}
	if d.forest.Fitted() && w.End.Sub(d.lastTrain) < d.trainInterval {
		return
	}
	if d.forest.Fitted() && d.trainInterval == 0 && w.End.Equal(d.lastTrain) {
		return
	}
	f := model.NewForest(d.forestCfg)
	if err := f.Fit(d.train.Rows(), d.dims()); err != nil {
		return // only non-finite features fail, and features are finite
	}
	d.forest, d.lastTrain = f, w.End
	d.prune(w.Start.Add(-7 * 24 * time.Hour))
}

// prune forgets entities not seen since before.
func (d *isolationDetector) prune(before time.Time) {
	for e, ent := range d.entities {
		if ent.lastSeen.Before(before) {
			delete(d.entities, e)
		}
	}
}

// Learn adds the window's rows to the model.
func (d *isolationDetector) Learn(w source.Window, rows [][]source.Row) {
	if len(rows) == 0 {
		return
	}
	for _, r := range rows[0] {
		e, ok := d.spec.entity(d.cluster, r.Key)
		if !ok || len(r.Values) != len(d.metrics) {
			continue
		}
		d.learnRow(w, d.entityOf(e), d.features(r.Values))
	}
	d.maybeTrain(w)
}

// Judge scores every entity with enough history against the forest, then
// learns the normal ones.
func (d *isolationDetector) Judge(w source.Window, rows [][]source.Row) []Verdict {
	if len(rows) == 0 {
		return nil
	}
	var out []Verdict
	for _, r := range rows[0] {
		e, ok := d.spec.entity(d.cluster, r.Key)
		if !ok || len(r.Values) != len(d.metrics) {
			continue
		}
		ent := d.entityOf(e)
		feat := d.features(r.Values)
		if ent.hist.Len() < minEntityRows || !d.forest.Fitted() {
			d.learnRow(w, ent, feat)
			continue
		}
		c := d.centre(ent, feat)
		v := Verdict{
			Detector: d.name, Entity: e, Window: w,
			Score: d.forest.Score(c), Threshold: d.threshold,
			Observed: r.Values[d.spec.main],
			Expected: math.Expm1(ent.medians[d.spec.main]),
		}
		v.Summary = d.summary(e, ent, c, r.Values, v)
		if d.gateZ > 0 && v.Score >= d.threshold {
			// The main field must lie above its usual value by the
			// sensitivity's deviation for the window to alert.
			if z := c[d.spec.main] / max(ent.spread, 0.05); z < d.gateZ {
				v.Score = math.Nextafter(d.threshold, 0)
				v.Summary += fmt.Sprintf("; not alerting: %s is %+.1f spreads from usual, the sensitivity asks %.1f",
					d.spec.fields[d.spec.main].name, z, d.gateZ)
			}
		}
		if v.Anomalous() {
			v.EvidenceQuery = []EvidenceQuery{{Log: string(d.spec.log), Filters: d.spec.evidence(r.Key), Limit: 5}}
		} else {
			d.learnRow(w, ent, feat)
		}
		out = append(out, v)
	}
	d.maybeTrain(w)
	return out
}

// summary names the entity's quantity, the fields that depart most from
// usual, and the score.
func (d *isolationDetector) summary(e Entity, ent *isolationEntity, centred, values []float64, v Verdict) string {
	type dep struct {
		i int
		d float64
	}
	deps := make([]dep, 0, len(centred))
	for i, c := range centred {
		deps = append(deps, dep{i, c})
	}
	sort.SliceStable(deps, func(a, b int) bool { return math.Abs(deps[a].d) > math.Abs(deps[b].d) })
	var parts []string
	for _, dp := range deps[:min(3, len(deps))] {
		usual := math.Expm1(ent.medians[dp.i])
		if dp.i < len(d.spec.fields) {
			parts = append(parts, fmt.Sprintf("%s %.4g (usually %.4g)", d.spec.fields[dp.i].name, values[dp.i], usual))
			continue
		}
		r := d.spec.ratios[dp.i-len(d.spec.fields)]
		got := math.Exp(centred[dp.i] + ent.medians[dp.i])
		parts = append(parts, fmt.Sprintf("%s per %s %.4g (usually %.4g)", d.spec.fields[r[0]].name, d.spec.fields[r[1]].name, got, math.Exp(ent.medians[dp.i])))
	}
	return fmt.Sprintf("%s in namespace %s: %s unlike its history: %s; isolation score %.3f (score_samples %.3f, alert at %.3f)",
		e.Workload, e.Namespace, d.spec.what, strings.Join(parts, ", "), v.Score, -v.Score, d.calicoScore)
}

// SaveModel writes the forest, the training sample, and each entity's
// history.
func (d *isolationDetector) SaveModel(w io.Writer) error {
	forest, err := d.forest.MarshalBinary()
	if err != nil {
		return err
	}
	train, err := d.train.MarshalBinary()
	if err != nil {
		return err
	}
	var meta, ents bytes.Buffer
	le := binary.LittleEndian
	_ = binary.Write(&meta, le, []int64{timeNanos(d.firstSeen), timeNanos(d.lastTrain), int64(d.dims())})
	keys := make([]Entity, 0, len(d.entities))
	for e := range d.entities {
		keys = append(keys, e)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Key() < keys[j].Key() })
	_ = binary.Write(&ents, le, uint32(len(keys)))
	putStr := func(s string) { _ = binary.Write(&ents, le, uint32(len(s))); ents.WriteString(s) }
	for _, e := range keys {
		ent := d.entities[e]
		hist, err := ent.hist.MarshalBinary()
		if err != nil {
			return err
		}
		putStr(e.Cluster)
		putStr(e.Namespace)
		putStr(e.Workload)
		putStr(e.Type)
		_ = binary.Write(&ents, le, timeNanos(ent.lastSeen))
		putStr(string(hist))
	}
	return writeModelFile(w, d.name, d.rows, meta.Bytes(), forest, train, ents.Bytes())
}

func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// LoadModel replaces the model with a saved one; on error it is unchanged.
func (d *isolationDetector) LoadModel(r io.Reader) error {
	rows, parts, err := readModelFile(r, d.name, 4)
	if err != nil {
		return err
	}
	bad := func(what string, err error) error {
		return fmt.Errorf("%s model: %s: %v: %w", d.name, what, err, errModelFile)
	}
	le := binary.LittleEndian
	if len(parts[0]) != 24 {
		return bad("header", fmt.Errorf("%d bytes", len(parts[0])))
	}
	first, last, dims := int64(le.Uint64(parts[0])), int64(le.Uint64(parts[0][8:])), int64(le.Uint64(parts[0][16:]))
	if dims != int64(d.dims()) {
		return bad("features", fmt.Errorf("the file has %d features, this detector %d", dims, d.dims()))
	}
	forest := model.NewForest(d.forestCfg)
	if err := forest.UnmarshalBinary(parts[1]); err != nil {
		return bad("forest", err)
	}
	if forest.Fitted() && forest.Dims() != d.dims() {
		return bad("forest", fmt.Errorf("%d features", forest.Dims()))
	}
	train := model.NewReservoir(1, 1, 0)
	if err := train.UnmarshalBinary(parts[2]); err != nil {
		return bad("training sample", err)
	}
	if train.Dims() != d.dims() {
		return bad("training sample", fmt.Errorf("%d features", train.Dims()))
	}
	p := parts[3]
	fail := fmt.Errorf("truncated")
	getStr := func() (string, bool) {
		if len(p) < 4 || uint64(le.Uint32(p)) > uint64(len(p)-4) {
			return "", false
		}
		n := le.Uint32(p)
		s := string(p[4 : 4+n])
		p = p[4+n:]
		return s, true
	}
	if len(p) < 4 {
		return bad("entities", fail)
	}
	n := le.Uint32(p)
	p = p[4:]
	if uint64(n) > uint64(len(p)) {
		return bad("entities", fmt.Errorf("%d entities in %d bytes", n, len(p)))
	}
	ents := make(map[Entity]*isolationEntity, n)
	for range n {
		var e Entity
		var ok bool
		for _, s := range []*string{&e.Cluster, &e.Namespace, &e.Workload, &e.Type} {
			if *s, ok = getStr(); !ok {
				return bad("entities", fail)
			}
		}
		if len(p) < 8 {
			return bad("entities", fail)
		}
		seen := nanosTime(int64(le.Uint64(p)))
		p = p[8:]
		raw, ok := getStr()
		if !ok {
			return bad("entities", fail)
		}
		hist := model.NewReservoir(1, 1, 0)
		if err := hist.UnmarshalBinary([]byte(raw)); err != nil {
			return bad("entity "+e.Key(), err)
		}
		if hist.Dims() != d.dims() {
			return bad("entity "+e.Key(), fmt.Errorf("%d features", hist.Dims()))
		}
		ents[e] = &isolationEntity{hist: hist, pending: 1, lastSeen: seen}
	}
	if len(p) != 0 {
		return bad("entities", fmt.Errorf("%d bytes left over", len(p)))
	}
	d.rows, d.firstSeen, d.lastTrain = rows, nanosTime(first), nanosTime(last)
	d.forest, d.train, d.entities = forest, train, ents
	return nil
}
