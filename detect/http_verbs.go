package detect

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func init() {
	Register(Info{
		Name:           "http_verbs",
		Family:         Security,
		Logs:           []string{"l7"},
		DefaultEnabled: true,
		Help:           "HTTP methods a service rarely or never answers (HEAD, CONNECT, OPTIONS, TRACE, …), scored against the service's learned method distribution",
		Params: []Param{
			{Key: "threshold", Env: "AD_HTTP_VERBS_THRESHOLD", Default: "0.99", Help: "score (0-1) at or above which a method is rare enough to alert; higher means fewer alerts"},
			{Key: "events_per_day", Env: "AD_HTTP_VERBS_EVENTS_PER_DAY_THRESHOLD", Default: "1", Help: "most alerts per service per day, on average"},
		},
		Scope: NamespaceScope,
		New:   newHTTPVerbs,
	})
}

// httpMethods are the categories a service's methods are learned in: the
// standard methods, and "other" for anything else (a method is
// attacker-controlled text, so unknown ones share one category and memory
// stays bounded).
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "other"}

const (
	// verbsHalfLife is how fast a service's learned methods forget.
	verbsHalfLife = 7 * 24 * time.Hour
	// verbsSmoothing is the additive (Laplace) smoothing: every category
	// counts that many requests more than it was seen.
	verbsSmoothing = 1
	// verbsMinRequests is the requests a service must have been learned on
	// before it is judged: a new service's first windows teach it little.
	verbsMinRequests = 500
)

// methodCategory maps a logged method onto its category index.
func methodCategory(m string) int {
	m = strings.ToUpper(strings.TrimSpace(m))
	for i, c := range httpMethods[:len(httpMethods)-1] {
		if m == c {
			return i
		}
	}
	return len(httpMethods) - 1
}

// httpVerbs scores the methods a service answered in a window by how rare
// each is for the service, with additive (Laplace) smoothing on what it
// learned: with c_m the service's decayed count of requests of method m
// (half-life a week), N their sum, K the ten categories (nine standard
// methods and "other"), w_m the decayed number of windows in which the
// service answered m and W its windows,
//
//	share(m)    = (c_m + 1) / (N + K)
//	presence(m) = (w_m + 1) / (W + 2)
//	score(m)    = 1 - max(share(m), presence(m))
//
// A method is rare when it is both a small share of the requests and
// seldom answered at all: a PATCH making 0.8% of requests but answered in
// most windows is routine, an OPTIONS never seen scores 1 - 1/(W+2). A
// service therefore needs about a hundred windows of history before any
// method reaches Calico's default threshold 0.99. The verdict takes the
// window's rarest method. Every window is learned (a method the service
// starts to answer routinely stops being rare); alerts per service are
// limited by AD_HTTP_VERBS_EVENTS_PER_DAY_THRESHOLD.
type httpVerbs struct {
	cluster   string
	threshold float64
	rows      int
	services  serviceHistories[methodHistory]
	limiter   *eventsPerDay
	forget    forgetter
	ready     bool                               // some service has verbsMinRequests requests learned
	cols      entityFieldColumns                 // of the query: the service and the method
	text      text                               // scratch for summaries
	windows   windowGroups[Entity, methodWindow] // scratch of group
}

// methodHistory is one service's decayed requests per method category.
type methodHistory struct {
	Counts  [10]float64 `json:"counts"`  // requests, by httpMethods
	Present [10]float64 `json:"present"` // windows with the method
	Windows float64     `json:"windows"`
	Seen    float64     `json:"seen"` // requests learned, not decayed
	At      time.Time   `json:"at"`
}

func newHTTPVerbs(o Options) (Detector, error) {
	t, l, err := limitedSettings("http_verbs", o)
	if err != nil {
		return nil, err
	}
	d := &httpVerbs{cluster: o.Cluster, threshold: t, services: serviceHistories[methodHistory]{}, limiter: l}
	d.cols = entityFieldColumnsOf(d.Queries()[0], "dest", "method")
	return d, nil
}

func (d *httpVerbs) Name() string       { return "http_verbs" }
func (d *httpVerbs) Threshold() float64 { return d.threshold }

// Ready reports whether some service has been learned on enough requests
// to be judged.
func (d *httpVerbs) Ready() bool { return d.ready }

func (d *httpVerbs) Queries() []source.Query {
	return []source.Query{{
		Name:    "http_verbs",
		Log:     calicolog.L7,
		GroupBy: append(append([]string(nil), baselineL7Key...), "method"),
		Metrics: []source.Metric{{Name: "requests", Kind: source.Sum, Field: "count"}},
	}}
}

// methodWindow is one service's requests per method category in a window.
type methodWindow struct {
	entity Entity
	key    []string
	counts [10]float64
	// logged is a method as logged for each category seen (the first),
	// for the summary and evidence.
	logged [10]string
}

func (d *httpVerbs) group(rows [][]source.Row) []*methodWindow {
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
		method := r.Key[cols.field]
		if m := strings.TrimSpace(method); !ok || m == "" || m == calicolog.Aggregated {
			continue // not an HTTP request (an L7 log of type tcp has no method)
		}
		mw, fresh := d.windows.get(e)
		if fresh {
			*mw = methodWindow{entity: e, key: cols.entity.key(r)}
		}
		c := methodCategory(method)
		mw.counts[c] += r.Values[0]
		if mw.logged[c] == "" {
			mw.logged[c] = method
		}
	}
	return d.windows.sorted(func(a, b *methodWindow) int { return entityCompare(a.entity, b.entity) })
}

func (h *methodHistory) decay(at time.Time) {
	if at.After(h.At) {
		f := math.Exp2(-at.Sub(h.At).Hours() / verbsHalfLife.Hours())
		for i := range h.Counts {
			h.Counts[i] *= f
			h.Present[i] *= f
		}
		h.Windows *= f
		h.At = at
	}
}

func (h *methodHistory) total() float64 {
	var n float64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// probability is how usual category c is: the larger of its smoothed
// share of requests and of windows.
func (h *methodHistory) probability(c int) float64 {
	share := (h.Counts[c] + verbsSmoothing) / (h.total() + verbsSmoothing*float64(len(httpMethods)))
	presence := (h.Present[c] + verbsSmoothing) / (h.Windows + 2*verbsSmoothing)
	return max(share, presence)
}

func (d *httpVerbs) learn(w source.Window, mw *methodWindow) {
	h := d.services[mw.entity]
	if h == nil {
		h = &methodHistory{At: w.End}
		d.services[mw.entity] = h
	}
	h.decay(w.End)
	for i, c := range mw.counts {
		h.Counts[i] += c
		h.Seen += c
		if c > 0 {
			h.Present[i]++
		}
	}
	h.Windows++
	d.rows++
	d.ready = d.ready || h.Seen >= verbsMinRequests
}

// Learn adds each service's methods of window w to its distribution.
func (d *httpVerbs) Learn(w source.Window, rows [][]source.Row) {
	d.sweep(w)
	for _, mw := range d.group(rows) {
		d.learn(w, mw)
	}
}

// Judge scores every service with enough history by its rarest method,
// limits its alerts, then learns the window.
func (d *httpVerbs) Judge(w source.Window, rows [][]source.Row) []Verdict {
	d.sweep(w)
	windows := d.group(rows)
	out := make([]Verdict, 0, len(windows))
	for _, mw := range windows {
		h := d.services[mw.entity]
		if h == nil || h.Seen < verbsMinRequests {
			d.learn(w, mw)
			continue
		}
		h.decay(w.End)
		rarest, p := -1, 2.0
		var total float64
		for c, n := range mw.counts {
			total += n
			if n > 0 {
				if q := h.probability(c); q < p {
					rarest, p = c, q
				}
			}
		}
		e := mw.entity
		method := mw.logged[rarest]
		v := Verdict{
			Detector: d.Name(), Entity: e, Window: w,
			Score: 1 - p, Threshold: d.threshold,
			Observed: mw.counts[rarest], Expected: p * total,
		}
		v.Summary = d.summary(e, mw, h, method, v.Observed, p, v.Score)
		if v.Anomalous() {
			var methods []string
			for c, n := range mw.counts {
				if n > 0 && 1-h.probability(c) >= d.threshold {
					methods = append(methods, mw.logged[c])
				}
			}
			filters := append(l7DestEvidence(mw.key), source.Term{Field: "method", Values: methods})
			v.EvidenceQuery = []EvidenceQuery{{Log: string(calicolog.L7), Filters: filters, Limit: 5}}
			v = d.limiter.limit(v)
		}
		d.learn(w, mw)
		out = append(out, v)
	}
	return out
}

// summary is "<workload> in namespace <ns> answered <n> <method> requests,
// a method making <p>% of its learned requests or windows at most (score
// <s>, alert at <threshold>)", then the window's rare methods with their
// requests when there are several.
func (d *httpVerbs) summary(e Entity, mw *methodWindow, h *methodHistory, method string, observed, p, score float64) string {
	t := d.text.reset().str(e.Workload).str(" in namespace ").str(e.Namespace).str(" answered ").fixed(observed, 0).
		str(" ").str(truncateMethod(method)).str(" requests, a method making ").fixed(100*p, 3).
		str("% of its learned requests or windows at most (score ").fixed(score, 4).str(", alert at ").
		general(d.threshold, 3).str(")")
	rare := 0
	for c, n := range mw.counts {
		if n > 0 && 1-h.probability(c) >= d.threshold {
			rare++
		}
	}
	if rare > 1 {
		t.str("; rare methods this window: ")
		k := 0
		for c, n := range mw.counts {
			if n > 0 && 1-h.probability(c) >= d.threshold {
				if k > 0 {
					t.str(", ")
				}
				t.str(truncateMethod(mw.logged[c])).str("×").fixed(n, 0)
				k++
			}
		}
	}
	return t.String()
}

// truncateMethod shortens a logged method for a summary: it is text the
// client chose.
func truncateMethod(m string) string {
	if len(m) > 16 {
		return fmt.Sprintf("%q…", m[:16])
	}
	if m == "" {
		return `""`
	}
	return m
}

// sweep forgets the services not seen for forgetAfter.
func (d *httpVerbs) sweep(w source.Window) {
	if cut, ok := d.forget.due(w.End); ok {
		d.services.sweep(cut, func(h *methodHistory) time.Time { return h.At })
	}
}

// SaveModel writes the services' method distributions and the limiter.
func (d *httpVerbs) SaveModel(w io.Writer) error {
	return d.services.save(w, d.Name(), d.rows, d.limiter)
}

// LoadModel replaces the distributions and the limiter with saved ones; on
// error the model is unchanged.
func (d *httpVerbs) LoadModel(r io.Reader) error {
	services, l, rows, err := loadServiceHistories(r, d.Name(), d.limiter.rate, func(h *methodHistory) error {
		for i, c := range h.Counts {
			if c < 0 || h.Present[i] < 0 || h.Present[i] > h.Windows*(1+1e-9) {
				return errors.New("has a negative count")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	ready := false
	for _, h := range services {
		ready = ready || h.Seen >= verbsMinRequests
	}
	d.services, d.rows, d.limiter, d.ready = services, rows, l, ready
	return nil
}

var _ EntityBounded = (*httpVerbs)(nil)

// LiveEntities is the services with a learned history.
func (d *httpVerbs) LiveEntities() int { return len(d.services) }

// ForgetLeastRecent drops the histories of the services seen least
// recently until keep remain.
func (d *httpVerbs) ForgetLeastRecent(keep int) int {
	return d.services.forgetLeastRecent(keep, func(h *methodHistory) time.Time { return h.At }, d.limiter)
}
