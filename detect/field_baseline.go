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
// its most anomalous field. Judge learns the window afterwards, except for
// anomalous entities, so an attack does not become the baseline.
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
	minRows    int     // rows learned before the model is ready
	rows       int     // rows learned so far
	model      *model.Seasonal
	keys       keyCache
	text       text // scratch for summaries
	// records is the index in metrics of the hidden count of records
	// (recordsMetric) when a field is a mean, else -1.
	records int
}

// numericField is a field a baseline detector can follow and how a
// window's records of one entity combine into one value.
type numericField struct {
	name string
	kind source.MetricKind
}

// fieldList turns a comma list such as Calico's AD_GENERIC_FLOWS_FIELDS
// into metrics, refusing fields the log does not have.
func fieldList(info Info, o Options, key string, known []numericField) ([]source.Metric, error) {
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
			return nil, fmt.Errorf("detector %s: %s names unknown field %q (known: %s)", info.Name, envOrKey(info, key), f, strings.Join(names, ","))
		}
		seen[f] = true
		out = append(out, source.Metric{Name: f, Kind: found.kind, Field: f})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("detector %s: %s lists no fields", info.Name, envOrKey(info, key))
	}
	return out, nil
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
func (d *fieldBaselines) fewerRecords(key string, t time.Time, n float64) float64 {
	usual, _, ok := d.model.Expect(key, t)
	if !ok || !(n+0.5 <= usual) {
		return 1
	}
	return math.Sqrt(usual / max(n, 1))
}

// seasonalMinSamples is how many observations one key needs (besides two
// days covering the hour) before its baseline answers.
const seasonalMinSamples = 12

func (d *fieldBaselines) init(o Options) {
	d.model = model.NewSeasonal(model.SeasonalConfig{Bucket: o.Bucket, MinSamples: seasonalMinSamples, LogScale: true})
	d.keys = keyCache{}
}

func (d *fieldBaselines) Name() string       { return d.name }
func (d *fieldBaselines) Threshold() float64 { return scoreThreshold }
func (d *fieldBaselines) Ready() bool        { return d.rows >= d.minRows }

func (d *fieldBaselines) Queries() []source.Query {
	return []source.Query{{Name: d.name, Log: d.log, GroupBy: d.groupBy, Filters: d.filters, Metrics: d.metrics}}
}

// Learn adds every entity's fields of window w to the baselines.
func (d *fieldBaselines) Learn(w source.Window, rows [][]source.Row) {
	if len(rows) == 0 {
		return
	}
	for _, r := range rows[0] {
		if e, ok := d.entity(d.cluster, r.Key); ok && len(r.Values) == len(d.metrics) {
			d.learnRow(w, d.keys.fields(e, d.metrics), r)
		}
	}
}

// learnRow adds a row's fields to the baselines of keys, the entity's
// model keys (keyCache.fields).
func (d *fieldBaselines) learnRow(w source.Window, keys []string, r source.Row) {
	for i, v := range r.Values {
		d.model.Observe(keys[i], w.Start, v)
	}
	d.rows++
}

// Judge scores every entity with a baseline for the window's hour, then
// learns the window's normal entities.
func (d *fieldBaselines) Judge(w source.Window, rows [][]source.Row) []Verdict {
	if len(rows) == 0 {
		return nil
	}
	out := make([]Verdict, 0, len(rows[0]))
	for _, r := range rows[0] {
		e, ok := d.entity(d.cluster, r.Key)
		if !ok || len(r.Values) != len(d.metrics) {
			continue
		}
		keys := d.keys.fields(e, d.metrics)
		worst, worstZ, expected, judged := -1, math.Inf(-1), 0.0, false
		noisier := 0.0 // fewerRecords of the row, once a mean needs it
		for i, v := range r.Values {
			if i == d.records {
				continue
			}
			z, exp, ok := d.model.Deviation(keys[i], w.Start, v)
			if !ok {
				continue
			}
			if d.metrics[i].Kind == source.Avg && d.records >= 0 {
				if noisier == 0 {
					noisier = d.fewerRecords(keys[d.records], w.Start, r.Values[d.records])
				}
				z /= noisier
			}
			judged = true
			if z > worstZ {
				worst, worstZ, expected = i, z, exp
			}
		}
		if !judged {
			d.learnRow(w, keys, r)
			continue
		}
		v := Verdict{
			Detector:  d.name,
			Entity:    e,
			Window:    w,
			Score:     model.Score(worstZ, d.zThreshold),
			Threshold: scoreThreshold,
			Observed:  r.Values[worst],
			Expected:  expected,
		}
		v.Summary = baselineSummary(&d.text, e, d.metrics[worst].Name, v.Observed, expected, worstZ, d.zThreshold)
		if d.metrics[worst].Kind == source.Avg && noisier > 1 {
			// d.text still holds the summary: the note goes after it.
			n := max(r.Values[d.records], 1)
			v.Summary = d.text.str("; a mean of ").fixed(n, 0).str(" records where ").general(n*noisier*noisier, 3).
				str(" are usual, its spread widened ").fixed(noisier, 2).str(" times").String()
		}
		if v.Anomalous() {
			v.EvidenceQuery = []EvidenceQuery{{Log: string(d.log), Filters: d.evidence(r.Key), Limit: 5}}
		} else {
			d.learnRow(w, keys, r)
		}
		out = append(out, v)
	}
	return out
}

// baselineSummary is "<workload> in namespace <ns>: <field> <observed>
// where <expected> is usual at this hour (<z> spreads, alert at <zAlert>)".
func baselineSummary(t *text, e Entity, field string, observed, expected, z, zAlert float64) string {
	return t.reset().str(e.Workload).str(" in namespace ").str(e.Namespace).str(": ").str(field).str(" ").
		general(observed, 4).str(" where ").general(expected, 4).str(" is usual at this hour (").
		plusFixed(z, 1).str(" spreads, alert at ").fixed(zAlert, 1).str(")").String()
}

// keyCache holds the model keys of each entity's fields, so judging a
// window does not build strings for entities seen before.
type keyCache map[Entity][]string

func (c keyCache) fields(e Entity, metrics []source.Metric) []string {
	if k, ok := c[e]; ok {
		return k
	}
	base := e.ModelKey()
	k := make([]string, len(metrics))
	for i, m := range metrics {
		k[i] = base + "|" + m.Name
	}
	c[e] = k
	return k
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
	m := model.NewSeasonal(d.model.Config())
	if err := m.UnmarshalBinary(parts[0]); err != nil {
		return fmt.Errorf("%s model: %w", d.name, err)
	}
	d.model, d.rows, d.keys = m, rows, keyCache{}
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
		{"bytes_in", source.Sum}, {"bytes_out", source.Sum}, {"num_flows", source.Sum},
		{"num_flows_started", source.Sum}, {"num_flows_completed", source.Sum},
		{"packets_in", source.Sum}, {"packets_out", source.Sum},
		{"num_process_names", source.Max}, {"num_process_ids", source.Max}, {"num_original_source_ips", source.Max},
		{"http_requests_allowed_in", source.Sum}, {"http_requests_denied_in", source.Sum},
		{"tcp_mean_smooth_rtt", source.Avg}, {"tcp_max_smooth_rtt", source.Max},
		{"tcp_total_retransmissions", source.Sum}, {"tcp_lost_packets", source.Sum},
	}
	dnsNumericFields = []numericField{
		{"count", source.Sum}, {"latency_count", source.Sum}, {"latency_mean", source.Avg}, {"latency_max", source.Max},
	}
	l7NumericFields = []numericField{
		{"duration_mean", source.Avg}, {"duration_max", source.Max}, {"bytes_in", source.Sum}, {"bytes_out", source.Sum}, {"count", source.Sum},
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
	metrics, err := fieldList(info, o, "fields", spec.known)
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
	d := &fieldBaselines{
		name: name, cluster: o.Cluster, log: spec.log, groupBy: spec.groupBy, filters: spec.filters,
		metrics: metrics, entity: spec.entity, evidence: spec.evidence,
		zThreshold: spec.threshold(setting), records: records, minRows: minRows,
	}
	d.init(o)
	return d, nil
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
