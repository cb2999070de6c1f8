package detect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// fieldBaselines is the model shared by the detectors that learn a seasonal
// baseline for each numeric field of each entity (generic_* and
// time_series_*): every window, each field of each entity is scored in
// learned spreads against what that entity usually shows at that hour of
// the day (and of the week once a week is known). The entity's verdict is
// its most anomalous field.
//
// Volume fields (bytes, packets, flows, requests, queries) are judged on
// both sides: a fall far below the hour's usual level is as anomalous as a
// rise, unless the learned pattern says quiet is normal then. An entity
// that was seen and has no record in a window sent nothing: its volume
// fields are judged and learned as 0 (so a service that goes quiet is
// found, and a sparse job learns its empty windows). Other fields (means,
// maxima, counts of distinct things) are judged above only.
//
// A deviation beyond the threshold alerts only when it is new: when the
// entity showed one as large on the same side in the last 48 hours
// (model.Seasonal.Seen), or on minSeenDays of the seven days before
// (model.Seasonal.SeenDays: a key that spikes every few days), it is
// part of the entity's behaviour, and its score is kept just below the
// threshold. A value beyond the threshold is not learned; once a
// departure on one side (past half the threshold, brief returns allowed)
// has held for level_shift_hours, the level has changed: the baseline
// moves to it (model.Seasonal.Track), the window is learned, and the
// summary says so, so a new level alerts as one episode and resolves.
type fieldBaselines struct {
	name    string
	cluster string
	log     calicolog.LogType
	groupBy []string
	filters []source.Term
	metrics []source.Metric // one per field, Name is the field
	// entity turns a row key into the entity judged; ok is false for rows
	// that name no entity.
	entity func(cluster string, key []string) (Entity, bool)
	// evidence selects the records of an entity's row.
	evidence   func(key []string) []source.Term
	zThreshold float64 // deviation in spreads that scores scoreThreshold
	// driftThreshold is the drift of hours' means (model.Seasonal.Drift)
	// that alerts, as rarely on usual hours as zThreshold on windows.
	driftThreshold float64
	minRows        int // rows learned before the model is ready
	rows           int // rows learned so far
	model          *model.Seasonal
	keys           keyCache
	text           text // scratch for summaries
	// records is the index in metrics of the hidden count of records
	// (recordsMetric) when a field is a mean, else -1.
	records int
	// volume marks the metrics judged on both sides and taken as 0 when
	// the entity has no record in a window.
	volume []bool
	// present holds the entities seen, by model key, and the start of the
	// last window that held them; absent ones are judged as sending
	// nothing for absentFor.
	present map[string]*presence
	forget  forgetter
	judged  []fieldJudgement // scratch, one per metric
	shared  map[string]int   // scratch: rows per model key in a window
	rowKeys []*entityKeys    // scratch: each row's entity, resolved
	// levelShift is how long one side must hold before the level moves.
	levelShift time.Duration
}

// presence is an entity whose absence is judged: the entity last seen
// under a model key, and when.
type presence struct {
	entity Entity
	keys   *model.SeasonalKeys
	last   time.Time
	seen   bool // in the window being judged
}

// quietFor is how long a volume field must stay far below its usual level
// before the fall alerts: one empty or thin window is how an idle minute
// or a flow interval that ended just past the window's edge looks (Calico
// does not align its intervals to the clock).
const quietFor = 15 * time.Minute

// minSeenDays is how many of the seven days before a deviation must have
// shown one as large (model.Seasonal.SeenDays) for it to be the entity's
// behaviour: once in a week is an event, twice is a habit.
const minSeenDays = 2

// knownDeviation reports whether deviation z of field f at t is the
// entity's behaviour: one as large on the same side in the last 48 hours
// (model.Seasonal.Seen), or on minSeenDays of the seven days before
// (SeenDays, whose count is days; 0 when the last 48 hours tell). The
// hours from from to to (none when to is zero) are left out (SeenExcept).
func knownDeviation(keys *model.SeasonalKeys, f int, t time.Time, z float64, from, to time.Time) (known bool, days int) {
	if keys.SeenExcept(f, t, z, from, to) {
		return true, 0
	}
	if n := keys.SeenDaysExcept(f, t, z, from, to); n >= minSeenDays {
		return true, n
	}
	return false, 0
}

// absentFor is how long an entity that has no more records is judged as
// sending nothing: the week its baseline spans. After that it is gone.
const absentFor = 7 * 24 * time.Hour

// fieldJudgement is one field of a row as judged.
type fieldJudgement struct {
	z        float64 // in spreads, signed; a mean's widened by fewerRecords
	expected float64
	judged   bool
	beyond   bool    // |z| at or beyond the threshold, and not a new level
	early    bool    // beyond below the usual level, for less than quietFor
	quiet    bool    // a fall, measured from the quietest usual hour
	seen     bool    // beyond, and seen as large in the last 48 hours or on seenDays days
	seenDays int     // with seen: on how many of the last seven days, 0 when in the last 48 hours
	shifted  bool    // the level changed: the baseline moved by shift
	shift    float64 // the move, as a difference of logarithms
	burst    bool    // a volume burstFactor times its usual level, past anything recent
	high     float64 // with burst: the highest value of the last 48 hours
	// hour: the hour so far departs as a whole (model.Seasonal.HourDeviation)
	// where no window alerts alone: hourZ spreads of an hour's mean, a
	// mean of hourN values, hourMean.
	hour     bool
	hourZ    float64
	hourMean float64
	hourN    int
	// drift: the hours up to this one have risen (or, driftBy negative,
	// fallen) together (model.Seasonal.Drift) where no window or hour
	// alerts alone, by driftBy spreads of an hour's mean. hourOnly: the
	// window itself is within its threshold (hour or drift alerted), so it
	// is learned.
	drift    bool
	driftBy  float64
	hourOnly bool
}

// alertZ is the deviation f is scored by: its own, or the threshold for a
// burst within it.
func (f *fieldJudgement) alertZ(threshold, driftThreshold float64) float64 {
	if f.hour {
		return math.Abs(f.hourZ)
	}
	if f.drift {
		return threshold * math.Abs(f.driftBy) / driftThreshold
	}
	if f.burst && f.beyond {
		return max(math.Abs(f.z), threshold)
	}
	return math.Abs(f.z)
}

// A rise of a volume field to burstFactor times its usual level at this
// hour, burstOverHigh times the highest value it showed in the last 48
// hours and burstOverRun times the highest at this time of day on the two
// days before, alerts even within the threshold. On a bursty series
// (requests that swing tenfold within an hour) the learned spread is wide,
// so a rise several times anything seen stays within the threshold; what
// makes it an anomaly is its size against the usual level and against the
// series' own recent bursts, not against the spread. A job that runs at
// the same time every day (a nightly backup) is not one unless it at
// least doubles its last runs: batch sizes vary that much.
//
// The burst must also lie burstMinZ learned spreads above the usual level,
// outside the band that holds 95% of the series' values: a workload of a
// few connections a window (a controller talking to the API server) swings
// tenfold by counting alone, and such a swing is within one or two of its
// spreads.
const (
	burstFactor   = 4
	burstOverHigh = 1.5
	burstOverRun  = 2
	burstMinZ     = 2
)

// numericField is a field a baseline detector can follow and how a
// window's records of one entity combine into one value. A volume field
// counts what flows (bytes, packets, flows, requests, queries): it is
// judged on both sides, and is 0 in a window without records.
type numericField struct {
	name   string
	kind   source.MetricKind
	volume bool
}

// fieldList turns a comma list such as Calico's AD_GENERIC_FLOWS_FIELDS
// into metrics, refusing fields the log does not have.
// It also names the volume fields listed.
func fieldList(info Info, o Options, key string, known []numericField) ([]source.Metric, map[string]bool, error) {
	volumes := map[string]bool{}
	raw, ok := o.Params[key]
	if !ok {
		for _, p := range info.Params {
			if p.Key == key {
				raw = p.Default
			}
		}
	}
	var out []source.Metric
	seen := map[string]bool{}
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		if f == "" || seen[f] {
			continue
		}
		var found *numericField
		for i := range known {
			if known[i].name == f {
				found = &known[i]
			}
		}
		if found == nil {
			names := make([]string, len(known))
			for i, k := range known {
				names[i] = k.name
			}
			return nil, nil, fmt.Errorf("detector %s: %s names unknown field %q (known: %s)", info.Name, envOrKey(info, key), f, strings.Join(names, ","))
		}
		seen[f] = true
		out = append(out, source.Metric{Name: f, Kind: found.kind, Field: f})
		if found.volume {
			volumes[f] = true
		}
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("detector %s: %s lists no fields", info.Name, envOrKey(info, key))
	}
	return out, volumes, nil
}

func envOrKey(info Info, key string) string {
	for _, p := range info.Params {
		if p.Key == key && p.Env != "" {
			return p.Env
		}
	}
	return key
}

// minSizeForTrain reads the rows a model learns before it is ready.
func minSizeForTrain(info Info, o Options) (int, error) {
	v, err := o.Float(info, "min_size_for_train")
	if err != nil {
		return 0, err
	}
	if v < 0 || v != math.Trunc(v) {
		return 0, fmt.Errorf("detector %s: %s=%v must be a whole number of rows, 0 or more", info.Name, envOrKey(info, "min_size_for_train"), v)
	}
	return int(v), nil
}

// recordsMetric is the hidden metric a baseline detector adds when one of
// its fields is a mean over records (source.Avg: tcp_mean_smooth_rtt,
// latency_mean, duration_mean): how many records the window's mean was
// taken over. Its baseline is learned, never judged.
const recordsMetric = "records"

// fewerRecords is how much noisier than usual a mean over n records is:
// √(usual/n) when the window holds fewer records than the baseline of key
// expects at t, by half a record or more (a mean of three records where
// six are usual varies √2 times as much), else 1.
func (d *fieldBaselines) fewerRecords(keys *model.SeasonalKeys, t time.Time, n float64) float64 {
	usual, _, ok := keys.Expect(d.records, t)
	if !ok || !(n+0.5 <= usual) {
		return 1
	}
	return math.Sqrt(usual / max(n, 1))
}

// seasonalMinSamples is how many observations one key needs (besides two
// days covering the hour) before its baseline answers.
const seasonalMinSamples = 12

func (d *fieldBaselines) init(o Options, levelShift time.Duration) error {
	m, err := newFieldModel(model.SeasonalConfig{Bucket: o.Bucket, MinSamples: seasonalMinSamples, LogScale: true, LevelShiftAfter: levelShift}, d.metrics)
	if err != nil {
		return fmt.Errorf("detector %s: %w", d.name, err)
	}
	d.model, d.keys = m, newKeyCache(m)
	d.present = map[string]*presence{}
	d.driftThreshold = model.DriftThreshold(d.zThreshold, o.Bucket)
	return nil
}

// newFieldModel returns an empty seasonal model whose keys are
// "<entity model key>|<metric>" for each of metrics (keyCache), held per
// entity.
func newFieldModel(cfg model.SeasonalConfig, metrics []source.Metric) (*model.Seasonal, error) {
	m := model.NewSeasonal(cfg)
	names := make([]string, len(metrics))
	for i, mt := range metrics {
		names[i] = mt.Name
	}
	if err := m.SetFields(fieldSeparator, names); err != nil {
		return nil, err
	}
	return m, nil
}

func (d *fieldBaselines) Name() string       { return d.name }
func (d *fieldBaselines) Threshold() float64 { return scoreThreshold }
func (d *fieldBaselines) Ready() bool        { return d.rows >= d.minRows }

func (d *fieldBaselines) Queries() []source.Query {
	return []source.Query{{Name: d.name, Log: d.log, GroupBy: d.groupBy, Filters: d.filters, Metrics: d.metrics}}
}

// Learn adds every entity's fields of window w to the baselines, and the
// entities seen before that have no record in w as sending nothing.
func (d *fieldBaselines) Learn(w source.Window, rows [][]source.Row) {
	if len(rows) == 0 {
		return
	}
	for _, r := range rows[0] {
		if e, ok := d.entity(d.cluster, r.Key); ok && len(r.Values) == len(d.metrics) {
			ek := d.keys.entity(e)
			d.mark(w, e, ek)
			d.learnRow(w, ek.fields, r)
		}
	}
	d.sweep(w, func(p *presence) { d.learnAbsent(w, p.keys) })
}

// learnRow adds a row's fields to the baselines of keys, the entity's
// (keyCache.entity).
func (d *fieldBaselines) learnRow(w source.Window, keys *model.SeasonalKeys, r source.Row) {
	for i, v := range r.Values {
		keys.Observe(i, w.Start, v)
	}
	d.rows++
}

// learnAbsent learns 0 for the volume fields of an entity without records.
func (d *fieldBaselines) learnAbsent(w source.Window, keys *model.SeasonalKeys) {
	for i, vol := range d.volume {
		if vol {
			keys.Observe(i, w.Start, 0)
		}
	}
}

// mark notes that entity e, resolved to ek, has records in w.
func (d *fieldBaselines) mark(w source.Window, e Entity, ek *entityKeys) {
	p := d.present[ek.model]
	if p == nil {
		p = &presence{}
		d.present[ek.model] = p
	}
	p.entity, p.keys, p.last, p.seen = e, ek.fields, w.Start, true
}

func (d *fieldBaselines) hasVolume() bool {
	for _, v := range d.volume {
		if v {
			return true
		}
	}
	return false
}

// sweep calls absent for every entity seen in the last absentFor that has
// no record in w, forgets the ones gone longer, and clears the marks of w.
// Once a day of window time, baselines not learned for forgetAfter are
// dropped.
func (d *fieldBaselines) sweep(w source.Window, absent func(p *presence)) {
	judgeAbsent := d.hasVolume()
	for mk, p := range d.present {
		switch {
		case p.seen:
			p.seen = false
		case w.Start.Sub(p.last) > absentFor:
			delete(d.present, mk)
		case judgeAbsent:
			absent(p)
		}
	}
	if cut, ok := d.forget.due(w.End); ok && d.model.Prune(cut) > 0 {
		d.resolveAgain()
	}
}

// resolveAgain drops the entities resolved and resolves the present ones
// again, after keys were removed from the model (their groups may be
// gone).
func (d *fieldBaselines) resolveAgain() {
	d.keys = newKeyCache(d.model)
	for _, p := range d.present {
		p.keys = d.keys.entity(p.entity).fields
	}
}

// LiveEntities is how many entities (model keys) the baselines follow.
func (d *fieldBaselines) LiveEntities() int { return len(d.present) }

// ForgetLeastRecent drops the baselines of the entities seen least
// recently until keep remain (detect.EntityBounded), and returns how many
// it dropped.
func (d *fieldBaselines) ForgetLeastRecent(keep int) int {
	last := make(map[string]int64, len(d.present))
	for mk, p := range d.present {
		last[mk] = p.last.Unix()
	}
	gone := leastRecent(last, keep)
	for _, mk := range gone {
		p := d.present[mk]
		p.keys.Forget()
		delete(d.present, mk)
	}
	if len(gone) > 0 {
		// Other entities of a forgotten model key may still be cached.
		d.resolveAgain()
	}
	return len(gone)
}

// Judge scores every entity with a baseline for the window's hour, and the
// entities seen before that have no record in it, then learns the
// window's normal values.
func (d *fieldBaselines) Judge(w source.Window, rows [][]source.Row) []Verdict {
	if len(rows) == 0 {
		return nil
	}
	out := make([]Verdict, 0, len(rows[0]))
	// Rows sharing a model key (the old and new ReplicaSet of a rollout)
	// split its traffic: a fall of one of them is not a fall.
	clear(d.shared)
	if d.shared == nil {
		d.shared = map[string]int{}
	}
	// Each row's entity is resolved once a window.
	volume := d.hasVolume()
	d.rowKeys = d.rowKeys[:0]
	for _, r := range rows[0] {
		var ek *entityKeys
		if e, ok := d.entity(d.cluster, r.Key); ok {
			ek = d.keys.entity(e)
			if volume {
				d.shared[ek.model]++
			}
		}
		d.rowKeys = append(d.rowKeys, ek)
	}
	for i, r := range rows[0] {
		e, ok := d.entity(d.cluster, r.Key)
		if !ok || len(r.Values) != len(d.metrics) {
			continue
		}
		ek := d.rowKeys[i]
		d.mark(w, e, ek)
		if v, ok := d.judgeRow(w, e, ek.fields, r.Values, false, d.shared[ek.model] > 1); ok {
			v.EvidenceQuery = nil
			if v.Anomalous() {
				v.EvidenceQuery = []EvidenceQuery{{Log: string(d.log), Filters: d.evidence(r.Key), Limit: 5}}
			}
			out = append(out, v)
		}
	}
	var zeros []float64
	d.sweep(w, func(p *presence) {
		if zeros == nil {
			zeros = make([]float64, len(d.metrics))
		}
		if v, ok := d.judgeRow(w, p.entity, p.keys, zeros, true, false); ok {
			out = append(out, v)
		}
	})
	return out
}

// judgeRow judges one entity's values (absent: it had no record, and only
// its volume fields, at 0, are judged; shared: another row of the window
// has the same model key, so its volume is judged above only), learns them
// as judged, and returns its verdict; ok is false when no field has a
// baseline yet.
func (d *fieldBaselines) judgeRow(w source.Window, e Entity, keys *model.SeasonalKeys, values []float64, absent, shared bool) (Verdict, bool) {
	if cap(d.judged) < len(values) {
		d.judged = make([]fieldJudgement, len(values))
	}
	fields := d.judged[:len(values)]
	worst, judged := -1, false
	noisier := 0.0 // fewerRecords of the row, once a mean needs it
	for i, v := range values {
		fields[i] = fieldJudgement{}
		if i == d.records || absent && !d.volume[i] {
			continue
		}
		z, exp, ok := keys.Deviation(i, w.Start, v)
		if !ok {
			continue
		}
		if !d.volume[i] || shared {
			z = max(z, 0)
		}
		quiet := false
		if z <= -d.zThreshold/2 {
			// A fall is measured from the entity's quietest usual hour,
			// from half the threshold on, where Track starts following a
			// departure: a quiet weekend within the nights' range is no
			// new level.
			if qz, qexp, ok := keys.QuietDeviation(i, w.Start, v); ok && qz > z {
				z, exp, quiet = min(qz, 0), qexp, true
			}
		}
		if d.metrics[i].Kind == source.Avg && d.records >= 0 {
			if noisier == 0 {
				noisier = d.fewerRecords(keys, w.Start, values[d.records])
			}
			z /= noisier
		}
		f := &fields[i]
		f.z, f.expected, f.judged, f.quiet = z, exp, true, quiet
		if d.volume[i] && !shared && z >= burstMinZ && z < d.zThreshold && v >= burstFactor*exp {
			if high, sameTime, ok := keys.RecentHigh(i, w.Start); ok && v >= burstOverHigh*high && v >= burstOverRun*sameTime {
				f.burst, f.high = true, high
			}
		}
		var run int
		if f.shifted, f.shift, run = keys.Track(i, w.Start, v, z, d.zThreshold); !f.shifted && (math.Abs(z) >= d.zThreshold || f.burst) {
			f.beyond = true
			f.early = z < 0 && time.Duration(run)*w.End.Sub(w.Start) < quietFor
			if !f.early && !f.burst {
				// A fall becoming due is judged without the windows
				// it held back: they are no evidence of the fall
				// itself. From its next window on they count, as a
				// rise's own first windows do once its hour has
				// passed.
				var from, to time.Time
				if step := w.End.Sub(w.Start); z < 0 && time.Duration(run-1)*step < quietFor {
					from = w.Start.Add(-time.Duration(max(run-1, 0)) * step)
					to = w.Start.Add(-step)
				}
				f.seen, f.seenDays = knownDeviation(keys, i, w.Start, z, from, to)
			}
		}
		if d.volume[i] && !f.shifted && (!f.beyond || f.seen || f.early) {
			hv := v
			if f.seen {
				// A window that is the entity's known behaviour joins
				// its hour as a usual one: the hour it pulls up is the
				// same behaviour. Noted as known, it still counts in
				// the drift of the hours (model.Seasonal.NoteKnown):
				// each burst can be known while their number is not.
				_, hv, _ = keys.Deviation(i, w.Start, v)
			}
			d.judgeHour(f, keys, i, w.Start, hv, !shared)
		}
		judged = true
		if worst < 0 || worse(f, &fields[worst]) {
			worst = i
		}
	}
	if !judged {
		if !absent {
			d.learnRow(w, keys, source.Row{Values: values})
		} else {
			d.learnAbsent(w, keys)
		}
		return Verdict{}, false
	}
	f := &fields[worst]
	v := Verdict{
		Detector:  d.name,
		Entity:    e,
		Window:    w,
		Score:     model.Score(f.alertZ(d.zThreshold, d.driftThreshold), d.zThreshold),
		Threshold: scoreThreshold,
		Observed:  values[worst],
		Expected:  f.expected,
		Unit:      fieldUnit(d.log, d.metrics[worst].Name),
	}
	d.text.reset()
	if absent {
		d.text.str(e.Workload).str(" in namespace ").str(e.Namespace).str(": no records in this window, ")
		d.text.str(d.metrics[worst].Name).str(" 0 where ").general(f.expected, 4).str(" is usual at this hour (").
			plusFixed(f.z, 1).str(" spreads, alert at ").fixed(d.zThreshold, 1).str(")")
	} else if f.drift {
		d.text.str(e.Workload).str(" in namespace ").str(e.Namespace).str(": ").str(d.metrics[worst].Name).
			str(" has run ").str(aboveOrBelow(f.driftBy)).str(" its usual level for hours: ").general(values[worst], 4).str(" where ").general(f.expected, 4).
			str(" is usual at this hour, its hours' means together ").fixed(math.Abs(f.driftBy), 1).
			str(" spreads past what each hour shows alone (alert at ").fixed(d.driftThreshold, 1).str(")")
	} else if f.hour {
		v.Observed = f.hourMean
		d.text.str(e.Workload).str(" in namespace ").str(e.Namespace).str(": ").str(d.metrics[worst].Name).
			str(" averaged ").general(f.hourMean, 4).str(" over the last ").fixed(float64(f.hourN), 0).
			str(" windows where ").general(f.expected, 4).str(" is usual at this hour (").plusFixed(f.hourZ, 1).
			str(" spreads of an hour's mean, alert at ").fixed(d.zThreshold, 1).str(")")
	} else {
		writeBaselineSummary(&d.text, e, d.metrics[worst].Name, v.Observed, f.expected, f.z, d.zThreshold)
	}
	if f.burst && f.beyond {
		d.text.str("; ").fixed(v.Observed/max(f.expected, 1e-9), 1).str(" times the usual level and ").
			fixed(v.Observed/max(f.high, 1e-9), 1).str(" times the highest of the last 48 hours (").general(f.high, 4).str(")")
	}
	if f.quiet {
		d.text.str("; measured from its quietest usual hour")
	}
	if d.metrics[worst].Kind == source.Avg && noisier > 1 {
		n := max(values[d.records], 1)
		d.text.str("; a mean of ").fixed(n, 0).str(" records where ").general(n*noisier*noisier, 3).
			str(" are usual, its spread widened ").fixed(noisier, 2).str(" times")
	}
	switch {
	case f.shifted:
		v.Score = min(v.Score, math.Nextafter(scoreThreshold, 0))
		d.text.str("; its level changed ").fixed(d.levelShift.Hours(), 0).str(" hours ago, to ").
			general(math.Exp(f.shift), 3).str(" times the usual: that is its baseline from now on")
	case f.early:
		v.Score = min(v.Score, math.Nextafter(scoreThreshold, 0))
		d.text.str("; not alerting yet: a fall alerts once it has lasted ").fixed(quietFor.Minutes(), 0).str(" minutes")
	case f.seen:
		v.Score = min(v.Score, math.Nextafter(scoreThreshold, 0))
		d.text.str("; not alerting: it showed a deviation as large ")
		if f.seenDays > 0 {
			d.text.str("on ").fixed(float64(f.seenDays), 0).str(" of the last 7 days")
		} else {
			d.text.str("in the last 48 hours")
		}
	}
	v.Summary = d.text.String()
	// Values beyond the threshold stay out of the baseline; those of the
	// entity's known behaviour still count in the drift of its hours.
	for i, val := range values {
		switch {
		case absent && !d.volume[i]:
		case fields[i].seen && !v.Anomalous():
			keys.NoteKnown(i, w.Start, val)
		case fields[i].beyond && !fields[i].hourOnly || i == d.records && v.Anomalous():
			keys.Note(i, w.Start, val)
		default:
			keys.Observe(i, w.Start, val)
		}
	}
	if !absent {
		d.rows++
	}
	return v, true
}

// judgeHour judges the hour of t so far as a whole for volume field i,
// whose window does not alert alone (model.Seasonal.HourDeviation): an
// hour's mean beyond the threshold that no hour of the last 48 showed on
// the same side alerts; so does a run of hours that rose or fell together
// past the drift threshold (model.Seasonal.Drift), once in 48 hours for
// the entity, whichever of its fields crosses (driftSeen); the drift
// counts the windows of known behaviour too (model.Seasonal.NoteKnown):
// a night of bursts each seen before is not a night seen before. A window
// alerted only by its hour is learned, not kept out: it is within its own
// threshold, and a departure too small for any window is what the
// baseline follows. The model counts a fall on a whole hour, once the
// hour's week is known and as far as the hour is below yesterday's too
// (model.Seasonal.HourDeviation): an hour's mean far below its usual
// level is also what the first quiet weekend looks like. falls is false
// where the entity's rows are not its own alone: a row split with others
// is not a fall. Means and maxima are left to their windows: a window of
// three lookups weighs as much in an hour's mean as one of three
// thousand, and one slow lookup sets a window's maximum, so an hour's
// mean of them says little that its windows do not.
func (d *fieldBaselines) judgeHour(f *fieldJudgement, keys *model.SeasonalKeys, i int, t time.Time, v float64, falls bool) {
	hz, mean, n, hourOK := keys.HourDeviation(i, t, v)
	if !falls {
		hz = max(hz, 0)
	}
	own := f.beyond
	if hourOK && math.Abs(hz) >= d.zThreshold && !keys.HourSeen(i, t, hz, n) {
		f.hour, f.hourZ, f.hourMean, f.hourN = true, hz, mean, n
	} else if dz, ok := keys.DriftWith(i, t, hz, hourOK); ok && (dz >= d.driftThreshold || falls && -dz >= d.driftThreshold) {
		seen := d.driftSeen(keys, t)
		keys.ResetDrift(i, t)
		if seen {
			return
		}
		f.drift, f.driftBy = true, dz
	} else {
		return
	}
	if f.quiet {
		// The window was measured from the quietest usual hour; the hour
		// is judged against its own.
		_, f.expected, _ = keys.Deviation(i, t, v)
		f.quiet = false
	}
	f.beyond, f.seen, f.early, f.hourOnly = true, false, false, !own
}

// driftSeen reports whether a drift of any of the entity's volume fields
// alerted in the last 48 hours (model.Seasonal.DriftSeen): its fields
// move together (bytes, packets and flows of the same traffic), and a
// run of hours that rose or fell is one episode of the entity, however
// many of its fields cross their drift threshold, an hour or two apart.
func (d *fieldBaselines) driftSeen(keys *model.SeasonalKeys, t time.Time) bool {
	for j, volume := range d.volume {
		if volume && keys.DriftSeen(j, t) {
			return true
		}
	}
	return false
}

// aboveOrBelow is "above" for a positive departure, else "below".
func aboveOrBelow(z float64) string {
	if z > 0 {
		return "above"
	}
	return "below"
}

// worse reports whether field a is a stronger reason to alert than b: a
// new deviation beyond the threshold before one seen recently or a new
// level, then the larger deviation.
func worse(a, b *fieldJudgement) bool {
	rank := func(f *fieldJudgement) int {
		switch {
		case f.beyond && !f.seen && !f.early:
			return 3
		case f.shifted:
			return 2
		case f.beyond:
			return 1
		}
		return 0
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra > rb
	}
	return math.Abs(a.z) > math.Abs(b.z)
}

// baselineSummary is "<workload> in namespace <ns>: <field> <observed>
// where <expected> is usual at this hour (<z> spreads, alert at <zAlert>)".
func baselineSummary(t *text, e Entity, field string, observed, expected, z, zAlert float64) string {
	writeBaselineSummary(t, e, field, observed, expected, z, zAlert)
	return t.String()
}

// writeBaselineSummary writes baselineSummary into t, afresh, for a
// caller that adds to it before taking the string.
func writeBaselineSummary(t *text, e Entity, field string, observed, expected, z, zAlert float64) {
	t.reset().str(e.Workload).str(" in namespace ").str(e.Namespace).str(": ").str(field).str(" ").
		general(observed, 4).str(" where ").general(expected, 4).str(" is usual at this hour (").
		plusFixed(z, 1).str(" spreads, alert at ").fixed(zAlert, 1).str(")")
}

// fieldSeparator joins an entity's model key and a field's name into the
// name of the field's baseline: "<model key>|<field>" (saved models carry
// these names).
const fieldSeparator = "|"

// keyCache resolves each entity, once, to its model key and the group of
// its fields' baselines in a model made by newFieldModel, so judging a
// window neither builds nor looks up a string per field. It holds the
// model's groups: after keys are removed from the model (Prune, Forget),
// a new cache is needed.
type keyCache struct {
	model *model.Seasonal
	of    map[Entity]*entityKeys
}

// entityKeys is an entity resolved: its model key (Entity.ModelKey) and
// its fields' baselines, by the field's index in the detector's metrics.
type entityKeys struct {
	model  string
	fields *model.SeasonalKeys
}

func newKeyCache(m *model.Seasonal) keyCache {
	return keyCache{model: m, of: map[Entity]*entityKeys{}}
}

// entity returns e resolved.
func (c keyCache) entity(e Entity) *entityKeys {
	if ek, ok := c.of[e]; ok {
		return ek
	}
	mk := e.ModelKey()
	ek := &entityKeys{model: mk, fields: c.model.Entity(mk)}
	c.of[e] = ek
	return ek
}

// Saved models: a magic and version, the detector's name, the rows learned,
// the seasonal model, and a CRC-32 of all of it.
const savedModelVersion = 1

var savedModelMagic = []byte("CAEMODEL")

// errModelFile reports a saved model that cannot be used.
var errModelFile = errors.New("unusable saved model")

func writeModelFile(w io.Writer, name string, rows int, parts ...[]byte) error {
	var b bytes.Buffer
	b.Write(savedModelMagic)
	b.WriteByte(savedModelVersion)
	put := func(p []byte) {
		_ = binary.Write(&b, binary.LittleEndian, uint64(len(p)))
		b.Write(p)
	}
	put([]byte(name))
	_ = binary.Write(&b, binary.LittleEndian, uint64(rows))
	for _, p := range parts {
		put(p)
	}
	_ = binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(b.Bytes()))
	_, err := w.Write(b.Bytes())
	return err
}

// loadModel reads what writeModelFile wrote for detector name: the rows learned
// and nparts model parts.
func readModelFile(r io.Reader, name string, nparts int) (rows int, parts [][]byte, err error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, nil, fmt.Errorf("%s model: %w", name, err)
	}
	if len(data) < len(savedModelMagic)+1+4 || !bytes.Equal(data[:len(savedModelMagic)], savedModelMagic) {
		return 0, nil, fmt.Errorf("%s model: not a model file: %w", name, errModelFile)
	}
	if v := data[len(savedModelMagic)]; v != savedModelVersion {
		return 0, nil, fmt.Errorf("%s model: format version %d, this build reads %d: %w", name, v, savedModelVersion, errModelFile)
	}
	body := data[:len(data)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return 0, nil, fmt.Errorf("%s model: checksum mismatch: %w", name, errModelFile)
	}
	rest := body[len(savedModelMagic)+1:]
	get := func() ([]byte, bool) {
		if len(rest) < 8 {
			return nil, false
		}
		n := binary.LittleEndian.Uint64(rest)
		if n > uint64(len(rest)-8) {
			return nil, false
		}
		p := rest[8 : 8+n]
		rest = rest[8+n:]
		return p, true
	}
	saved, ok := get()
	if !ok || len(rest) < 8 {
		return 0, nil, fmt.Errorf("%s model: truncated: %w", name, errModelFile)
	}
	if string(saved) != name {
		return 0, nil, fmt.Errorf("%s model: the file holds detector %q: %w", name, saved, errModelFile)
	}
	n := binary.LittleEndian.Uint64(rest)
	rest = rest[8:]
	for range nparts {
		p, ok := get()
		if !ok {
			return 0, nil, fmt.Errorf("%s model: truncated: %w", name, errModelFile)
		}
		parts = append(parts, p)
	}
	if len(rest) != 0 || n > math.MaxInt32 {
		return 0, nil, fmt.Errorf("%s model: malformed: %w", name, errModelFile)
	}
	return int(n), parts, nil
}

// SaveModel writes the baselines and how many rows they learned.
func (d *fieldBaselines) SaveModel(w io.Writer) error {
	m, err := d.model.MarshalBinary()
	if err != nil {
		return err
	}
	return writeModelFile(w, d.name, d.rows, m)
}

// LoadModel replaces the baselines with saved ones; on error the model is
// unchanged.
func (d *fieldBaselines) LoadModel(r io.Reader) error {
	rows, parts, err := readModelFile(r, d.name, 1)
	if err != nil {
		return err
	}
	m, err := newFieldModel(d.model.Config(), d.metrics)
	if err != nil {
		return fmt.Errorf("%s model: %w", d.name, err)
	}
	if err := m.UnmarshalBinary(parts[0]); err != nil {
		return fmt.Errorf("%s model: %w", d.name, err)
	}
	d.model, d.rows, d.keys, d.present = m, rows, newKeyCache(m), map[string]*presence{}
	return nil
}

// Entities of the baseline detectors, by log: the flow's source (its own
// report), the DNS client, the L7 destination (the service answering).
var (
	baselineFlowKey = []string{"source_namespace", "source_name_aggr", "source_type"}
	baselineDNSKey  = []string{"client_namespace", "client_name_aggr"}
	baselineL7Key   = []string{"dest_namespace", "dest_name_aggr", "dest_type"}
	// srcReports keeps the flow records the source reported, whose
	// counters are the source's own (each flow between pods is logged by
	// both ends).
	srcReports = []source.Term{{Field: "reporter", Values: []string{"src"}}}
)

func flowSourceEntity(cluster string, key []string) (Entity, bool) {
	if len(key) != 3 || key[1] == "" {
		return Entity{}, false
	}
	return Entity{Cluster: cluster, Namespace: key[0], Workload: key[1], Type: key[2]}, true
}

func flowSourceEvidence(key []string) []source.Term {
	return []source.Term{
		{Field: "reporter", Values: []string{"src"}},
		{Field: "source_namespace", Values: []string{key[0]}},
		{Field: "source_name_aggr", Values: []string{key[1]}},
		{Field: "source_type", Values: []string{key[2]}},
	}
}

func dnsClientEntity(cluster string, key []string) (Entity, bool) {
	if len(key) != 2 || key[1] == "" {
		return Entity{}, false
	}
	return Entity{Cluster: cluster, Namespace: key[0], Workload: key[1], Type: "wep"}, true
}

func dnsClientEvidence(key []string) []source.Term {
	return []source.Term{
		{Field: "client_namespace", Values: []string{key[0]}},
		{Field: "client_name_aggr", Values: []string{key[1]}},
	}
}

func l7DestEntity(cluster string, key []string) (Entity, bool) {
	if len(key) != 3 || key[1] == "" {
		return Entity{}, false
	}
	return Entity{Cluster: cluster, Namespace: key[0], Workload: key[1], Type: key[2]}, true
}

func l7DestEvidence(key []string) []source.Term {
	return []source.Term{
		{Field: "dest_namespace", Values: []string{key[0]}},
		{Field: "dest_name_aggr", Values: []string{key[1]}},
		{Field: "dest_type", Values: []string{key[2]}},
	}
}

// The numeric fields of each log and how one entity's records in a window
// combine: counters add up, per-record counts of distinct things and
// maxima take the largest, means average.
var (
	flowNumericFields = []numericField{
		{"bytes_in", source.Sum, true}, {"bytes_out", source.Sum, true}, {"num_flows", source.Sum, true},
		{"num_flows_started", source.Sum, true}, {"num_flows_completed", source.Sum, true},
		{"packets_in", source.Sum, true}, {"packets_out", source.Sum, true},
		{"num_process_names", source.Max, false}, {"num_process_ids", source.Max, false}, {"num_original_source_ips", source.Max, false},
		{"http_requests_allowed_in", source.Sum, true}, {"http_requests_denied_in", source.Sum, false},
		{"tcp_mean_smooth_rtt", source.Avg, false}, {"tcp_max_smooth_rtt", source.Max, false},
		{"tcp_total_retransmissions", source.Sum, false}, {"tcp_lost_packets", source.Sum, false},
	}
	dnsNumericFields = []numericField{
		{"count", source.Sum, true}, {"latency_count", source.Sum, true}, {"latency_mean", source.Avg, false}, {"latency_max", source.Max, false},
	}
	l7NumericFields = []numericField{
		{"duration_mean", source.Avg, false}, {"duration_max", source.Max, false}, {"bytes_in", source.Sum, true}, {"bytes_out", source.Sum, true}, {"count", source.Sum, true},
	}
)

// baselineSpec is what one baseline detector registers: its log, entity
// and the settings that carry Calico's names.
type baselineSpec struct {
	log      calicolog.LogType
	groupBy  []string
	filters  []source.Term
	entity   func(cluster string, key []string) (Entity, bool)
	evidence func(key []string) []source.Term
	known    []numericField
	// threshold turns the detector's sensitivity setting into a deviation.
	threshold func(setting float64) float64
	// setting is the Param key of the sensitivity or threshold.
	setting string
}

func newFieldBaselines(name string, spec baselineSpec, o Options) (Detector, error) {
	info, _ := Lookup(name)
	metrics, volumes, err := fieldList(info, o, "fields", spec.known)
	if err != nil {
		return nil, err
	}
	levelShift, err := levelShiftAfter(info, o)
	if err != nil {
		return nil, err
	}
	setting, err := o.Float(info, spec.setting)
	if err != nil {
		return nil, err
	}
	minRows, err := minSizeForTrain(info, o)
	if err != nil {
		return nil, err
	}
	records := -1
	for _, m := range metrics {
		if m.Kind == source.Avg {
			metrics = append(metrics, source.Metric{Name: recordsMetric, Kind: source.Count})
			records = len(metrics) - 1
			break
		}
	}
	volume := make([]bool, len(metrics))
	for i, m := range metrics {
		volume[i] = volumes[m.Name]
	}
	d := &fieldBaselines{
		name: name, cluster: o.Cluster, log: spec.log, groupBy: spec.groupBy, filters: spec.filters,
		metrics: metrics, entity: spec.entity, evidence: spec.evidence, volume: volume,
		zThreshold: spec.threshold(setting), records: records, minRows: minRows, levelShift: levelShift,
	}
	if err := d.init(o, levelShift); err != nil {
		return nil, err
	}
	return d, nil
}

// levelShiftParam is the setting of every baseline detector that says how
// long a new level must hold before it becomes the baseline.
var levelShiftParam = Param{Key: "level_shift_hours", Default: "6",
	Help: "hours a field must stay away from its baseline on one side (past half the threshold, brief returns allowed) before its new level becomes the baseline (alerting once); 0 never"}

// levelShiftAfter reads levelShiftParam.
func levelShiftAfter(info Info, o Options) (time.Duration, error) {
	h, err := o.Float(info, levelShiftParam.Key)
	if err != nil {
		return 0, err
	}
	if h < 0 || h > 24*7 {
		return 0, fmt.Errorf("detector %s: %s=%v must be between 0 and 168 hours", info.Name, levelShiftParam.Key, h)
	}
	return time.Duration(h * float64(time.Hour)), nil
}

// defaultMinSizeForTrain is the rows a baseline detector learns before it
// is ready when Calico documented no minimum for it: Calico's bytes models'
// default. Each entity's hour is judged only once two past days cover it.
const defaultMinSizeForTrain = "1000"

func fieldNames(fields []numericField, n int) string {
	names := make([]string, 0, n)
	for _, f := range fields[:n] {
		names = append(names, f.name)
	}
	return strings.Join(names, ",")
}

// normalBand is the half-width, in learned spreads, of the band a
// time_series detector considers normal; Calico's anomaly value is how far
// beyond it a value lies.
const normalBand = 3

// anomalyValueZ maps Calico's AD_TIME_SERIES_*_ANOMALY_VALUE_THRESHOLD
// (higher means fewer alerts) to a deviation: the value must lie that many
// spreads beyond the normal band of ±3 spreads (6 → 9 spreads).
func anomalyValueZ(threshold float64) float64 { return normalBand + max(threshold, 0) }

// namespaceEntity judges a namespace as a whole: Workload "*", Type
// "namespace".
func namespaceEntity(cluster string, key []string) (Entity, bool) {
	if len(key) != 1 || key[0] == "" {
		return Entity{}, false
	}
	return Entity{Cluster: cluster, Namespace: key[0], Workload: "*", Type: "namespace"}, true
}

func namespaceEvidence(field string, filters ...source.Term) func(key []string) []source.Term {
	return func(key []string) []source.Term {
		return append(append([]source.Term(nil), filters...), source.Term{Field: field, Values: []string{key[0]}})
	}
}
