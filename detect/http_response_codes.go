package detect

import (
	"errors"
	"io"
	"math"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func init() {
	Register(Info{
		Name:           "http_response_codes",
		Family:         Security,
		Logs:           []string{"l7"},
		DefaultEnabled: true,
		Help:           "the share of HTTP requests a service answers 4xx or 5xx against its own history, smoothed so a handful of requests cannot alert",
		Params: []Param{
			{Key: "threshold", Env: "AD_HTTP_RESPONSE_CODES_THRESHOLD", Default: "0.5", Help: "score (0-1) at or above which a service alerts; higher means fewer alerts"},
			{Key: "events_per_day", Env: "AD_HTTP_RESPONSE_CODES_EVENTS_PER_DAY_THRESHOLD", Default: "0.3", Help: "most alerts per service per day, on average"},
		},
		Scope: NamespaceScope,
		New:   newHTTPResponseCodes,
	})
}

const (
	// codesHalfLife is how fast a service's learned error shares forget:
	// a week's requests weigh half as much as today's.
	codesHalfLife = 7 * 24 * time.Hour
	// codesPriorShare and codesPriorRequests are the prior of every
	// service's error share of each class, worth that many requests: a
	// service with little history is expected to fail 2% of requests.
	codesPriorShare    = 0.02
	codesPriorRequests = 200
	// codesWindowPseudo is the smoothing of a window's share: the window
	// counts that many extra requests at the service's usual share, so a
	// window of three requests that all fail scores low.
	codesWindowPseudo = 50
	// codesMinRequests is the requests a service must have been learned
	// on before it is judged.
	codesMinRequests = 500
)

// httpResponseCodes judges the share of a service's requests in a window
// answered with a client error (4xx) and, separately, with a server error
// (5xx), against the share the service usually shows. The service's
// usual share of each class is learned from the requests of its normal
// windows, decayed with a half-life of a week, from a prior of 2% worth
// 200 requests. The window's share is smoothed towards the usual share by
// 50 requests, and the score of a class is how far the smoothed share has
// moved from the usual share towards 100%:
//
//	score = (p_window - p_usual) / (1 - p_usual)
//
// so Calico's default threshold 0.5 alerts when a service fails more than
// half of what it usually answers well. The verdict takes the worse class.
// Alerts per service are limited by AD_HTTP_RESPONSE_CODES_EVENTS_PER_DAY_THRESHOLD.
type httpResponseCodes struct {
	cluster   string
	threshold float64
	rows      int
	services  serviceHistories[codeHistory]
	limiter   *eventsPerDay
	forget    forgetter
	ready     bool                             // some service has codesMinRequests requests learned
	cols      entityFieldColumns               // of the query: the service and the response code
	text      text                             // scratch for summaries
	windows   windowGroups[Entity, codeWindow] // scratch of group
}

// codeHistory is one service's decayed request counts.
type codeHistory struct {
	Requests float64   `json:"requests"`
	Errors4  float64   `json:"errors_4xx"`
	Errors5  float64   `json:"errors_5xx"`
	Seen     float64   `json:"seen"` // requests learned, not decayed
	At       time.Time `json:"at"`
}

func newHTTPResponseCodes(o Options) (Detector, error) {
	t, l, err := limitedSettings("http_response_codes", o)
	if err != nil {
		return nil, err
	}
	d := &httpResponseCodes{cluster: o.Cluster, threshold: t, services: serviceHistories[codeHistory]{}, limiter: l}
	d.cols = entityFieldColumnsOf(d.Queries()[0], "dest", "response_code")
	return d, nil
}

func (d *httpResponseCodes) Name() string       { return "http_response_codes" }
func (d *httpResponseCodes) Threshold() float64 { return d.threshold }

// Ready reports whether some service has been learned on enough requests
// to be judged.
func (d *httpResponseCodes) Ready() bool { return d.ready }

func (d *httpResponseCodes) Queries() []source.Query {
	return []source.Query{{
		Name:    "http_response_codes",
		Log:     calicolog.L7,
		GroupBy: append(append([]string(nil), baselineL7Key...), "response_code"),
		Metrics: []source.Metric{{Name: "requests", Kind: source.Sum, Field: "count"}},
	}}
}

// codeWindow is one service's requests in a window.
type codeWindow struct {
	entity           Entity
	key              []string
	requests         float64
	errors4, errors5 float64
	codes4, codes5   []string
}

// group sums the window's rows per service, in a stable order.
func (d *httpResponseCodes) group(rows [][]source.Row) []*codeWindow {
	if len(rows) == 0 {
		return nil
	}
	d.windows.reset()
	cols := d.cols
	for _, r := range rows[0] {
		if !cols.fits(r) || len(r.Values) != 1 || !(r.Values[0] > 0) {
			continue
		}
		e, ok := l7DestEntity(d.cluster, cols.entity.key(r))
		code := strings.TrimSpace(r.Key[cols.field])
		if !ok || code == "" || code == calicolog.Aggregated {
			continue // not an HTTP response (an L7 log of type tcp has no code)
		}
		cw, fresh := d.windows.get(e)
		if fresh {
			// Not the codes' capacity: evidence queries keep them.
			*cw = codeWindow{entity: e, key: cols.entity.key(r)}
		}
		n := r.Values[0]
		cw.requests += n
		switch {
		case len(code) == 3 && code[0] == '4':
			cw.errors4 += n
			cw.codes4 = append(cw.codes4, code)
		case len(code) == 3 && code[0] == '5':
			cw.errors5 += n
			cw.codes5 = append(cw.codes5, code)
		}
	}
	return d.windows.sorted(func(a, b *codeWindow) int { return entityCompare(a.entity, b.entity) })
}

func (h *codeHistory) decay(at time.Time) {
	if at.After(h.At) {
		f := math.Exp2(-at.Sub(h.At).Hours() / codesHalfLife.Hours())
		h.Requests, h.Errors4, h.Errors5 = h.Requests*f, h.Errors4*f, h.Errors5*f
		h.At = at
	}
}

func (d *httpResponseCodes) learn(w source.Window, cw *codeWindow) {
	h := d.services[cw.entity]
	if h == nil {
		h = &codeHistory{At: w.End}
		d.services[cw.entity] = h
	}
	h.decay(w.End)
	h.Requests += cw.requests
	h.Errors4 += cw.errors4
	h.Errors5 += cw.errors5
	h.Seen += cw.requests
	d.rows++
	d.ready = d.ready || h.Seen >= codesMinRequests
}

// Learn adds each service's requests of window w to its history.
func (d *httpResponseCodes) Learn(w source.Window, rows [][]source.Row) {
	d.sweep(w)
	for _, cw := range d.group(rows) {
		d.learn(w, cw)
	}
}

// usualShare is the service's learned share of errors, from the prior.
func usualShare(errors, requests float64) float64 {
	return (errors + codesPriorShare*codesPriorRequests) / (requests + codesPriorRequests)
}

// codeScore is how far the window's smoothed error share has moved from
// the usual share towards 100%.
func codeScore(errors, requests, usual float64) float64 {
	smoothed := (errors + codesWindowPseudo*usual) / (requests + codesWindowPseudo)
	if usual >= 1 {
		return 0
	}
	return min(1, max(0, (smoothed-usual)/(1-usual)))
}

// Judge scores every service with enough history, limits its alerts, then
// learns the services that are not anomalous.
func (d *httpResponseCodes) Judge(w source.Window, rows [][]source.Row) []Verdict {
	d.sweep(w)
	windows := d.group(rows)
	out := make([]Verdict, 0, len(windows))
	for _, cw := range windows {
		h := d.services[cw.entity]
		if h == nil || h.Seen < codesMinRequests {
			d.learn(w, cw)
			continue
		}
		h.decay(w.End)
		u4, u5 := usualShare(h.Errors4, h.Requests), usualShare(h.Errors5, h.Requests)
		s4, s5 := codeScore(cw.errors4, cw.requests, u4), codeScore(cw.errors5, cw.requests, u5)
		class, errs, usual, score, codes := "5xx", cw.errors5, u5, s5, cw.codes5
		if s4 > s5 {
			class, errs, usual, score, codes = "4xx", cw.errors4, u4, s4, cw.codes4
		}
		e := cw.entity
		v := Verdict{
			Detector: d.Name(), Entity: e, Window: w,
			Score: score, Threshold: d.threshold,
			Observed: errs / cw.requests, Expected: usual,
		}
		v.Summary = codesSummary(&d.text, e, errs, cw.requests, class, v.Observed, usual, score, d.threshold)
		if v.Anomalous() {
			filters := l7DestEvidence(cw.key)
			if len(codes) > 0 {
				filters = append(filters, source.Term{Field: "response_code", Values: codes})
			}
			v.EvidenceQuery = []EvidenceQuery{{Log: string(calicolog.L7), Filters: filters, Limit: 5}}
			v = d.limiter.limit(v)
		} else {
			d.learn(w, cw)
		}
		out = append(out, v)
	}
	return out
}

// codesSummary is "<workload> in namespace <ns> answered <errors> of <n>
// HTTP requests with <class> (<share>%) where <usual>% is usual (score <s>,
// alert at <threshold>)".
func codesSummary(t *text, e Entity, errs, requests float64, class string, share, usual, score, threshold float64) string {
	return t.reset().str(e.Workload).str(" in namespace ").str(e.Namespace).str(" answered ").fixed(errs, 0).
		str(" of ").fixed(requests, 0).str(" HTTP requests with ").str(class).str(" (").fixed(100*share, 1).
		str("%) where ").fixed(100*usual, 2).str("% is usual (score ").fixed(score, 3).str(", alert at ").
		general(threshold, 3).str(")").String()
}

// sweep forgets the services not seen for forgetAfter.
func (d *httpResponseCodes) sweep(w source.Window) {
	if cut, ok := d.forget.due(w.End); ok {
		d.services.sweep(cut, func(h *codeHistory) time.Time { return h.At })
	}
}

// SaveModel writes the services' histories and the alert limiter.
func (d *httpResponseCodes) SaveModel(w io.Writer) error {
	return d.services.save(w, d.Name(), d.rows, d.limiter)
}

// LoadModel replaces the histories and the limiter with saved ones; on
// error the model is unchanged.
func (d *httpResponseCodes) LoadModel(r io.Reader) error {
	services, l, rows, err := loadServiceHistories(r, d.Name(), d.limiter.rate, func(h *codeHistory) error {
		if h.Requests < 0 || h.Errors4 < 0 || h.Errors5 < 0 || h.Errors4+h.Errors5 > h.Requests*(1+1e-9) {
			return errors.New("has inconsistent counts")
		}
		return nil
	})
	if err != nil {
		return err
	}
	ready := false
	for _, h := range services {
		ready = ready || h.Seen >= codesMinRequests
	}
	d.services, d.rows, d.limiter, d.ready = services, rows, l, ready
	return nil
}

var _ EntityBounded = (*httpResponseCodes)(nil)

// LiveEntities is the services with a learned history.
func (d *httpResponseCodes) LiveEntities() int { return len(d.services) }

// ForgetLeastRecent drops the histories of the services seen least
// recently until keep remain.
func (d *httpResponseCodes) ForgetLeastRecent(keep int) int {
	return d.services.forgetLeastRecent(keep, func(h *codeHistory) time.Time { return h.At }, d.limiter)
}
