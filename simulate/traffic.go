package simulate

import (
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// PeakHour is the hour of the day (UTC) when user traffic peaks; it is
// lowest twelve hours later.
const PeakHour = 15.0

// DayCurve is the share of the daily peak that user traffic reaches at t:
// a smooth curve from 0.1 at 03:00 UTC to 1 at 15:00 UTC.
func DayCurve(t time.Time) float64 {
	t = t.UTC()
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	x := 0.5 + 0.5*math.Cos(2*math.Pi*(h-PeakHour)/24)
	return 0.1 + 0.9*math.Pow(x, 1.5)
}

const (
	// ingressRate is internet connections to the frontend per bucket at the peak.
	ingressRate = 150
	// dnsPerPod is DNS queries per pod and name per bucket at the peak.
	dnsPerPod = 4
	// maxKubeletTargets bounds the nodes metrics-server reaches, as
	// maxScrapeTargets bounds Prometheus.
	maxKubeletTargets = 24
)

// traffic generates bucket b's normal traffic: flows along the service
// graph, scrapes, DNS and HTTP.
func (c *Cluster) traffic(b source.Window, out *Batch) {
	r := c.Rand(b.Start, "traffic")
	bucketMinutes := c.opts.Bucket.Minutes() / 5 // rates are per 5 minutes
	act := c.UserLevel(b.Start.Add(c.opts.Bucket/2)) * noise(r, 0.08) * bucketMinutes
	// Options.Scale multiplies the connections of user traffic (and emit
	// logs them per connection).
	scale := float64(c.opts.Scale)
	flat := noise(r, 0.03) * bucketMinutes
	http := map[httpKey]int64{}

	for _, e := range c.edges {
		level := act
		if e.flat {
			level = flat
		}
		lambda := e.rate * scale * level / float64(len(e.from.Pods)*len(e.to.Pods))
		for _, cp := range e.from.Pods {
			for _, sp := range e.to.Pods {
				n := poisson(r, lambda*noise(r, 0.2))
				started, carried := n, float64(n)
				if e.persistent {
					n++               // the pooled connection that stays open,
					carried += lambda // as busy as the pair is
				}
				if n == 0 {
					continue
				}
				f := Flow{
					Src: PodEndpoint(cp), Dst: PodEndpoint(sp), DstPort: e.port.Number, Proto: e.port.Proto,
					Service: e.to, ServicePort: e.port, Action: "allow",
					Flows: n, Started: started, Completed: started - int64(r.IntN(int(min(started, 2))+1)),
					ReqBytes:  int64(max(carried, 0.05) * e.req * noise(r, 0.3)),
					RespBytes: int64(max(carried, 0.05) * e.resp * noise(r, 0.3)),
					SrcPolicy: "default|" + cp.Workload.Namespace + "/default." + cp.Workload.Name + "-egress",
					DstPolicy: "default|" + sp.Workload.Namespace + "/default." + sp.Workload.Name + "-ingress",
				}
				if e.to.HTTP {
					f.HTTPRequests = n * int64(2+r.IntN(4))
					http[httpKey{from: e.from, to: e.to}] += f.HTTPRequests
				}
				c.emit(b, r, f, out, "src", "dst")
			}
		}
	}
	c.scrapeTraffic(b, r, flat, out)
	c.ingressTraffic(b, r, act*scale, http, out)
	c.egressTraffic(b, r, act*scale, flat, out)
	c.kubeletTraffic(b, r, flat, out)
	c.dnsTraffic(b, r, act, scale, out)
	c.httpLogs(b, r, act, http, out)
	c.proberTraffic(b, out)
}

// emit appends the records of f for each reporter, split per connection
// when Options.Scale asks for it.
func (c *Cluster) emit(b source.Window, r *rand.Rand, f Flow, out *Batch, reporters ...string) {
	f.ReqPackets = packets(f.ReqBytes, f.Flows)
	f.RespPackets = packets(f.RespBytes, f.Flows)
	parts := int64(1)
	if c.opts.Scale > 1 && f.Src.IP != "" && f.SrcPort == 0 {
		parts = min(int64(c.opts.Scale), f.Flows)
	}
	for i := range parts {
		g := f
		if parts > 1 {
			g.Flows = share(f.Flows, parts, i)
			g.Started = share(f.Started, parts, i)
			g.Completed = share(f.Completed, parts, i)
			g.ReqBytes, g.RespBytes = share(f.ReqBytes, parts, i), share(f.RespBytes, parts, i)
			g.ReqPackets, g.RespPackets = share(f.ReqPackets, parts, i), share(f.RespPackets, parts, i)
			g.HTTPRequests = share(f.HTTPRequests, parts, i)
			g.SrcPort = 32768 + r.IntN(28232)
		}
		for _, rep := range reporters {
			node := g.Src.Node
			if rep == "dst" {
				node = g.Dst.Node
			}
			end := c.FlushTime(b, node, r)
			out.Flows = append(out.Flows, g.Record(rep, c.IntervalStart(end, r), end))
		}
	}
}

// share is part i of n split into parts nearly equal parts.
func share(n, parts, i int64) int64 {
	s := n / parts
	if i < n%parts {
		s++
	}
	return s
}

// scrapeTraffic is Prometheus scraping every target every 30 s on a
// kept-alive connection.
func (c *Cluster) scrapeTraffic(b source.Window, r *rand.Rand, level float64, out *Batch) {
	if c.scraper == nil {
		return
	}
	scrapes := int64(max(1, c.opts.Bucket/(30*time.Second)))
	for _, pp := range c.scraper.Pods {
		for _, tp := range c.scrapes {
			// A gzipped exposition: a few kilobytes, steady per target.
			size := 1500 + float64(len(tp.Workload.Name)*2311%6000)
			f := Flow{
				Src: PodEndpoint(pp), Dst: PodEndpoint(tp), DstPort: tp.Workload.MetricsPort, Proto: "tcp", Action: "allow",
				Flows: 1, Started: 0, Completed: 0,
				ReqBytes:  scrapes * int64(230+r.IntN(40)),
				RespBytes: int64(float64(scrapes) * size * noise(r, 0.05) * level),
				SrcPolicy: "default|monitoring/default.prometheus-egress",
				DstPolicy: "default|" + tp.Workload.Namespace + "/default.allow-prometheus-scrape",
			}
			if r.IntN(20) == 0 { // Prometheus reconnects now and then
				f.Flows, f.Started, f.Completed = 2, 1, 1
			}
			c.emit(b, r, f, out, "src", "dst")
		}
	}
}

// ingressTraffic is internet clients reaching the frontend; only the
// destination reports it, with the clients aggregated to pub.
func (c *Cluster) ingressTraffic(b source.Window, r *rand.Rand, act float64, http map[httpKey]int64, out *Batch) {
	w := c.ingress
	if w == nil {
		return
	}
	port := w.Ports[0]
	for _, p := range w.Pods {
		n := poisson(r, ingressRate*act/float64(len(w.Pods))*noise(r, 0.15))
		if n == 0 {
			continue
		}
		f := Flow{
			Src: NetworkEndpoint("", calicolog.NamePublic), Dst: PodEndpoint(p), DstPort: port.Number, Proto: "tcp",
			Service: w, ServicePort: port, Action: "allow",
			Flows: n, Started: n, Completed: n - int64(r.IntN(3)),
			HTTPRequests: n * int64(3+r.IntN(5)),
			DstPolicy:    "default|shop/default.allow-internet-to-frontend",
		}
		f.ReqBytes = int64(float64(f.HTTPRequests) * 700 * noise(r, 0.2))
		f.RespBytes = int64(float64(f.HTTPRequests) * 15000 * noise(r, 0.3))
		f.Completed = max(f.Completed, 0)
		http[httpKey{to: w}] += f.HTTPRequests
		c.emit(b, r, f, out, "dst")
	}
}

// egressTraffic is pods reaching peers outside the cluster; only the source
// reports it.
func (c *Cluster) egressTraffic(b source.Window, r *rand.Rand, act, flat float64, out *Batch) {
	for _, e := range c.egresses {
		level := act
		if e.flat {
			level = flat
		}
		var domains []string
		if e.peer.Domain != "" && !strings.HasSuffix(e.peer.Domain, ".cluster.local") {
			domains = []string{e.peer.Domain}
		}
		for _, p := range e.from.Pods {
			n := poisson(r, e.rate*level/float64(len(e.from.Pods))*noise(r, 0.2))
			if n == 0 {
				continue
			}
			f := Flow{
				Src: PodEndpoint(p), Dst: NetworkEndpoint(e.peer.IP, ""), DstPort: e.port, Proto: e.proto, Action: "allow",
				Flows: n, Started: n, Completed: n,
				ReqBytes:  int64(float64(n) * e.req * noise(r, 0.3)),
				RespBytes: int64(float64(n) * e.resp * noise(r, 0.3)),
				Domains:   domains,
				SrcPolicy: "default|" + p.Workload.Namespace + "/default." + p.Workload.Name + "-egress",
			}
			c.emit(b, r, f, out, "src")
		}
	}
}

// kubeletTraffic is metrics-server reading each node's kubelet (a host
// endpoint); only the source reports it.
func (c *Cluster) kubeletTraffic(b source.Window, r *rand.Rand, level float64, out *Batch) {
	w := c.Workload("kube-system", "metrics-server")
	if w == nil {
		return
	}
	scrapes := int64(max(1, c.opts.Bucket/(15*time.Second)))
	for _, p := range w.Pods {
		for _, n := range c.nodes[:min(len(c.nodes), maxKubeletTargets)] {
			f := Flow{
				Src: PodEndpoint(p), Dst: HostEndpoint(n), DstPort: 10250, Proto: "tcp", Action: "allow",
				Flows: 1, ReqBytes: scrapes * 310, RespBytes: int64(float64(scrapes) * 5200 * noise(r, 0.05) * level),
				SrcPolicy: "default|kube-system/default.metrics-server-egress",
			}
			c.emit(b, r, f, out, "src")
		}
	}
}

// dnsTraffic is every pod resolving names through CoreDNS: the UDP flows to
// kube-dns (aggregated per node, as Calico does by default for such
// chatty flows) and the DNS logs.
func (c *Cluster) dnsTraffic(b source.Window, r *rand.Rand, act, scale float64, out *Batch) {
	dns := c.coredns
	if dns == nil {
		return
	}
	level := (0.3 + 0.7*act) * scale
	port, _ := dns.portNamed("dns")
	coreNodes := podsByNode(dns.Pods)
	for _, w := range c.workloads {
		qs := c.queries[w]
		if len(qs) == 0 {
			continue
		}
		var total int64
		for _, g := range podsByNode(w.Pods) {
			n := poisson(r, dnsPerPod*float64(len(qs)*len(g.pods))*level*noise(r, 0.2))
			if n == 0 {
				continue
			}
			total += n
			f := dnsFlow(aggregatedEndpoint(w, g.node, len(g.pods)), aggregatedEndpoint(dns, nil, len(dns.Pods)), port, n, r)
			c.emit(b, r, f, out, "src")
		}
		for _, g := range coreNodes {
			n := poisson(r, float64(total)*float64(len(g.pods))/float64(len(dns.Pods)))
			if n == 0 {
				continue
			}
			f := dnsFlow(aggregatedEndpoint(w, nil, len(w.Pods)), aggregatedEndpoint(dns, g.node, len(g.pods)), port, n, r)
			c.emit(b, r, f, out, "dst")
		}
		c.dnsLogs(b, r, level, w, qs, out)
	}
}

func dnsFlow(src, dst Endpoint, port Port, n int64, r *rand.Rand) Flow {
	return Flow{
		Src: src, Dst: dst, DstPort: port.Number, Proto: port.Proto, Service: dst.Workload, ServicePort: port, Action: "allow",
		Flows: n, Started: n, Completed: n,
		ReqBytes: n * int64(60+r.IntN(30)), RespBytes: n * int64(110+r.IntN(80)),
		SrcPolicy: "platform|platform.allow-dns", DstPolicy: "platform|platform.allow-dns",
	}
}

// dnsLogs writes w's DNS logs: one record per name it resolved, with the
// client aggregated (Calico's default for DNS logs).
func (c *Cluster) dnsLogs(b source.Window, r *rand.Rand, level float64, w *Workload, qs []query, out *Batch) {
	for _, q := range qs {
		n := poisson(r, dnsPerPod*float64(len(w.Pods))*level*noise(r, 0.2))
		if n == 0 {
			continue
		}
		pod := w.Pods[r.IntN(len(w.Pods))]
		end := c.FlushTime(b, pod.Node, r).Add(time.Duration(r.IntN(1e9)))
		start := c.IntervalStart(end, r).Add(time.Duration(r.IntN(1e9)) - time.Second)
		mean := 250e3 + 1200e3*r.Float64() // cluster names answer from CoreDNS itself
		if q.ext {
			mean = 4e6 + 30e6*r.Float64()
		}
		mean *= noise(r, 0.2)
		answered := c.coredns.Pods[r.IntN(len(c.coredns.Pods))]
		out.DNS = append(out.DNS, calicolog.DNSLog{
			StartTime: start, EndTime: end, Type: "log", Count: n,
			ClientName: calicolog.Aggregated, ClientNameAggr: w.NameAggr(), ClientNamespace: w.Namespace,
			ClientLabels: map[string]string{"app": w.Name, "pod-template-hash": strings.TrimPrefix(w.ReplicaSet, w.Name+"-")},
			QName:        q.name, QClass: "IN", QType: "A", RCode: "NoError",
			RRSets: []calicolog.RRSet{{Name: q.name, Class: "IN", Type: "A", RData: []string{q.ip}}},
			Servers: []calicolog.DNSServer{{
				IP: answered.IP, Name: answered.Name, NameAggr: c.coredns.NameAggr(), Namespace: c.coredns.Namespace,
			}},
			LatencyCount:     n,
			LatencyMeanNanos: int64(mean),
			LatencyMaxNanos:  int64(mean * (1.5 + 4*r.Float64())),
			Host:             pod.Node.Name,
		})
	}
}

type nodeGroup struct {
	node *Node
	pods []*Pod
}

// podsByNode groups pods by their node, in the order nodes first appear.
func podsByNode(pods []*Pod) []nodeGroup {
	var out []nodeGroup
next:
	for _, p := range pods {
		for i := range out {
			if out[i].node == p.Node {
				out[i].pods = append(out[i].pods, p)
				continue next
			}
		}
		out = append(out, nodeGroup{node: p.Node, pods: []*Pod{p}})
	}
	return out
}

// httpKey is the HTTP requests from one workload (nil: the internet) to an
// HTTP service.
type httpKey struct{ from, to *Workload }

// route is a request a service answers, with its share of the requests.
type route struct {
	method, url string
	code        string
	share       float64
	req, resp   float64
}

var routes = map[string][]route{
	"frontend": {
		{"GET", "/", "200", 0.35, 600, 18000},
		{"GET", "/product", "200", 0.35, 650, 26000},
		{"GET", "/static/app.js", "200", 0.15, 500, 90000},
		{"POST", "/cart", "201", 0.10, 1200, 800},
		{"POST", "/checkout", "200", 0.05, 2000, 3000},
	},
	"cart": {
		{"GET", "/cart", "200", 0.6, 300, 2400},
		{"POST", "/cart/items", "201", 0.3, 700, 300},
		{"GET", "/healthz", "200", 0.1, 150, 20},
	},
}

// latencyNanos is the mean service time of each HTTP service at rest.
var latencyNanos = map[string]float64{"frontend": 22e6, "cart": 6e6}

// httpLogs writes the L7 logs of the HTTP services: one record per source,
// route and response code, with a rare 404.
func (c *Cluster) httpLogs(b source.Window, r *rand.Rand, act float64, http map[httpKey]int64, out *Batch) {
	var keys []httpKey // the service graph's order, then the internet's
	for _, e := range c.edges {
		k := httpKey{from: e.from, to: e.to}
		if _, ok := http[k]; ok && !containsKey(keys, k) {
			keys = append(keys, k)
		}
	}
	if c.ingress != nil {
		if _, ok := http[httpKey{to: c.ingress}]; ok {
			keys = append(keys, httpKey{to: c.ingress})
		}
	}
	for _, k := range keys {
		total := http[k]
		rs := routes[k.to.Name]
		if len(rs) == 0 {
			rs = []route{{"GET", "/", "200", 1, 500, 2000}}
		}
		src := struct{ aggr, ns, typ, ua string }{calicolog.NamePublic, calicolog.Aggregated, calicolog.TypeNetwork,
			"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
		if k.from != nil {
			src.aggr, src.ns, src.typ, src.ua = k.from.NameAggr(), k.from.Namespace, calicolog.TypeWorkload, "Go-http-client/1.1"
		}
		port := k.to.Ports[0]
		base := latencyNanos[k.to.Name]
		if base == 0 {
			base = 10e6
		}
		for _, rt := range rs {
			n := poisson(r, float64(total)*rt.share)
			notFound := int64(0)
			if r.IntN(40) == 0 {
				notFound = 1 + int64(r.IntN(3))
			}
			for _, v := range []struct {
				code  string
				count int64
			}{{rt.code, n}, {"404", notFound}} {
				if v.count == 0 {
					continue
				}
				pod := k.to.Pods[r.IntN(len(k.to.Pods))]
				end := c.FlushTime(b, pod.Node, r)
				mean := base * (0.8 + 0.4*act) * noise(r, 0.2)
				if v.code == "404" {
					mean = base * 0.2
				}
				out.L7 = append(out.L7, calicolog.L7Log{
					StartTime:         calicolog.EpochSeconds(c.IntervalStart(end, r).Unix()),
					EndTime:           calicolog.EpochSeconds(end.Unix()),
					DurationMeanNanos: int64(mean),
					DurationMaxNanos:  int64(mean * (1.5 + 6*r.Float64())),
					BytesIn:           int64(float64(v.count) * rt.req * noise(r, 0.1)),
					BytesOut:          int64(float64(v.count) * rt.resp * noise(r, 0.2)),
					Count:             v.count,
					SrcNameAggr:       src.aggr, SrcNamespace: src.ns, SrcType: src.typ,
					DestNameAggr: k.to.NameAggr(), DestNamespace: k.to.Namespace, DestType: calicolog.TypeWorkload,
					DestServiceName: k.to.Service, DestServiceNamespace: k.to.Namespace, DestServicePort: int64(port.Number),
					URL: rt.url, ResponseCode: v.code, Method: rt.method, UserAgent: src.ua, Type: "html/1.1",
					Host: pod.Node.Name,
				})
			}
		}
	}
}

func containsKey(keys []httpKey, k httpKey) bool {
	for _, have := range keys {
		if have == k {
			return true
		}
	}
	return false
}
