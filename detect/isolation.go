package detect

import (
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"slices"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// isolationDetector is the model of the detectors Calico built on an
// isolation forest (dns_latency, l7_latency) and of multivariable_flow:
// several numeric fields of an entity's window judged together.
//
// Each field of each entity has a seasonal baseline (model.Seasonal on
// log1p of the value: the hour of the day's usual value and spread, the
// hour of the week's once a week is known), so daily patterns and daily
// jobs are learned per entity. A window's features are its fields'
// deviations from their baselines in spreads, and, for detectors with
// ratios, the deviation of one field's logarithm relative to another's
// (bytes per flow). One forest, trained on the features of every entity,
// learns how deviations occur together; it is rebuilt every train
// interval from a bounded reservoir, uniform over history. A window scores
// the forest's 2^(-E[h]/c(ψ)), and Calico's score threshold t alerts at -t.
// Detectors with a sensitivity also require the main field (latency) to
// lie above its baseline by the deviation the sensitivity sets: a forest
// isolates an unusually fast window as readily as a slow one, and only the
// slow one is a latency anomaly.
//
// A forest pooled over entities isolates what is rare among all of them,
// and some entities are odd in their own recurring way (a workload whose
// few large connections to the API server sometimes all miss a window has
// near-zero bytes in one window of twenty). So each entity also keeps the
// features of its last day of windows, and a window above the threshold
// alerts only when it is new for the entity: farther from each of its
// windows between one and 24 hours old than half its own distance from
// usual (the origin of the features), falls compared on a logarithmic
// scale (compress). The last hour is left out so that an anomaly lasting
// several windows alerts in each; a pattern that recurs alerts the first
// time, and again only after a day without it. Nor does a window alert
// whose fields depart only as far as each went in the last 48 hours, or
// on two of the seven days before, with no ratio past the baselines'
// threshold (knownDeparture): the field baselines hold such a departure
// to be the entity's behaviour, and the forest keeps to what they cannot
// see, fields that no longer go together.
//
// Baselines answer once two days cover an hour; the forest trains once
// min_size_for_train rows were learned over at least min_history_hours,
// then scores windows for calibrationPeriod before the detector is ready,
// so each entity has recent windows to compare with. Anomalous windows are not learned.
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
	bucket        time.Duration

	rows      int
	firstSeen time.Time
	lastTrain time.Time
	firstFit  time.Time // when the forest was first trained
	lastEnd   time.Time // end of the last window seen
	recent    map[Entity]*rowRing
	seen      entityClock // when each entity was last seen
	forest    *model.Forest
	train     *model.Reservoir // feature rows of all entities
	baseline  *model.Seasonal
	keys      keyCache
	// owner, when set (ShareBaselines), is the field-baseline detector
	// reading the same rows whose baselines of the same fields this
	// detector reads instead of keeping its own; from gives, for each
	// field, the index of the owner's metric, -1 for a field the
	// detector keeps its own baseline of.
	owner     *fieldBaselines
	from      []int
	allShared bool // every field's baseline is the owner's

	feat, res, spread, expected []float64 // scratch
	batch, batchExp, scores     []float64 // the window's judged rows
	judged                      []judgedRow
	text                        text // scratch for summaries
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
	// baselinesOf names the field-baseline detector that reads the same
	// rows (log, grouping and filters), whose baselines of the same
	// fields are shared when both run (ShareBaselines); "" for none.
	baselinesOf string
}

// Defaults of the isolation detectors' own settings (Calico documented
// none besides n_estimators and the score threshold).
const (
	defaultIsolationReservoir  = "10000"
	defaultIsolationMinRows    = "1000"
	defaultIsolationMinHistory = "48"
)

// isolationParams are the settings every isolation detector shares, after
// its Calico-named ones.
func isolationParams(estimatorsEnv, thresholdEnv string) []Param {
	return []Param{
		{Key: "n_estimators", Env: estimatorsEnv, Default: "100", Help: "trees in the isolation forest", Range: &Range{Min: 1, Max: 10000}},
		{Key: "forest_score_threshold", Env: thresholdEnv, Default: "-0.836",
			Help: "scikit-learn's score_samples at or below which a window alerts, -1..0; more negative means fewer alerts (the exported score is its negation)"},
		{Key: "max_samples", Default: "256", Help: "rows each tree is grown from", Range: &Range{Min: 2, Max: 1 << 20}},
		{Key: "reservoir_size", Default: defaultIsolationReservoir, Help: "rows kept, uniformly over history, to train the forest on", Range: &Range{Min: 2, Max: 10_000_000}},
		{Key: "min_size_for_train", Default: defaultIsolationMinRows, Help: "entity windows learned before the model judges"},
		{Key: "min_history_hours", Default: defaultIsolationMinHistory, Help: "hours of history learned before the model judges; baselines answer once two days cover an hour"},
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
	t, err := o.Float(info, "forest_score_threshold")
	if err != nil {
		return nil, err
	}
	if t >= 0 || t < -1 {
		return nil, fmt.Errorf("detector %s: %s=%v must be within -1 and 0 (scikit-learn's score_samples, e.g. -0.836)", name, envOrKey(info, "forest_score_threshold"), t)
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
		capacity:  capacity, seed: seed, bucket: o.Bucket,
	}
	if err := d.reset(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *isolationDetector) dims() int { return len(d.spec.fields) + len(d.spec.ratios) }

func (d *isolationDetector) reset() error {
	d.rows, d.firstSeen, d.lastTrain, d.firstFit, d.lastEnd = 0, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	d.recent = map[Entity]*rowRing{}
	d.seen = entityClock{}
	d.forest = model.NewForest(d.forestCfg)
	d.train = model.NewReservoir(d.dims(), d.capacity, d.seed)
	// The forest's features ask only Expect: the baselines keep no
	// recent extremes.
	baseline, err := newFieldModel(model.SeasonalConfig{Bucket: d.bucket, MinSamples: seasonalMinSamples, LogScale: true, WithoutRecent: true}, d.metrics)
	if err != nil {
		return fmt.Errorf("detector %s: %w", d.name, err)
	}
	d.baseline, d.keys = baseline, newKeyCache(baseline)
	return nil
}

func (d *isolationDetector) Name() string       { return d.name }
func (d *isolationDetector) Threshold() float64 { return d.threshold }

// Ready reports whether the forest is trained on enough rows and history.
func (d *isolationDetector) Ready() bool {
	return d.forest.Fitted() && d.rows >= d.minRows && d.lastEnd.Sub(d.firstFit) >= calibrationPeriod
}

// calibrationPeriod is how long a trained forest scores windows before the
// detector judges, and how long an entity's recent windows must span
// before it is judged, so that there is something to compare with.
const calibrationPeriod = 12 * time.Hour

// Each entity's recent windows: at most a day of 5-minute windows.
const (
	recentWindows = 288
	// novelty is how much farther than that from its nearest recent
	// window, relative to its distance from usual, a window must lie to be
	// new for the entity.
	novelty = 0.5
)

// rowRing holds an entity's most recent feature rows.
type rowRing struct {
	since time.Time // when the first window was kept
	at    []int32   // each row's window start, seconds after since's
	dims  int
	rows  []rowValue // row-major
	next  int
}

// rowValue is a compressed feature as a ring holds it: a bfloat16, the
// upper half of its float32 rounded to the nearest (ties to even): float32's
// range with 8 significant bits, within 0.4% of the value. Rows are only
// compared by distance, half or more of a row's distance from usual
// apart, so the rounding moves a comparison only within 0.4% of its edge,
// and a day of rows takes half the room.
type rowValue uint16

func toRowValue(v float64) rowValue {
	b := math.Float32bits(float32(v))
	if b&0x7fffffff > 0x7f800000 {
		return rowValue(b>>16) | 0x40 // NaN stays NaN
	}
	b += 0x7fff + (b>>16)&1
	return rowValue(b >> 16)
}

func (v rowValue) float() float64 { return float64(math.Float32frombits(uint32(v) << 16)) }

// ringOffset is t's offset from since, in seconds; false when it does not
// fit (more than 68 years apart).
func ringOffset(since time.Time, t int64) (int32, bool) {
	o := t - since.Unix()
	return int32(o), o >= math.MinInt32 && o <= math.MaxInt32
}

// start is the window start of row i, Unix seconds.
func (r *rowRing) start(i int) int64 { return r.since.Unix() + int64(r.at[i]) }

// grown returns s with room for n more elements, growing toward full, a
// day of rows, without overshooting it: append's doubling would leave a
// full ring up to a third empty.
func grown[T any](s []T, n, full int) []T {
	if len(s)+n <= cap(s) {
		return s
	}
	g := make([]T, len(s), min(max(2*cap(s), len(s)+n), full))
	copy(g, s)
	return g
}

func (r *rowRing) len() int { return len(r.rows) / r.dims }

// compress maps a deviation in spreads onto the scale windows are compared
// on: rises as they are, falls on a logarithmic scale. A fall is bounded
// (every quiet window of a workload lands near log1p(0), and how many
// spreads that is depends on how steady the hour usually is, 5 at night,
// 13 at noon), a rise is not.
func compress(z float64) float64 {
	if z < 0 {
		return -math.Log1p(-z)
	}
	return z
}

func (r *rowRing) add(at time.Time, row []float64) {
	o, _ := ringOffset(r.since, at.Unix()) // windows 68 years apart do not occur
	if r.len() < recentWindows {
		r.rows = grown(r.rows, len(row), recentWindows*r.dims)
		for _, v := range row {
			r.rows = append(r.rows, toRowValue(compress(v)))
		}
		r.at = append(grown(r.at, 1, recentWindows), o)
		return
	}
	for j, v := range row {
		r.rows[r.next*r.dims+j] = toRowValue(compress(v))
	}
	r.at[r.next] = o
	r.next = (r.next + 1) % recentWindows
}

// noveltyGap is how recent a window may be and still not count as one
// the entity has had before.
const noveltyGap = time.Hour

// novelty returns, on the compressed scale, the distance from row to the
// closest row kept before the given time and from row to usual (the
// origin).
func (r *rowRing) novelty(row []float64, before time.Time) (nearest, fromUsual float64) {
	best := math.Inf(1)
	cut := before.Unix() - r.since.Unix()
	for i := 0; i+r.dims <= len(r.rows); i += r.dims {
		if int64(r.at[i/r.dims]) >= cut {
			continue
		}
		var d2 float64
		for j, v := range row {
			d := compress(v) - r.rows[i+j].float()
			d2 += d * d
		}
		best = min(best, d2)
	}
	for _, v := range row {
		c := compress(v)
		fromUsual += c * c
	}
	return math.Sqrt(best), math.Sqrt(fromUsual)
}

// remember keeps a window of e among its recent ones.
func (d *isolationDetector) remember(w source.Window, e Entity, feat []float64, ok bool) {
	if ok {
		d.ring(e).keep(w, feat)
	}
}

// keep adds the window's features to the ring.
func (r *rowRing) keep(w source.Window, feat []float64) {
	if r.len() == 0 {
		r.since = w.Start
	}
	r.add(w.Start, feat)
}

func (d *isolationDetector) ring(e Entity) *rowRing {
	r := d.recent[e]
	if r == nil {
		r = &rowRing{dims: d.dims()}
		d.recent[e] = r
	}
	return r
}

func (d *isolationDetector) Queries() []source.Query {
	return []source.Query{{Name: d.name, Log: d.spec.log, GroupBy: d.spec.groupBy, Filters: d.spec.filters, Metrics: d.metrics}}
}

// features turns a row's values into the model's features at w: each
// field's deviation from its baseline in spreads, then the ratios'. ok is
// false when a field has no baseline for the hour yet.
func (d *isolationDetector) features(w source.Window, keys, shared *model.SeasonalKeys, values []float64) (feat []float64, ok bool) {
	n := len(values)
	d.res, d.spread, d.expected = grow(d.res, n), grow(d.spread, n), grow(d.expected, n)
	feat = d.feat[:0]
	for i, v := range values {
		var exp, sp float64
		if d.from != nil && d.from[i] >= 0 {
			if shared == nil {
				return nil, false // the owner holds no baseline of the entity
			}
			exp, sp, ok = shared.Expect(d.from[i], w.Start)
		} else {
			exp, sp, ok = keys.Expect(i, w.Start)
		}
		if !ok {
			return nil, false
		}
		// Expect answers in values; the baseline lives in log1p space.
		m := math.Log1p(exp)
		d.spread[i] = math.Log1p(exp+sp) - m
		d.res[i] = logValue(v) - m
		d.expected[i] = exp
		feat = append(feat, d.res[i]/d.spread[i])
	}
	for _, r := range d.spec.ratios {
		a, b := r[0], r[1]
		feat = append(feat, (d.res[a]-d.res[b])/math.Hypot(d.spread[a], d.spread[b]))
	}
	d.feat = feat
	return feat, true
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// logValue is log1p of a field's value, negative, missing or infinite
// values reading as 0, as the baseline learns it.
func logValue(v float64) float64 {
	if !(v > 0) || math.IsInf(v, 1) {
		return 0
	}
	return math.Log1p(v)
}

// learnRow adds an entity's window to its baselines and, when it could be
// judged, its features to the forest's training sample.
func (d *isolationDetector) learnRow(w source.Window, keys *model.SeasonalKeys, values, feat []float64) {
	if feat != nil {
		d.train.Add(feat)
	}
	for i, v := range values {
		if d.from != nil && d.from[i] >= 0 {
			continue // the owner learns it, by its own rules
		}
		if !(v > 0) || math.IsInf(v, 1) {
			v = 0
		}
		keys.Observe(i, w.Start, v)
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
	if d.firstFit.IsZero() {
		d.firstFit = w.End
	}
	if d.baseline.Prune(w.Start.Add(-7*24*time.Hour)) > 0 {
		d.keys = newKeyCache(d.baseline)
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
		d.seen.see(e, w.Start)
		keys := d.ownKeys(e)
		feat, ok := d.features(w, keys, d.sharedKeys(e), r.Values)
		d.remember(w, e, feat, ok)
		d.learnRow(w, keys, r.Values, feat)
	}
	d.lastEnd = w.End
	d.maybeTrain(w)
}

// Judge scores every entity with baselines for the hour against the
// forest, then learns the normal ones.
func (d *isolationDetector) Judge(w source.Window, rows [][]source.Row) []Verdict {
	if len(rows) == 0 {
		return nil
	}
	// First every entity's features, learning at once those that cannot
	// be judged yet; then the forest scores the rest tree by tree.
	dims, nf := d.dims(), len(d.metrics)
	d.batch, d.batchExp, d.judged = d.batch[:0], d.batchExp[:0], d.judged[:0]
	for i, r := range rows[0] {
		e, ok := d.spec.entity(d.cluster, r.Key)
		if !ok || len(r.Values) != nf {
			continue
		}
		d.seen.see(e, w.Start)
		keys := d.ownKeys(e)
		feat, ok := d.features(w, keys, d.sharedKeys(e), r.Values)
		ring := d.ring(e)
		if !ok || !d.forest.Fitted() || ring.len() == 0 || w.Start.Sub(ring.since) < calibrationPeriod {
			if ok {
				ring.keep(w, feat)
			}
			d.learnRow(w, keys, r.Values, feat)
			continue
		}
		d.batch = append(d.batch, feat...)
		d.batchExp = append(d.batchExp, d.expected[:nf]...)
		d.judged = append(d.judged, judgedRow{row: i, entity: e, keys: keys, shared: d.sharedKeys(e), ring: ring})
	}
	d.scores = d.forest.ScoreRows(d.batch, d.scores)
	out := make([]Verdict, 0, len(d.judged))
	main := d.spec.main
	for k, j := range d.judged {
		r, e := rows[0][j.row], j.entity
		feat, expected := d.batch[k*dims:(k+1)*dims], d.batchExp[k*nf:(k+1)*nf]
		raw := d.scores[k]
		v := Verdict{
			Detector: d.name, Entity: e, Window: w,
			Score: raw, Threshold: d.threshold,
			Observed: r.Values[main], Expected: expected[main],
		}
		t := d.summary(e, feat, r.Values, expected, v)
		if d.gateZ > 0 && v.Score >= d.threshold && feat[main] < d.gateZ {
			// The main field must lie above its baseline by the
			// sensitivity's deviation for the window to alert.
			v.Score = math.Nextafter(d.threshold, 0)
			t.str("; not alerting: ").str(d.spec.fields[main].name).str(" is ").plusFixed(feat[main], 1).
				str(" spreads from usual, the sensitivity asks ").fixed(d.gateZ, 1)
		}
		if v.Score >= d.threshold && d.knownDeparture(w.Start, j.keys, j.shared, feat, r.Values) {
			v.Score = math.Nextafter(d.threshold, 0)
			t.str("; not alerting: each field that departs showed as large a deviation in the last 48 hours")
		}
		if v.Score >= d.threshold {
			if near, far := j.ring.novelty(feat, w.Start.Add(-noveltyGap)); near < novelty*far {
				v.Score = math.Nextafter(d.threshold, 0)
				t.str("; not alerting: its last day had a window like it (").fixed(near, 1).str(" apart, ").
					fixed(far, 1).str(" from usual)")
			}
		}
		v.Summary = t.String()
		j.ring.keep(w, feat)
		if v.Anomalous() {
			v.EvidenceQuery = []EvidenceQuery{{Log: string(d.spec.log), Filters: d.spec.evidence(r.Key), Limit: 5}}
		} else {
			d.learnRow(w, j.keys, r.Values, feat)
		}
		out = append(out, v)
	}
	d.lastEnd = w.End
	d.maybeTrain(w)
	return out
}

// judgedRow is a row of the window the forest scores.
type judgedRow struct {
	row    int
	entity Entity
	keys   *model.SeasonalKeys
	shared *model.SeasonalKeys // the owner's baselines of the entity (isolationSpec.baselinesOf)
	ring   *rowRing
}

// knownDeparture reports whether a window the forest isolates departs
// only where the entity has been before: no derived feature (bytes or
// packets per flow) lies as far as the baselines' threshold from usual,
// some field lies a spread or more from usual, and each such field
// showed as large a deviation on the same side in the last 48 hours
// (model.Seasonal.Seen), or on minSeenDays of the seven days before
// (SeenDays). The field baselines hold such a departure to be the
// entity's behaviour (fieldBaselines); the forest, which sees every
// field at once, has no memory of its own for how far a field has gone,
// and would alert on a burst the entity shows every day at another hour.
// A window that breaks how the fields go together (many flows of few
// bytes each) is unlike any it has had, and stays for the forest to
// judge.
func (d *isolationDetector) knownDeparture(t time.Time, own, shared *model.SeasonalKeys, feat, values []float64) bool {
	departs, threshold := false, 0.0
	for i, v := range values {
		keys, f := own, i
		if d.from != nil && d.from[i] >= 0 {
			keys, f = shared, d.from[i]
		}
		if keys == nil {
			return false
		}
		z, _, ok := keys.Deviation(f, t, v)
		if !ok {
			return false
		}
		threshold = keys.Threshold()
		if math.Abs(z) < 1 {
			continue
		}
		if known, _ := knownDeviation(keys, f, t, z, time.Time{}, time.Time{}); !known {
			return false
		}
		departs = true
	}
	if !departs {
		return false
	}
	for _, x := range feat[len(values):] {
		if math.Abs(x) >= threshold {
			return false
		}
	}
	return true
}

// largestDeviations returns the indexes of the (at most three) features
// farthest from usual, farthest first.
func largestDeviations(feat []float64) (order [3]int, n int) {
	for i := range feat {
		j := n
		if n < len(order) {
			n++
		} else if math.Abs(feat[i]) <= math.Abs(feat[order[n-1]]) {
			continue
		} else {
			j = n - 1
		}
		for ; j > 0 && math.Abs(feat[i]) > math.Abs(feat[order[j-1]]); j-- {
			order[j] = order[j-1]
		}
		order[j] = i
	}
	return order, n
}

// summary writes into the detector's scratch text the entity's quantity,
// the features that depart most from usual, and the score; the caller may
// add to it before taking the string.
func (d *isolationDetector) summary(e Entity, feat, values, expected []float64, v Verdict) *text {
	order, n := largestDeviations(feat)
	t := d.text.reset().str(e.Workload).str(" in namespace ").str(e.Namespace).str(": ").str(d.spec.what).
		str(" unlike usual at this hour: ")
	for k, i := range order[:n] {
		if k > 0 {
			t.str(", ")
		}
		if i < len(d.spec.fields) {
			t.str(d.spec.fields[i].name).str(" ").general(values[i], 4).str(" where ").general(expected[i], 4).
				str(" is usual (").plusFixed(feat[i], 1).str(" spreads)")
			continue
		}
		r := d.spec.ratios[i-len(d.spec.fields)]
		t.str(d.spec.fields[r[0]].name).str(" per ").str(d.spec.fields[r[1]].name).str(" ").plusFixed(feat[i], 1).str(" spreads")
	}
	return t.str("; isolation score ").fixed(v.Score, 3).str(" (score_samples ").fixed(-v.Score, 3).
		str(", alert at ").fixed(d.calicoScore, 3).str(")")
}

var _ EntityBounded = (*isolationDetector)(nil)

// LiveEntities is the entities seen since the start (or the saved model's
// entities with recent windows).
func (d *isolationDetector) LiveEntities() int { return len(d.seen) }

// ForgetLeastRecent drops the recent windows and the baselines of the
// entities seen least recently until keep remain. The forest and its
// training sample hold no entity and are kept.
func (d *isolationDetector) ForgetLeastRecent(keep int) int {
	gone := d.seen.forget(keep)
	live := sharedModelKeys(d.seen)
	for _, e := range gone {
		if keys := d.ownKeys(e); keys != nil && !live[e.ModelKey()] {
			keys.Forget()
		}
		delete(d.recent, e)
	}
	if len(gone) > 0 {
		// The groups forgotten are gone from the model.
		d.keys = newKeyCache(d.baseline)
	}
	return len(gone)
}

// ShareBaselines lets each isolation detector among ds that reads the same
// rows as a field-baseline detector among ds (multivariable_flow and
// generic_flows, dns_latency and generic_dns, l7_latency and generic_l7:
// the same log, grouping, filters and entities) read that detector's
// seasonal baselines of the fields both aggregate alike, instead of
// keeping baselines of its own of the same values. The forest's features
// only ask Expect; the owner learns the baselines by its rules (values
// beyond its threshold kept out until the level moves, an absent entity's
// volumes as 0). Fields the owner does not follow (configured out, or not
// among its fields) keep their own baselines. An isolation detector whose
// owner is not among ds keeps its own. Call it once the detectors are
// built, before they learn; a model loaded later drops the baselines the
// owner now keeps.
func ShareBaselines(ds []Detector) {
	owners := map[string]*fieldBaselines{}
	for _, d := range ds {
		if f, ok := d.(*fieldBaselines); ok {
			owners[f.name] = f
		}
	}
	for _, d := range ds {
		if iso, ok := d.(*isolationDetector); ok {
			iso.share(owners[iso.spec.baselinesOf])
		}
	}
}

// share makes the detector read owner's baselines of the fields both
// aggregate alike (nil: none; every field keeps its own).
func (d *isolationDetector) share(owner *fieldBaselines) {
	d.owner, d.from, d.allShared = nil, nil, false
	if owner == nil || owner.log != d.spec.log || !slices.Equal(owner.groupBy, d.spec.groupBy) ||
		!slices.EqualFunc(owner.filters, d.spec.filters, func(a, b source.Term) bool { return reflect.DeepEqual(a, b) }) {
		return
	}
	cfg, own := owner.model.Config(), d.baseline.Config()
	if cfg.Bucket != own.Bucket || cfg.MinSamples != own.MinSamples || cfg.LogScale != own.LogScale {
		return
	}
	from := make([]int, len(d.metrics))
	shared := false
	for i, m := range d.metrics {
		from[i] = slices.IndexFunc(owner.metrics, func(o source.Metric) bool {
			return o.Name == m.Name && o.Kind == m.Kind && o.Field == m.Field
		})
		shared = shared || from[i] >= 0
	}
	if !shared {
		return
	}
	d.owner, d.from, d.allShared = owner, from, !slices.Contains(from, -1)
	d.dropShared()
}

// dropShared forgets the detector's own baselines of the fields it reads
// from its owner (a model saved before they were shared holds them).
func (d *isolationDetector) dropShared() {
	if d.owner == nil {
		return
	}
	n := 0
	for i, m := range d.metrics {
		if d.from[i] >= 0 {
			n += d.baseline.ForgetField(m.Name)
		}
	}
	if n > 0 {
		d.keys = newKeyCache(d.baseline)
	}
}

// ownKeys returns the detector's own baselines of entity e, nil when it
// reads every field's from its owner.
func (d *isolationDetector) ownKeys(e Entity) *model.SeasonalKeys {
	if d.allShared {
		return nil
	}
	return d.keys.entity(e).fields
}

// sharedKeys returns the owner's baselines of entity e, nil without an
// owner or when the owner holds none of e. They are looked up every
// window, not kept: the owner drops and rebuilds its groups (pruning,
// forgetting entities, loading a model). A lookup never makes a group in
// the owner's model: rows the owner is not handed (a sharded replica's
// other namespaces, read whole in its first window) leave no trace there.
func (d *isolationDetector) sharedKeys(e Entity) *model.SeasonalKeys {
	if d.owner == nil {
		return nil
	}
	if ek, ok := d.owner.keys.of[e]; ok {
		return ek.fields
	}
	return d.owner.model.Group(e.ModelKey())
}
