package simulate

import (
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// DGA families: how a generator makes its names.
const (
	// DGARandom draws every character of the label, like CryptoLocker or
	// Conficker: "kqlxtqptsmys.ru".
	DGARandom = "random"
	// DGAWords joins dictionary words, like Suppobox or Matsnu:
	// "followcomplete.net". Such names look legitimate; they do not exist.
	DGAWords = "words"
)

// DGALookups is malware in a pod looking for its command server: in every
// bucket of [At, At+Duration) it resolves PerBucket names of the day's
// generated list. All but one are answered NXDomain (the operator
// registered one); each is first tried with the pod's search path
// (name.<namespace>.svc.cluster.local and so on), as resolvers with
// Kubernetes' ndots:5 do. dga must find the pod in every such bucket.
type DGALookups struct {
	At       time.Time
	Duration time.Duration // one bucket when 0
	// Namespace and Workload name the infected deployment (its first pod).
	Namespace, Workload string
	Family              string // DGARandom or DGAWords
	PerBucket           int    // names per bucket; 30 when 0
}

// Name is "dga".
func (DGALookups) Name() string { return "dga" }

// Validate checks the lookups have a time, a pod and a known family.
func (s DGALookups) Validate() error {
	switch {
	case s.At.IsZero():
		return errors.New("no time (At)")
	case s.Duration < 0:
		return fmt.Errorf("negative duration %s", s.Duration)
	case s.Namespace == "" || s.Namespace == Outside || s.Workload == "":
		return errors.New("no workload (Namespace, Workload)")
	case s.Family != DGARandom && s.Family != DGAWords:
		return fmt.Errorf("family %q is not %q or %q", s.Family, DGARandom, DGAWords)
	case s.PerBucket < 0:
		return fmt.Errorf("negative names per bucket %d", s.PerBucket)
	}
	return nil
}

// dgaTLDs are where generators register: cheap and lax registries.
var dgaTLDs = []string{"com", "net", "org", "ru", "info", "biz", "top", "xyz"}

// dgaWords is the vocabulary of the dictionary-word family (its own list,
// unrelated to what detectors are trained on).
var dgaWords = strings.Fields(`able above across action after again against agree ahead allow almost alone
	along already also always amount animal another answer appear around arrive attack autumn balance
	battle beauty became become before begin behind believe below beside better between beyond border
	bottle bought branch bread break bright bring brother build burning business butter button
	capital captain careful carry castle catch cattle caught cause center certain chance change charge
	chief child choose circle city claim class clean clear climb close cloud coast cold colony column
	common company complete condition consider contain continue control corner cotton country course
	cover cross crowd current danger dark daughter dead dear decide degree depend describe desert design
	develop differ direct distant divide doctor dollar double dream dress drink drive during early earth
	east edge effect eight either electric element energy engine enough enter equal evening event exact
	example except expect experience famous farmer father favor feather feeling field figure finger
	finish flower follow forest forward fraction friend front garden gather gentle glass golden govern
	grass great green ground group guess happen harbor heart heavy history hollow horse hotel hundred
	hunter island jacket journey kitchen knife ladder language large laugh leader letter level light
	listen little machine market master matter meadow member method middle minute mirror modern moment
	morning mother motion mountain music nation nature neighbor night north number object ocean office
	orange paper parent party people period person picture planet pocket poem point position pretty
	prince problem produce proper provide question quiet rabbit rather reason record region remember
	report result river rubber saddle sailor season second select settle shadow shoulder silver simple
	single sister soldier sound south spring square station steel stone story straight stream street
	strong student subject suggest summer supply surface table teacher temple thousand thunder ticket
	together track trade travel triangle trouble valley village visit voice wagon water weather window
	winter wonder world yellow`)

// dgaNames returns the day's generated names of a family: the same list all
// day, a new one every day, as generators seeded by the date make.
func (c *Cluster) dgaNames(family string, day time.Time, n int) []string {
	r := c.Rand(day.UTC().Truncate(24*time.Hour), "dga-family|"+family)
	out := make([]string, n)
	for i := range out {
		var label strings.Builder
		if family == DGAWords {
			for range 2 + r.IntN(2) {
				label.WriteString(dgaWords[r.IntN(len(dgaWords))])
			}
		} else {
			const letters = "abcdefghijklmnopqrstuvwxyz"
			for range 10 + r.IntN(7) {
				label.WriteByte(letters[r.IntN(len(letters))])
			}
		}
		out[i] = label.String() + "." + dgaTLDs[r.IntN(len(dgaTLDs))]
	}
	return out
}

// active reports whether bucket w overlaps [at, at+d), d one bucket when 0.
func (c *Cluster) active(w source.Window, at time.Time, d time.Duration) bool {
	if d <= 0 {
		d = c.Bucket()
	}
	return at.Before(w.End) && at.Add(d).After(w.Start)
}

// Apply adds the bucket's lookups when w overlaps the attack.
func (s DGALookups) Apply(c *Cluster, w source.Window, b *Batch) {
	if !c.active(w, s.At, s.Duration) {
		return
	}
	per := s.PerBucket
	if per == 0 {
		per = 30
	}
	pod := PodEndpoint(c.podOf(s.Namespace, s.Workload))
	r := c.Rand(w.Start, fmt.Sprintf("dga|%d|%s/%s|%s", s.At.UnixNano(), s.Namespace, s.Workload, s.Family))
	day := c.dgaNames(s.Family, w.Start, 10*per)
	offset := int(w.Start.Sub(w.Start.UTC().Truncate(24*time.Hour))/c.Bucket()) * per
	for i := range per {
		name := day[(offset+i)%len(day)]
		registered := i == per/2 && r.IntN(4) == 0 // now and then the operator's name answers
		for _, search := range []string{s.Namespace + ".svc.cluster.local", "svc.cluster.local", "cluster.local", ""} {
			q := name
			if search != "" {
				q += "." + search
			}
			rcode, answer := "NXDomain", ""
			if search == "" && registered {
				rcode, answer = "NoError", fmt.Sprintf("198.51.100.%d", 1+r.IntN(250))
			}
			b.DNS = append(b.DNS, c.dnsRecord(w, r, pod, q, "A", rcode, answer, 1))
		}
	}
	b.Truth = append(b.Truth, c.label(s, "dga", pod, w))
}

// dnsRecord is one DNS log of pod's queries of qname, answered by CoreDNS.
func (c *Cluster) dnsRecord(w source.Window, r *rand.Rand, pod Endpoint, qname, qtype, rcode, answer string, n int64) calicolog.DNSLog {
	end := c.FlushTime(w, pod.Node, r).Add(time.Duration(r.IntN(1e9)))
	start := c.IntervalStart(end, r).Add(time.Duration(r.IntN(1e9)) - time.Second)
	mean := 250e3 + 1200e3*r.Float64()
	if !strings.HasSuffix(qname, ".cluster.local") {
		mean = 8e6 + 60e6*r.Float64() // asked of the internet
	}
	rec := calicolog.DNSLog{
		StartTime: start, EndTime: end, Type: "log", Count: n,
		ClientName: calicolog.Aggregated, ClientNameAggr: pod.NameAggr, ClientNamespace: pod.Namespace,
		QName: qname, QClass: "IN", QType: qtype, RCode: rcode,
		LatencyCount: n, LatencyMeanNanos: int64(mean), LatencyMaxNanos: int64(mean * (1.2 + r.Float64())),
		Host: pod.Node.Name,
	}
	if pod.Workload != nil {
		rec.ClientLabels = map[string]string{"app": pod.Workload.Name}
	}
	if c.coredns != nil {
		s := c.coredns.Pods[r.IntN(len(c.coredns.Pods))]
		rec.Servers = []calicolog.DNSServer{{IP: s.IP, Name: s.Name, NameAggr: c.coredns.NameAggr(), Namespace: c.coredns.Namespace}}
	}
	if answer != "" {
		rec.RRSets = []calicolog.RRSet{{Name: qname, Class: "IN", Type: qtype, RData: []string{answer}}}
	}
	return rec
}

// Tunnel encodings.
const (
	EncodingBase32 = "base32" // iodine-like
	EncodingHex    = "hex"    // dnscat2-like
)

// DNSTunnel is a pod carrying data out in DNS names: in every bucket of
// [At, At+Duration) it sends PerBucket queries, each a unique chunk of
// data encoded in labels under Domain, answered with TXT records by the
// attacker's name server. dns_tunnel must find the pod in every such
// bucket.
type DNSTunnel struct {
	At       time.Time
	Duration time.Duration // one bucket when 0
	// Namespace and Workload name the deployment (its first pod).
	Namespace, Workload string
	Domain              string // "t.cdn-sync.net" when empty
	Encoding            string // EncodingBase32 or EncodingHex
	PerBucket           int    // queries per bucket; 300 when 0
	ChunkBytes          int    // data bytes per query; 30 when 0
}

// Name is "dns_tunnel".
func (DNSTunnel) Name() string { return "dns_tunnel" }

// Validate checks the tunnel has a time, a pod, an encoding and chunks that
// fit a DNS name.
func (s DNSTunnel) Validate() error {
	switch {
	case s.At.IsZero():
		return errors.New("no time (At)")
	case s.Duration < 0:
		return fmt.Errorf("negative duration %s", s.Duration)
	case s.Namespace == "" || s.Namespace == Outside || s.Workload == "":
		return errors.New("no workload (Namespace, Workload)")
	case s.Encoding != EncodingBase32 && s.Encoding != EncodingHex:
		return fmt.Errorf("encoding %q is not %q or %q", s.Encoding, EncodingBase32, EncodingHex)
	case s.PerBucket < 0:
		return fmt.Errorf("negative queries per bucket %d", s.PerBucket)
	case s.ChunkBytes < 0 || s.ChunkBytes > 100:
		return fmt.Errorf("chunk of %d bytes is not within 1-100 (names hold 253 characters)", s.ChunkBytes)
	}
	return nil
}

func (s DNSTunnel) domain() string {
	if s.Domain == "" {
		return "t.cdn-sync.net"
	}
	return s.Domain
}

// Apply adds the bucket's queries when w overlaps the tunnel.
func (s DNSTunnel) Apply(c *Cluster, w source.Window, b *Batch) {
	if !c.active(w, s.At, s.Duration) {
		return
	}
	per, chunk := s.PerBucket, s.ChunkBytes
	if per == 0 {
		per = 300
	}
	if chunk == 0 {
		chunk = 30
	}
	pod := PodEndpoint(c.podOf(s.Namespace, s.Workload))
	r := c.Rand(w.Start, fmt.Sprintf("dns_tunnel|%d|%s/%s|%s", s.At.UnixNano(), s.Namespace, s.Workload, s.domain()))
	data := make([]byte, chunk)
	for i := range per {
		for j := range data {
			data[j] = byte(r.IntN(256)) // compressed or encrypted data looks random
		}
		var enc string
		if s.Encoding == EncodingHex {
			enc = hex.EncodeToString(data)
		} else {
			enc = strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(data))
		}
		var labels []string
		for len(enc) > 0 {
			n := min(len(enc), 60)
			labels = append(labels, enc[:n])
			enc = enc[n:]
		}
		q := strings.Join(labels, ".") + fmt.Sprintf(".%04x.", i) + s.domain()
		b.DNS = append(b.DNS, c.dnsRecord(w, r, pod, q, "TXT", "NoError", "", 1))
	}
	b.Truth = append(b.Truth, c.label(s, "dns_tunnel", pod, w))
}

// Lookups is normal life: a workload resolving Names outside the cluster
// in every bucket, each some times (a busier workload's vendors, CDNs,
// SaaS APIs), with the search-path expansions that fail first, and a
// decommissioned name or two that no longer exist. It carries no labels:
// dga and dns_tunnel must not flag it.
type Lookups struct {
	Namespace, Workload string
	Names               []string
	// Gone are names that answer NXDomain (a vendor that moved).
	Gone []string
}

// Name is "normal_lookups".
func (Lookups) Name() string { return "normal_lookups" }

// Validate checks the lookups have a workload and names.
func (s Lookups) Validate() error {
	if s.Namespace == "" || s.Namespace == Outside || s.Workload == "" {
		return errors.New("no workload (Namespace, Workload)")
	}
	if len(s.Names)+len(s.Gone) == 0 {
		return errors.New("no names")
	}
	return nil
}

// Apply adds the bucket's lookups: each name is resolved in most buckets,
// more at the day's peak.
func (s Lookups) Apply(c *Cluster, w source.Window, b *Batch) {
	r := c.Rand(w.Start, "normal_lookups|"+s.Namespace+"/"+s.Workload)
	pod := PodEndpoint(c.podOf(s.Namespace, s.Workload))
	act := c.UserLevel(w.Start.Add(c.Bucket() / 2))
	for _, name := range s.Names {
		n := poisson(r, 6*act)
		if n == 0 {
			continue
		}
		if r.IntN(3) == 0 { // not in the pod's resolver cache: the search path first
			for _, search := range []string{s.Namespace + ".svc.cluster.local", "svc.cluster.local", "cluster.local"} {
				b.DNS = append(b.DNS, c.dnsRecord(w, r, pod, name+"."+search, "A", "NXDomain", "", 1))
			}
		}
		b.DNS = append(b.DNS, c.dnsRecord(w, r, pod, name, "A", "NoError", fmt.Sprintf("203.0.113.%d", 1+r.IntN(250)), n))
	}
	for _, name := range s.Gone {
		if r.IntN(2) == 0 {
			b.DNS = append(b.DNS, c.dnsRecord(w, r, pod, name, "A", "NXDomain", "", 1+int64(r.IntN(3))))
		}
	}
}

// VendorNames are legitimate names outside the cluster a busy workload
// resolves, for Lookups: SaaS and cloud APIs, CDN hosts with hashed names,
// regional endpoints.
var VendorNames = []string{
	"api.segment.io", "cdn.shopify.com", "login.salesforce.com", "api.intercom.io", "api.mixpanel.com",
	"app.launchdarkly.com", "events.launchdarkly.com", "api.algolia.com", "tenant.eu.auth0.com",
	"graph.facebook.com", "www.google-analytics.com", "maps.googleapis.com", "fcm.googleapis.com",
	"firestore.googleapis.com", "kms.us-east-1.amazonaws.com", "lambda.eu-west-2.amazonaws.com",
	"my-bucket.s3.us-west-2.amazonaws.com", "cognito-idp.eu-west-1.amazonaws.com", "d2ekhyzcy8wzd1.cloudfront.net",
	"dz8aopenkvv6s.cloudfront.net", "d3k5nsl2zxldvw.cloudfront.net", "mystorageacct.blob.core.windows.net",
	"westeurope.monitor.azure.com", "outlook.office365.com", "api.cloudflare.com", "global.ssl.fastly.net",
	"images.unsplash.com", "api.mapbox.com", "api.postmarkapp.com", "us6.api.mailchimp.com", "acme.zendesk.com",
	"acme.atlassian.net", "charts.bitnami.com", "releases.hashicorp.com", "otlp.nr-data.net",
	"http-intake.logs.datadoghq.eu", "prometheus-prod-01-eu-west-0.grafana.net", "sessions.bugsnag.com",
	"code.jquery.com", "api.ipify.org", "e6858.dsce9.akamaiedge.net", "a1842.dscg.akamai.net",
	"api.razorpay.com", "checkout-test.adyen.com", "production.plaid.com", "onlinetools.ups.com",
	"o4504123456789.ingest.sentry.io", "browser-intake-datadoghq.com", "api.squareup.com", "api.klarna.com",
}

func init() {
	RegisterScenario(ScenarioSpec{
		Name: "dga_random", Detectors: []string{"dga"},
		Help: "a cart pod resolves 30 random-character generated names per window for 15 minutes, all but one NXDomain",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{DGALookups{At: source.Align(start.Add(span/4), c.Bucket()), Duration: 3 * c.Bucket(),
				Namespace: "shop", Workload: "cart", Family: DGARandom}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "dga_words", Detectors: []string{"dga"},
		Help: "a ledger pod resolves 30 dictionary-word generated names per window for 15 minutes, all but one NXDomain",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{DGALookups{At: source.Align(start.Add(span/2), c.Bucket()), Duration: 3 * c.Bucket(),
				Namespace: "payments", Workload: "ledger", Family: DGAWords}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "dns_tunnel", Detectors: []string{"dns_tunnel"},
		Help: "the payments database pod sends data out in base32 names under one domain for 20 minutes, 300 queries per window",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{DNSTunnel{At: source.Align(start.Add(span/3), c.Bucket()), Duration: 4 * c.Bucket(),
				Namespace: "payments", Workload: "postgres", Encoding: EncodingBase32}}
		},
	})
}
