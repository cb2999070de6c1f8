package simulate

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// HTTPRequests is a client outside the cluster sending HTTP requests to
// one service, spread evenly over [At, At+Duration) and logged by the
// service's L7 collector bucket by bucket (Calico's L7 logs, the client
// aggregated to pub). Its Kind says what it stands for:
//
//   - "http_connection_spike": a flood (an application-layer denial of
//     service, an aggressive scraper), MITRE T1498/T1499, which
//     http_connection_spike must find;
//   - "http_verb_enumeration": a scanner trying methods the service never
//     sees (OPTIONS, TRACE, CONNECT, …), answered 405, which http_verbs
//     must find.
type HTTPRequests struct {
	Kind     string
	At       time.Time
	Duration time.Duration // one bucket when 0
	// Namespace and Workload name the service's deployment.
	Namespace, Workload string
	// Requests is the number of requests over the whole duration.
	Requests int64
	// Methods are tried in turn, one record per method per bucket (GET
	// when empty).
	Methods []string
	Code    string // the response code logged, "200" when empty
	URL     string // "/" when empty
}

// HTTP scenario kinds.
const (
	KindHTTPSpike           = "http_connection_spike"
	KindHTTPVerbEnumeration = "http_verb_enumeration"
)

// Name is the Kind.
func (s HTTPRequests) Name() string { return s.Kind }

// Validate checks the requests have a kind, a time, a service and a count.
func (s HTTPRequests) Validate() error {
	switch {
	case s.Kind != KindHTTPSpike && s.Kind != KindHTTPVerbEnumeration:
		return fmt.Errorf("kind %q is not %s or %s", s.Kind, KindHTTPSpike, KindHTTPVerbEnumeration)
	case s.At.IsZero():
		return errors.New("no time (At)")
	case s.Duration < 0:
		return fmt.Errorf("negative duration %s", s.Duration)
	case s.Namespace == "" || s.Namespace == Outside || s.Workload == "":
		return errors.New("no service (Namespace, Workload)")
	case s.Requests <= 0:
		return fmt.Errorf("requests %d must be positive", s.Requests)
	}
	for _, m := range s.Methods {
		if m == "" || strings.ToUpper(m) != m {
			return fmt.Errorf("method %q is not an upper-case HTTP method", m)
		}
	}
	return nil
}

// detector is the detector that must find the requests.
func (s HTTPRequests) detector() string {
	if s.Kind == KindHTTPVerbEnumeration {
		return "http_verbs"
	}
	return "http_connection_spike"
}

// Apply adds the requests' share that falls in w.
func (s HTTPRequests) Apply(c *Cluster, w source.Window, b *Batch) {
	n := burstShare(c, s.At, s.Duration, s.Requests, w)
	if n <= 0 {
		return
	}
	r := c.Rand(w.Start, fmt.Sprintf("%s|%d|%s/%s", s.Kind, s.At.UnixNano(), s.Namespace, s.Workload))
	pod := c.podOf(s.Namespace, s.Workload)
	wl := pod.Workload
	methods := s.Methods
	if len(methods) == 0 {
		methods = []string{"GET"}
	}
	code, url := s.Code, s.URL
	if code == "" {
		code = "200"
	}
	if url == "" {
		url = "/"
	}
	port := int64(0)
	if len(wl.Ports) > 0 {
		port = int64(wl.Ports[0].Number)
	}
	for i, m := range methods {
		count := share(n, int64(len(methods)), int64(i))
		if count == 0 {
			continue
		}
		end := c.FlushTime(w, pod.Node, r)
		mean := 3e6 * noise(r, 0.2)
		b.L7 = append(b.L7, calicolog.L7Log{
			StartTime: calicolog.EpochSeconds(c.IntervalStart(end, r).Unix()), EndTime: calicolog.EpochSeconds(end.Unix()),
			DurationMeanNanos: int64(mean), DurationMaxNanos: int64(mean * 4),
			BytesIn: count * 180, BytesOut: count * 250, Count: count,
			SrcNameAggr: calicolog.NamePublic, SrcNamespace: calicolog.Aggregated, SrcType: calicolog.TypeNetwork,
			DestNameAggr: wl.NameAggr(), DestNamespace: wl.Namespace, DestType: calicolog.TypeWorkload,
			DestServiceName: wl.Service, DestServiceNamespace: wl.Namespace, DestServicePort: port,
			URL: url, ResponseCode: code, Method: m, UserAgent: "python-requests/2.32.3", Type: "html/1.1",
			Host: pod.Node.Name,
		})
	}
	b.Truth = append(b.Truth, Label{Scenario: s.Kind, Detectors: []string{s.detector()}, Cluster: c.opts.Cluster,
		Namespace: wl.Namespace, Workload: wl.NameAggr(), Type: calicolog.TypeWorkload, Window: w})
}

// burstShare is the part of total, spread evenly over [at, at+d) (one
// bucket when d is 0), that falls in w.
func burstShare(c *Cluster, at time.Time, d time.Duration, total int64, w source.Window) int64 {
	if d <= 0 {
		d = c.Bucket()
	}
	from, to := at, at.Add(d)
	if !from.Before(w.End) || !to.After(w.Start) {
		return 0
	}
	overlap := minTime(to, w.End).Sub(maxTime(from, w.Start))
	return int64(float64(total) * float64(overlap) / float64(d))
}

// HTTPErrorStorm is a service failing most of its requests over [At,
// At+Duration): of the requests its L7 collector logs in those buckets,
// Fraction are answered Code (a 5xx by default: a dependency down, a
// crash under a malicious payload) instead of their usual code.
// http_response_codes must find it.
type HTTPErrorStorm struct {
	At                  time.Time
	Duration            time.Duration // one bucket when 0
	Namespace, Workload string
	Fraction            float64 // 0 < Fraction <= 1
	Code                string  // "503" when empty
}

// Name is "http_5xx_storm", or "http_4xx_storm" for a 4xx Code.
func (s HTTPErrorStorm) Name() string {
	if strings.HasPrefix(s.Code, "4") {
		return "http_4xx_storm"
	}
	return "http_5xx_storm"
}

// Validate checks the storm has a time, a service, a fraction and an error
// code.
func (s HTTPErrorStorm) Validate() error {
	switch {
	case s.At.IsZero():
		return errors.New("no time (At)")
	case s.Duration < 0:
		return fmt.Errorf("negative duration %s", s.Duration)
	case s.Namespace == "" || s.Namespace == Outside || s.Workload == "":
		return errors.New("no service (Namespace, Workload)")
	case !(s.Fraction > 0 && s.Fraction <= 1):
		return fmt.Errorf("fraction %v is not within (0, 1]", s.Fraction)
	case s.Code != "" && (len(s.Code) != 3 || (s.Code[0] != '4' && s.Code[0] != '5')):
		return fmt.Errorf("code %q is not a 4xx or 5xx status", s.Code)
	}
	return nil
}

// Apply rewrites the service's L7 records of the buckets the storm
// covers: each record's requests are split into those answered as usual
// and those failed.
func (s HTTPErrorStorm) Apply(c *Cluster, w source.Window, b *Batch) {
	d := s.Duration
	if d <= 0 {
		d = c.Bucket()
	}
	if !s.At.Before(w.End) || !s.At.Add(d).After(w.Start) {
		return
	}
	wl := c.Workload(s.Namespace, s.Workload)
	if wl == nil {
		return
	}
	code := s.Code
	if code == "" {
		code = "503"
	}
	aggr := wl.NameAggr()
	n := len(b.L7)
	for i := range n {
		l := &b.L7[i]
		if l.DestNamespace != wl.Namespace || l.DestNameAggr != aggr || !strings.HasPrefix(l.ResponseCode, "2") {
			continue
		}
		failed := int64(float64(l.Count)*s.Fraction + 0.5)
		if failed == 0 {
			continue
		}
		bad := *l
		bad.Count, bad.ResponseCode = failed, code
		bad.BytesIn = l.BytesIn * failed / max(l.Count, 1)
		bad.BytesOut = failed * 120
		l.BytesIn -= bad.BytesIn
		l.BytesOut = l.BytesOut * (l.Count - failed) / max(l.Count, 1)
		l.Count -= failed
		b.L7 = append(b.L7, bad)
	}
	// Drop the records whose requests all failed.
	kept := b.L7[:0]
	for _, l := range b.L7 {
		if l.Count > 0 {
			kept = append(kept, l)
		}
	}
	b.L7 = kept
	b.Truth = append(b.Truth, Label{Scenario: s.Name(), Detectors: []string{"http_response_codes"}, Cluster: c.opts.Cluster,
		Namespace: wl.Namespace, Workload: aggr, Type: calicolog.TypeWorkload, Window: w})
}

func init() {
	RegisterScenario(ScenarioSpec{
		Name: "http_connection_spike", Detectors: []string{"http_connection_spike"},
		Help: "a client on the internet floods the cart service with 60,000 HTTP requests within one window",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{HTTPRequests{Kind: KindHTTPSpike, At: source.Align(start.Add(span/2), c.Bucket()),
				Namespace: "shop", Workload: "cart", Requests: 60000, URL: "/cart"}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "http_5xx_storm", Detectors: []string{"http_response_codes"},
		Help: "the frontend fails 90% of its requests with 503 for one window",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{HTTPErrorStorm{At: source.Align(start.Add(span/3), c.Bucket()),
				Namespace: "shop", Workload: "frontend", Fraction: 0.9, Code: "503"}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "http_verb_enumeration", Detectors: []string{"http_verbs"},
		Help: "a scanner on the internet tries OPTIONS, TRACE and CONNECT on the frontend, answered 405",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{HTTPRequests{Kind: KindHTTPVerbEnumeration, At: source.Align(start.Add(span/4), c.Bucket()),
				Namespace: "shop", Workload: "frontend", Requests: 90, Methods: []string{"OPTIONS", "TRACE", "CONNECT"}, Code: "405"}}
		},
	})
}
