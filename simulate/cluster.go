package simulate

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Defaults of Options.
const (
	DefaultCluster     = "cluster"
	DefaultNamespaces  = 4
	DefaultDeployments = 4
	DefaultBucket      = 5 * time.Minute
	// maxNamespaces keeps every node's pod CIDR inside 10.244.0.0/16.
	maxNamespaces  = 200
	maxDeployments = 50
	// maxScrapeTargets bounds the pods Prometheus scrapes, so that the
	// scraper stays below Calico's ip_sweep threshold (32 distinct
	// destination IPs per window) however large the cluster is.
	maxScrapeTargets = 20
	podsPerNode      = 12
)

// Options configures a simulated cluster. Zero fields take their defaults.
type Options struct {
	// Seed picks every random choice; the same seed gives the same records.
	Seed uint64
	// Cluster is the Calico cluster name ("cluster" by default).
	Cluster string
	// Namespaces is how many namespaces run workloads (4 by default: shop,
	// kube-system, monitoring, payments; more are named team-N).
	Namespaces int
	// DeploymentsPerNamespace is how many deployments each namespace runs
	// (4 by default).
	DeploymentsPerNamespace int
	// Bucket is the flow log interval and the unit of generation (5 minutes
	// by default, Calico's ES_bucket_size_minutes); at least a minute.
	Bucket time.Duration
	// Prober adds a blackbox prober (monitoring/blackbox-exporter) that
	// checks every TCP service port of every pod every 30 s: normal
	// traffic that reaches more pod addresses per window than Calico's
	// ip_sweep threshold, for detectors to learn. Off by default, so the
	// cluster's normal traffic stays under Calico's thresholds; every other
	// workload keeps its pods and addresses with it.
	Prober bool
	// Scale multiplies user traffic (connections, DNS queries, HTTP
	// requests) and its flow records: each pod pair's record is split into
	// up to Scale records, one per client connection with its source port
	// (as Calico logs at aggregation level 0). 1 by default; distinct ports
	// and IPs per source do not change.
	Scale int
	// Life adds normal life to the daily curve: a weekly pattern (user
	// traffic lower on weekends, a little higher on Monday morning),
	// rollouts and pod restarts (new pod names, new pod-template hashes,
	// new addresses), and normal unlabelled bursts (a nightly backup, a
	// morning data load, a weekly batch job, background HTTP calls and
	// recycled worker processes). See At, Rollouts, WeekCurve. Off by
	// default: the cluster then runs as it was built, every day alike.
	Life bool
}

func (o Options) withDefaults() Options {
	if o.Cluster == "" {
		o.Cluster = DefaultCluster
	}
	if o.Namespaces <= 0 {
		o.Namespaces = DefaultNamespaces
	}
	o.Namespaces = min(o.Namespaces, maxNamespaces)
	if o.DeploymentsPerNamespace <= 0 {
		o.DeploymentsPerNamespace = DefaultDeployments
	}
	o.DeploymentsPerNamespace = min(o.DeploymentsPerNamespace, maxDeployments)
	if o.Bucket < time.Minute {
		o.Bucket = DefaultBucket
	}
	o.Bucket = o.Bucket.Truncate(time.Second)
	if o.Scale <= 0 {
		o.Scale = 1
	}
	return o
}

// Node is a Kubernetes node. Its Calico agent flushes the logs of the pods
// it hosts once per bucket, Phase after the bucket starts, so intervals are
// not aligned to the wall clock.
type Node struct {
	Name    string
	IP      string
	PodCIDR netip.Prefix
	Phase   time.Duration
	// stride is one more than the highest host number of the pods built
	// on the node (Options.Life numbers recreated pods from it).
	stride int
}

// Port is a named port of a service.
type Port struct {
	Name   string
	Number int
	Proto  string // tcp or udp
}

// Workload is a Deployment with its current ReplicaSet, its pods and the
// Service in front of it.
type Workload struct {
	Namespace  string
	Name       string
	ReplicaSet string // e.g. frontend-7d4f8b9c5d
	Service    string // the Service name, usually Name
	ClusterIP  string
	Ports      []Port
	// MetricsPort is the port Prometheus scrapes; 0 when not scraped.
	MetricsPort int
	// Process is the path of the container's main process.
	Process string
	// HTTP says L7 logs are collected for the service.
	HTTP bool
	Pods []*Pod
}

// NameAggr is the name Calico writes in *_name_aggr for the pods.
func (w *Workload) NameAggr() string { return w.ReplicaSet + "-*" }

// FQDN is the Service's DNS name inside the cluster.
func (w *Workload) FQDN() string { return w.Service + "." + w.Namespace + ".svc.cluster.local" }

// Port returns the service port with the given number, if any.
func (w *Workload) Port(number int) (Port, bool) {
	for _, p := range w.Ports {
		if p.Number == number {
			return p, true
		}
	}
	return Port{}, false
}

func (w *Workload) portNamed(name string) (Port, bool) {
	for _, p := range w.Ports {
		if p.Name == name {
			return p, true
		}
	}
	return Port{}, false
}

func (w *Workload) labels() []string {
	return []string{"app=" + w.Name, "pod-template-hash=" + strings.TrimPrefix(w.ReplicaSet, w.Name+"-")}
}

// Pod is one replica of a workload.
type Pod struct {
	Name     string // e.g. frontend-7d4f8b9c5d-x2k9p
	IP       string
	Node     *Node
	PID      int
	Workload *Workload
}

// Peer is an address outside the cluster that workloads talk to.
type Peer struct {
	Domain string // the name clients resolve; "" when none
	IP     string
}

// NameAggr is pub or pvt, as Calico names the network.
func (p Peer) NameAggr() string { return networkName(p.IP) }

func networkName(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && (a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()) {
		return calicolog.NamePrivate
	}
	return calicolog.NamePublic
}

// edge is service traffic from the pods of one workload to another's.
type edge struct {
	from, to *Workload
	port     Port
	// rate is connections per bucket between the two workloads at the
	// daily peak; req and resp the mean bytes a connection carries each way.
	rate      float64
	req, resp float64
	// flat traffic ignores the day curve (machines, not users).
	flat bool
	// persistent pairs keep a connection open in every bucket (pools).
	persistent bool
}

// egress is traffic from a workload's pods to a peer outside the cluster.
type egress struct {
	from      *Workload
	peer      Peer
	port      int
	proto     string
	rate      float64
	req, resp float64
	flat      bool
}

// Batch is what the cluster logged in a window, with the ground truth of
// the attacks it holds.
type Batch struct {
	Flows []calicolog.FlowLog
	DNS   []calicolog.DNSLog
	L7    []calicolog.L7Log
	Truth []Label
}

// Len is the number of records in the batch.
func (b Batch) Len() int { return len(b.Flows) + len(b.DNS) + len(b.L7) }

func (b *Batch) append(o Batch) {
	b.Flows = append(b.Flows, o.Flows...)
	b.DNS = append(b.DNS, o.DNS...)
	b.L7 = append(b.L7, o.L7...)
	b.Truth = append(b.Truth, o.Truth...)
}

// Cluster is a simulated Calico cluster. It holds no state that changes
// after New, so it is safe for concurrent use.
type Cluster struct {
	opts      Options
	nodes     []*Node
	workloads []*Workload
	byName    map[string]*Workload // "namespace/name"
	byIP      map[netip.Addr]*Pod
	edges     []edge
	egresses  []egress
	// ingress is the workload internet clients reach, nil when none.
	ingress     *Workload
	coredns     *Workload
	scraper     *Workload
	prober      *Workload // nil unless Options.Prober
	scrapes     []*Pod
	upstreamDNS Peer
	apiServer   Peer
	// queries are the names each workload resolves.
	queries   map[*Workload][]query
	scenarios []Scenario
	// flowHint is about how many flow records a bucket holds at the peak.
	flowHint int
}

type query struct {
	name string
	ip   string
	ext  bool
}

// New builds the cluster that opts and the seed describe, with the attack
// scenarios it will play. It panics if a scenario is invalid (check them
// with their Validate method first when they come from user input).
func New(opts Options, scenarios ...Scenario) *Cluster {
	opts = opts.withDefaults()
	for _, s := range scenarios {
		if err := s.Validate(); err != nil {
			panic(fmt.Sprintf("simulate: scenario %s: %v", s.Name(), err))
		}
	}
	c := &Cluster{
		opts:        opts,
		byName:      map[string]*Workload{},
		byIP:        map[netip.Addr]*Pod{},
		queries:     map[*Workload][]query{},
		scenarios:   slices.Clone(scenarios),
		upstreamDNS: Peer{IP: "10.0.0.2"},
		apiServer:   Peer{Domain: "kubernetes.default.svc.cluster.local", IP: "10.0.0.1"},
	}
	c.build()
	return c
}

// Options returns the options the cluster was built with, defaults filled in.
func (c *Cluster) Options() Options { return c.opts }

// Name is the Calico cluster name.
func (c *Cluster) Name() string { return c.opts.Cluster }

// Bucket is the flow log interval and the unit of generation.
func (c *Cluster) Bucket() time.Duration { return c.opts.Bucket }

// Nodes lists the cluster's nodes.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Workloads lists the cluster's workloads in a stable order, as built
// (with Options.Life, At(t).Workloads() has the ReplicaSets and pods at t).
func (c *Cluster) Workloads() []*Workload { return c.workloads }

// Workload returns the workload namespace/name, or nil.
func (c *Cluster) Workload(namespace, name string) *Workload { return c.byName[namespace+"/"+name] }

// PodAt returns the pod with address ip, or nil.
func (c *Cluster) PodAt(ip netip.Addr) *Pod { return c.byIP[ip] }

// Scenarios lists the attack scenarios the cluster plays.
func (c *Cluster) Scenarios() []Scenario { return c.scenarios }

// Rand returns the generator for one stream of random choices in the
// bucket starting at t: it depends only on the seed, the stream and t.
func (c *Cluster) Rand(t time.Time, stream string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return rand.New(rand.NewPCG(c.opts.Seed, mix64(h.Sum64()^mix64(uint64(t.Unix())))))
}

// mix64 is SplitMix64's finaliser: neighbouring inputs give unrelated outputs.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// workloadSpec describes a deployment of the catalogue.
type workloadSpec struct {
	name    string
	service string
	ports   []Port
	metrics int
	process string
	http    bool
}

type namespaceSpec struct {
	name      string
	workloads []workloadSpec
}

func tcp(name string, n int) Port { return Port{Name: name, Number: n, Proto: "tcp"} }

// catalogue is the cluster's namespaces, in the order Options.Namespaces
// takes them; each namespace's deployments in the order
// Options.DeploymentsPerNamespace takes them.
var catalogue = []namespaceSpec{
	{"shop", []workloadSpec{
		{name: "frontend", ports: []Port{tcp("http", 8080)}, metrics: 9102, process: "/app/frontend", http: true},
		{name: "cart", ports: []Port{tcp("http", 8080)}, metrics: 9102, process: "/app/cart", http: true},
		{name: "checkout", ports: []Port{tcp("grpc", 5050)}, metrics: 9102, process: "/app/checkout"},
		{name: "db", ports: []Port{tcp("redis", 6379)}, metrics: 9121, process: "/usr/local/bin/redis-server"},
	}},
	{"kube-system", []workloadSpec{
		{name: "coredns", service: "kube-dns", ports: []Port{{"dns", 53, "udp"}, tcp("dns-tcp", 53), tcp("metrics", 9153)}, metrics: 9153, process: "/coredns"},
		{name: "metrics-server", ports: []Port{tcp("https", 4443)}, process: "/metrics-server"},
		{name: "calico-kube-controllers", ports: []Port{tcp("metrics-port", 9094)}, metrics: 9094, process: "/usr/bin/kube-controllers"},
		{name: "cluster-autoscaler", ports: []Port{tcp("http", 8085)}, metrics: 8085, process: "/cluster-autoscaler"},
	}},
	{"monitoring", []workloadSpec{
		{name: "prometheus", ports: []Port{tcp("web", 9090)}, metrics: 9090, process: "/bin/prometheus"},
		{name: "alertmanager", ports: []Port{tcp("web", 9093)}, metrics: 9093, process: "/bin/alertmanager"},
		{name: "grafana", ports: []Port{tcp("http", 3000)}, process: "/usr/share/grafana/bin/grafana"},
		{name: "kube-state-metrics", ports: []Port{tcp("http-metrics", 8080)}, metrics: 8080, process: "/kube-state-metrics"},
	}},
	{"payments", []workloadSpec{
		{name: "payments-api", ports: []Port{tcp("https", 8443)}, metrics: 9102, process: "/app/payments-api"},
		{name: "fraud-check", ports: []Port{tcp("grpc", 9000)}, metrics: 9102, process: "/usr/bin/python3"},
		{name: "ledger", ports: []Port{tcp("http", 8080)}, metrics: 9102, process: "/app/ledger"},
		{name: "postgres", ports: []Port{tcp("postgres", 5432)}, metrics: 9187, process: "/usr/lib/postgresql/16/bin/postgres"},
	}},
}

// teamWorkloads are the deployments of namespaces past the catalogue.
var teamWorkloads = []workloadSpec{
	{name: "api", ports: []Port{tcp("http", 8080)}, metrics: 9102, process: "/app/api"},
	{name: "worker", ports: []Port{tcp("grpc", 9000)}, metrics: 9102, process: "/app/worker"},
	{name: "cache", ports: []Port{tcp("redis", 6379)}, process: "/usr/local/bin/redis-server"},
	{name: "store", ports: []Port{tcp("postgres", 5432)}, process: "/usr/lib/postgresql/16/bin/postgres"},
}

// hashAlphabet is the alphabet Kubernetes uses for pod-template hashes and
// generated name suffixes (no vowels, no look-alike digits).
const hashAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func randomName(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = hashAlphabet[r.IntN(len(hashAlphabet))]
	}
	return string(b)
}

func (c *Cluster) build() {
	r := c.Rand(time.Unix(0, 0), "topology")
	type planned struct {
		ns   string
		spec workloadSpec
	}
	var plan []planned
	for i := range c.opts.Namespaces {
		ns := namespaceSpec{name: fmt.Sprintf("team-%d", i-len(catalogue)+1), workloads: teamWorkloads}
		if i < len(catalogue) {
			ns = catalogue[i]
		}
		for j := range c.opts.DeploymentsPerNamespace {
			spec := workloadSpec{name: fmt.Sprintf("job-%d", j-len(ns.workloads)+1), ports: []Port{tcp("http", 8080)}, metrics: 9102, process: "/app/job"}
			if j < len(ns.workloads) {
				spec = ns.workloads[j]
			}
			plan = append(plan, planned{ns.name, spec})
		}
	}
	replicas := make([]int, len(plan))
	pods := 0
	for i := range plan {
		replicas[i] = 2 + r.IntN(2)
		pods += replicas[i]
	}
	nNodes := min(250, max(3, (pods+podsPerNode-1)/podsPerNode)) // one /24 of pods each
	for i := range nNodes {
		c.nodes = append(c.nodes, &Node{
			Name:    fmt.Sprintf("worker-%d", i+1),
			IP:      fmt.Sprintf("10.0.%d.%d", 1+i/200, 10+i%200),
			PodCIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(i + 1), 0}), 24),
			// Each node flushes at its own offset, away from the bucket edges.
			Phase: time.Duration(0.05*float64(c.opts.Bucket) + r.Float64()*0.85*float64(c.opts.Bucket)).Truncate(time.Second),
		})
	}
	nextHost := make([]int, nNodes)
	for i, p := range plan {
		w := &Workload{
			Namespace:   p.ns,
			Name:        p.spec.name,
			ReplicaSet:  p.spec.name + "-" + randomName(r, 10),
			Service:     p.spec.service,
			ClusterIP:   fmt.Sprintf("10.96.%d.%d", 1+i/250, 1+i%250),
			Ports:       p.spec.ports,
			MetricsPort: p.spec.metrics,
			Process:     p.spec.process,
			HTTP:        p.spec.http,
		}
		if w.Service == "" {
			w.Service = w.Name
		}
		if w.Name == "coredns" {
			w.ClusterIP = "10.96.0.10"
		}
		first := r.IntN(nNodes)
		for k := range replicas[i] {
			ni := (first + k) % nNodes
			n := c.nodes[ni]
			nextHost[ni]++
			addr := n.PodCIDR.Addr().As4()
			addr[3] = byte(1 + nextHost[ni])
			pod := &Pod{
				Name:     w.ReplicaSet + "-" + randomName(r, 5),
				IP:       netip.AddrFrom4(addr).String(),
				Node:     n,
				PID:      1 + r.IntN(30000),
				Workload: w,
			}
			w.Pods = append(w.Pods, pod)
			c.byIP[netip.AddrFrom4(addr)] = pod
		}
		c.workloads = append(c.workloads, w)
		c.byName[w.Namespace+"/"+w.Name] = w
	}
	if c.opts.Prober {
		c.addProber(nextHost)
	}
	for i, n := range c.nodes {
		n.stride = 2 + nextHost[i]
	}
	c.coredns = c.Workload("kube-system", "coredns")
	c.scraper = c.Workload("monitoring", "prometheus")
	c.ingress = c.Workload("shop", "frontend")
	c.wire()
	c.flowHint = 64 + 2*len(c.scrapes)*3 + 4*len(c.workloads)*len(c.nodes)
	for _, e := range c.edges {
		c.flowHint += 2 * len(e.from.Pods) * len(e.to.Pods)
	}
	c.flowHint *= max(1, c.opts.Scale/3)
}

// wire lays the service graph over the workloads that exist.
func (c *Cluster) wire() {
	link := func(from, to, port string, e edge) {
		f, t := c.byName[from], c.byName[to]
		if f == nil || t == nil {
			return
		}
		p, ok := t.portNamed(port)
		if !ok {
			return
		}
		e.from, e.to, e.port = f, t, p
		c.edges = append(c.edges, e)
	}
	link("shop/frontend", "shop/cart", "http", edge{rate: 90, req: 900, resp: 4200})
	link("shop/frontend", "shop/checkout", "grpc", edge{rate: 20, req: 1500, resp: 900})
	link("shop/cart", "shop/db", "redis", edge{rate: 12, req: 40000, resp: 90000, persistent: true})
	link("shop/checkout", "shop/cart", "http", edge{rate: 15, req: 700, resp: 2500})
	link("shop/checkout", "payments/payments-api", "https", edge{rate: 18, req: 2200, resp: 1600})
	link("payments/payments-api", "payments/fraud-check", "grpc", edge{rate: 18, req: 1800, resp: 400})
	link("payments/payments-api", "payments/ledger", "http", edge{rate: 18, req: 1200, resp: 600})
	link("payments/ledger", "payments/postgres", "postgres", edge{rate: 8, req: 30000, resp: 50000, persistent: true})
	link("payments/fraud-check", "payments/postgres", "postgres", edge{rate: 4, req: 8000, resp: 60000, persistent: true})
	link("monitoring/grafana", "monitoring/prometheus", "web", edge{rate: 20, req: 600, resp: 30000})
	link("monitoring/prometheus", "monitoring/alertmanager", "web", edge{rate: 4, req: 2000, resp: 200, flat: true, persistent: true})
	for i := len(catalogue); i < c.opts.Namespaces; i++ {
		ns := fmt.Sprintf("team-%d", i-len(catalogue)+1)
		link(ns+"/api", ns+"/worker", "grpc", edge{rate: 30, req: 1000, resp: 800})
		link(ns+"/api", ns+"/cache", "redis", edge{rate: 10, req: 5000, resp: 20000, persistent: true})
		link(ns+"/worker", ns+"/store", "postgres", edge{rate: 6, req: 20000, resp: 40000, persistent: true})
	}
	// Deployments past the catalogue call their namespace's first one.
	for _, w := range c.workloads {
		if strings.HasPrefix(w.Name, "job-") {
			for _, first := range c.workloads {
				if first.Namespace == w.Namespace {
					if first != w && len(first.Ports) > 0 {
						link(w.Namespace+"/"+w.Name, first.Namespace+"/"+first.Name, first.Ports[0].Name, edge{rate: 6, req: 800, resp: 1500})
					}
					break
				}
			}
		}
	}
	out := func(from string, e egress) {
		if f := c.byName[from]; f != nil {
			e.from = f
			if e.proto == "" {
				e.proto = "tcp"
			}
			c.egresses = append(c.egresses, e)
		}
	}
	out("payments/payments-api", egress{peer: Peer{"api.stripe.com", "203.0.113.10"}, port: 443, rate: 10, req: 2500, resp: 3000})
	out("shop/checkout", egress{peer: Peer{"api.easypost.com", "203.0.113.30"}, port: 443, rate: 6, req: 1200, resp: 5000})
	out("payments/fraud-check", egress{peer: Peer{"fraud-db.corp.internal", "10.20.0.15"}, port: 443, rate: 8, req: 900, resp: 2000})
	out("monitoring/alertmanager", egress{peer: Peer{"hooks.slack.com", "203.0.113.20"}, port: 443, rate: 1, req: 3000, resp: 300, flat: true})
	out("monitoring/kube-state-metrics", egress{peer: c.apiServer, port: 443, rate: 3, req: 2000, resp: 250000, flat: true})
	out("kube-system/calico-kube-controllers", egress{peer: c.apiServer, port: 443, rate: 2, req: 1500, resp: 40000, flat: true})
	out("kube-system/cluster-autoscaler", egress{peer: c.apiServer, port: 443, rate: 2, req: 1200, resp: 60000, flat: true})
	out("kube-system/coredns", egress{peer: c.upstreamDNS, port: 53, proto: "udp", rate: 40, req: 70, resp: 160})

	// Prometheus scrapes the pods that expose metrics, up to a bound.
	if c.scraper != nil {
		for _, w := range c.workloads {
			if w.MetricsPort == 0 {
				continue
			}
			for _, p := range w.Pods {
				if len(c.scrapes) < maxScrapeTargets {
					c.scrapes = append(c.scrapes, p)
				}
			}
		}
	}

	// What each workload resolves: the services it calls, the domains it
	// reaches, or else its own service (peer discovery).
	for _, e := range c.edges {
		c.addQuery(e.from, query{name: e.to.FQDN(), ip: e.to.ClusterIP})
	}
	for _, e := range c.egresses {
		if e.peer.Domain != "" && e.from != c.coredns {
			c.addQuery(e.from, query{name: e.peer.Domain, ip: e.peer.IP, ext: !strings.HasSuffix(e.peer.Domain, ".cluster.local")})
		}
	}
	for _, w := range c.workloads {
		if w != c.coredns && len(c.queries[w]) == 0 {
			c.addQuery(w, query{name: w.FQDN(), ip: w.ClusterIP})
		}
	}
}

func (c *Cluster) addQuery(w *Workload, q query) {
	for _, have := range c.queries[w] {
		if have.name == q.name {
			return
		}
	}
	c.queries[w] = append(c.queries[w], q)
}

// Window returns the records whose end_time falls in [w.Start, w.End), and
// the labels of the attacks in the buckets w covers wholly. Generating a
// window never depends on which windows were generated before.
func (c *Cluster) Window(w source.Window) Batch {
	var out Batch
	for _, b := range c.buckets(w) {
		bb := c.bucket(b)
		if b.Start.Before(w.Start) || b.End.After(w.End) {
			bb = bb.within(w)
		}
		if out.Flows == nil {
			out = bb // most windows are one bucket: no copy
			continue
		}
		out.append(bb)
	}
	return out
}

// Truth returns the labels of the attacks in the buckets w covers wholly,
// without generating the normal traffic.
func (c *Cluster) Truth(w source.Window) []Label {
	var out []Label
	for _, b := range c.buckets(w) {
		if b.Start.Before(w.Start) || b.End.After(w.End) {
			continue
		}
		var bb Batch
		c.At(b.Start).attacks(b, &bb)
		out = append(out, bb.Truth...)
	}
	return out
}

// buckets lists the buckets that overlap w, oldest first.
func (c *Cluster) buckets(w source.Window) []source.Window {
	if !w.End.After(w.Start) {
		return nil
	}
	var out []source.Window
	for t := source.Align(w.Start, c.opts.Bucket); t.Before(w.End); t = t.Add(c.opts.Bucket) {
		out = append(out, source.Window{Start: t.UTC(), End: t.Add(c.opts.Bucket).UTC()})
	}
	return out
}

// bucket generates one bucket: normal traffic (the cluster as it runs at
// the bucket's start, with its normal life when Options.Life), then each
// scenario.
func (c *Cluster) bucket(b source.Window) Batch {
	out := Batch{Flows: make([]calicolog.FlowLog, 0, c.flowHint)}
	c = c.At(b.Start)
	c.traffic(b, &out)
	if c.opts.Life {
		c.life(b, &out)
	}
	c.attacks(b, &out)
	return out
}

func (c *Cluster) attacks(b source.Window, out *Batch) {
	for _, s := range c.scenarios {
		s.Apply(c, b, out)
	}
}

// within keeps the records whose end_time falls in w (labels are dropped).
func (b Batch) within(w source.Window) Batch {
	var out Batch
	for _, f := range b.Flows {
		if w.Contains(f.EndTime.Time()) {
			out.Flows = append(out.Flows, f)
		}
	}
	for _, d := range b.DNS {
		if w.Contains(d.EndTime) {
			out.DNS = append(out.DNS, d)
		}
	}
	for _, l := range b.L7 {
		if w.Contains(l.EndTime.Time()) {
			out.L7 = append(out.L7, l)
		}
	}
	return out
}
