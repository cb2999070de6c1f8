package detect

import (
	"fmt"
	"io"
	"math"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/model"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func init() {
	Register(Info{
		Name:   "http_connection_spike",
		Family: Security,
		Mitre: &Mitre{AttackVector: "network", Tactic: "impact", IDs: []string{"T1498", "T1499"},
			Mitigations: []string{"rate-limit the service", "check who sends the requests"}},
		Logs:           []string{"l7"},
		Unit:           UnitRequests,
		DefaultEnabled: true,
		Help:           "inbound HTTP requests per destination service against that service's own hour-of-day and hour-of-week history",
		Params: []Param{
			{Key: "sensitivity", Env: "AD_HTTP_CONNECTION_SPIKE_SENSITIVITY", Default: "20", Help: "0-100, higher means more alerts"},
		},
		Scope: NamespaceScope,
		New:   newHTTPConnectionSpike,
	})
}

// readyFlag is the saved form of whether a seasonal detector has a
// baseline to judge with.
func readyFlag(ready bool) []byte {
	if ready {
		return []byte{1}
	}
	return []byte{0}
}

// requestsSpreadFloor is the smallest spread of the logarithm of a
// service's requests: twice the counting noise 1/√(1+expected), since
// requests arrive several per kept-alive connection and so vary about
// twice as much as independent events would, and at least 0.05.
func requestsSpreadFloor(expected float64) float64 {
	return max(0.05, 2/math.Sqrt(1+max(expected, 0)))
}

// httpConnectionSpike judges the HTTP requests a service answers in a
// window (the sum of the L7 logs' count, grouped by destination workload)
// against what that service usually answers at this hour of the day and of
// the week: a seasonal baseline learned on the logarithm, so the daily
// curve and the service's own size are both learned, and the spread is
// never below twice the counting noise (requestsSpreadFloor). Only rises alert (a flood, an
// application-layer denial of service, a scraper); a service judged
// anomalous is not learned, so the flood does not become its baseline.
type httpConnectionSpike struct {
	cluster    string
	zThreshold float64
	rows       int
	// baselined is set once some service's baseline answers: two days of
	// its history cover the hour. Until then the detector is not ready.
	baselined bool
	model     *model.Seasonal
	keys      map[Entity]string
	seen      entityClock // when each service was last seen
	forget    forgetter
	text      text // scratch for summaries
}

func newHTTPConnectionSpike(o Options) (Detector, error) {
	info, _ := Lookup("http_connection_spike")
	s, err := o.Float(info, "sensitivity")
	if err != nil {
		return nil, err
	}
	if s < 0 || s > 100 {
		return nil, fmt.Errorf("detector http_connection_spike: AD_HTTP_CONNECTION_SPIKE_SENSITIVITY=%v is not within 0-100", s)
	}
	return &httpConnectionSpike{
		cluster:    o.Cluster,
		zThreshold: model.SensitivityZ(s),
		model:      model.NewSeasonal(model.SeasonalConfig{Bucket: o.Bucket, Sensitivity: s, MinSamples: seasonalMinSamples, LogScale: true}),
		keys:       map[Entity]string{},
		seen:       entityClock{},
	}, nil
}

func (d *httpConnectionSpike) Name() string       { return "http_connection_spike" }
func (d *httpConnectionSpike) Threshold() float64 { return scoreThreshold }
func (d *httpConnectionSpike) Ready() bool        { return d.baselined }

func (d *httpConnectionSpike) Queries() []source.Query {
	return []source.Query{{
		Name:    "http_connection_spike",
		Log:     calicolog.L7,
		GroupBy: baselineL7Key,
		Metrics: []source.Metric{{Name: "requests", Kind: source.Sum, Field: "count"}},
	}}
}

// sweep forgets the services not seen for forgetAfter.
func (d *httpConnectionSpike) sweep(w source.Window) {
	if cut, ok := d.forget.due(w.End); ok && d.model.Prune(cut) > 0 {
		d.keys = map[Entity]string{}
		for e, at := range d.seen {
			if at < cut.Unix() {
				delete(d.seen, e)
			}
		}
	}
}

func (d *httpConnectionSpike) key(e Entity) string {
	k, ok := d.keys[e]
	if !ok {
		k = e.ModelKey() + "|requests"
		d.keys[e] = k
	}
	return k
}

// Learn adds each service's requests of window w to its baseline.
func (d *httpConnectionSpike) Learn(w source.Window, rows [][]source.Row) {
	if len(rows) == 0 {
		return
	}
	d.sweep(w)
	for _, r := range rows[0] {
		if e, ok := l7DestEntity(d.cluster, r.Key); ok && len(r.Values) == 1 {
			d.seen.see(e, w.End)
			d.model.Observe(d.key(e), w.Start, r.Values[0])
			d.rows++
			if !d.baselined {
				_, _, d.baselined = d.model.Expect(d.key(e), w.End)
			}
		}
	}
}

// Judge scores every service with a baseline for the window's hour, then
// learns the services that are not anomalous.
func (d *httpConnectionSpike) Judge(w source.Window, rows [][]source.Row) []Verdict {
	if len(rows) == 0 {
		return nil
	}
	d.sweep(w)
	out := make([]Verdict, 0, len(rows[0]))
	for _, r := range rows[0] {
		e, ok := l7DestEntity(d.cluster, r.Key)
		if !ok || len(r.Values) != 1 {
			continue
		}
		n := r.Values[0]
		d.seen.see(e, w.End)
		key := d.key(e)
		z, expected, ok := logDeviation(d.model, key, w.Start, n, requestsSpreadFloor)
		if !ok {
			d.model.Observe(key, w.Start, n)
			d.rows++
			continue
		}
		d.baselined = true
		v := Verdict{
			Detector: d.Name(), Entity: e, Window: w,
			Score: model.Score(z, d.zThreshold), Threshold: scoreThreshold,
			Observed: n, Expected: expected,
		}
		v.Summary = requestsSummary(&d.text, e, n, expected, z, d.zThreshold)
		if v.Anomalous() {
			v.EvidenceQuery = []EvidenceQuery{{Log: string(calicolog.L7), Filters: l7DestEvidence(r.Key), Limit: 5}}
		} else {
			d.model.Observe(key, w.Start, n)
			d.rows++
		}
		out = append(out, v)
	}
	return out
}

// requestsSummary is "<workload> in namespace <ns> answered <n> HTTP
// requests where <m> is usual at this hour (<z> spreads, alert at <zAlert>)".
func requestsSummary(t *text, e Entity, n, expected, z, zAlert float64) string {
	return t.reset().str(e.Workload).str(" in namespace ").str(e.Namespace).str(" answered ").fixed(n, 0).
		str(" HTTP requests where ").fixed(expected, 0).str(" is usual at this hour (").plusFixed(z, 1).
		str(" spreads, alert at ").fixed(zAlert, 1).str(")").String()
}

// SaveModel writes the services' baselines.
func (d *httpConnectionSpike) SaveModel(w io.Writer) error {
	m, err := d.model.MarshalBinary()
	if err != nil {
		return err
	}
	return writeModelFile(w, d.Name(), d.rows, m, readyFlag(d.baselined))
}

// LoadModel replaces the baselines with saved ones; on error the model is
// unchanged.
func (d *httpConnectionSpike) LoadModel(r io.Reader) error {
	rows, parts, err := readModelFile(r, d.Name(), 2)
	if err != nil {
		return err
	}
	m := model.NewSeasonal(d.model.Config())
	if err := m.UnmarshalBinary(parts[0]); err != nil {
		return fmt.Errorf("%s model: %w", d.Name(), err)
	}
	if len(parts[1]) != 1 || parts[1][0] > 1 {
		return fmt.Errorf("%s model: bad readiness flag: %w", d.Name(), errModelFile)
	}
	d.model, d.rows, d.keys, d.baselined = m, rows, map[Entity]string{}, parts[1][0] == 1
	d.seen = entityClock{}
	return nil
}

var _ EntityBounded = (*httpConnectionSpike)(nil)

// LiveEntities is the services seen since the start or the last sweep.
func (d *httpConnectionSpike) LiveEntities() int { return len(d.seen) }

// ForgetLeastRecent drops the baselines of the services seen least
// recently until keep remain.
func (d *httpConnectionSpike) ForgetLeastRecent(keep int) int {
	gone := d.seen.forget(keep)
	live := sharedModelKeys(d.seen)
	for _, e := range gone {
		if !live[e.ModelKey()] {
			d.model.Forget(e.ModelKey() + "|requests")
		}
		delete(d.keys, e)
	}
	return len(gone)
}
