package simulate

import (
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// HTTPBackground is normal HTTP life the built-in traffic leaves out,
// played as a scenario so tests opt in (it carries no labels): L7 logs for
// every workload with an HTTP-like port (http, https, web) whose L7
// collector the cluster does not already log, with the daily curve, a mix
// of methods (mostly GET and POST, some PUT, DELETE and PATCH, HEAD from an
// uptime monitor every 30 s around the clock) and of response codes (a
// little 404 and 401, a rare 500 and a rare short burst of 503 while a pod
// restarts). Detectors of HTTP methods and codes must learn this mix, not
// flag it.
type HTTPBackground struct{}

// Name is "http_background".
func (HTTPBackground) Name() string { return "http_background" }

// Validate accepts the background: it has no settings.
func (HTTPBackground) Validate() error { return nil }

// backgroundMix is the share of a service's requests per method and the
// share of each method's requests answered each error code.
var backgroundMix = []struct {
	method string
	share  float64
	ok     string
}{
	{"GET", 0.68, "200"}, {"POST", 0.24, "201"}, {"PUT", 0.04, "200"}, {"DELETE", 0.025, "204"}, {"PATCH", 0.015, "200"},
}

var backgroundErrors = []struct {
	code  string
	share float64
}{{"404", 0.012}, {"401", 0.004}, {"500", 0.0008}}

// Apply adds bucket w's background requests.
func (HTTPBackground) Apply(c *Cluster, w source.Window, b *Batch) {
	// Platform services (kube-system, monitoring) keep the daily curve
	// through the week; Options.Life gives the others the weekly one.
	act, platform := c.UserLevel(w.Start.Add(c.Bucket()/2)), DayCurve(w.Start.Add(c.Bucket()/2))
	perBucket := c.Bucket().Minutes() / 5
	for _, wl := range c.workloads {
		if wl.HTTP || len(wl.Pods) == 0 {
			continue
		}
		var port *Port
		for i, p := range wl.Ports {
			if p.Name == "http" || p.Name == "https" || p.Name == "web" {
				port = &wl.Ports[i]
				break
			}
		}
		if port == nil {
			continue
		}
		h := fnv.New64a()
		h.Write([]byte(wl.Namespace + "/" + wl.Name))
		peak := 80 + float64(h.Sum64()%320) // requests per 5 minutes at the peak
		r := c.Rand(w.Start, "http_background|"+wl.Namespace+"/"+wl.Name)
		level := act
		if platformNamespace(wl.Namespace) {
			level = platform
		}
		total := peak * level * perBucket * noise(r, 0.1)
		restarting := r.IntN(2000) == 0 // a pod restart: a few 503s
		for _, m := range backgroundMix {
			n := poisson(r, total*m.share)
			if n == 0 {
				continue
			}
			for _, e := range backgroundErrors {
				k := poisson(r, float64(n)*e.share)
				if k = min(k, n); k > 0 {
					n -= k
					backgroundRecord(c, w, r, wl, *port, m.method, e.code, k, b)
				}
			}
			if restarting {
				k := min(n, 5+int64(r.IntN(20)))
				n -= k
				backgroundRecord(c, w, r, wl, *port, m.method, "503", k, b)
			}
			backgroundRecord(c, w, r, wl, *port, m.method, m.ok, n, b)
		}
		// The uptime monitor: HEAD / every 30 seconds, day and night.
		checks := int64(max(1, c.Bucket()/(30*time.Second)))
		backgroundRecord(c, w, r, wl, *port, "HEAD", "200", checks, b)
	}
}

func backgroundRecord(c *Cluster, w source.Window, r *rand.Rand, wl *Workload, port Port, method, code string, n int64, b *Batch) {
	if n <= 0 {
		return
	}
	pod := wl.Pods[r.IntN(len(wl.Pods))]
	end := c.FlushTime(w, pod.Node, r)
	mean := 8e6 * noise(r, 0.25)
	b.L7 = append(b.L7, calicolog.L7Log{
		StartTime: calicolog.EpochSeconds(c.IntervalStart(end, r).Unix()), EndTime: calicolog.EpochSeconds(end.Unix()),
		DurationMeanNanos: int64(mean), DurationMaxNanos: int64(mean * (1.5 + 4*r.Float64())),
		BytesIn: n * int64(300+r.IntN(400)), BytesOut: n * int64(800+r.IntN(3000)), Count: n,
		SrcNameAggr: calicolog.NamePrivate, SrcNamespace: calicolog.Aggregated, SrcType: calicolog.TypeNetwork,
		DestNameAggr: wl.NameAggr(), DestNamespace: wl.Namespace, DestType: calicolog.TypeWorkload,
		DestServiceName: wl.Service, DestServiceNamespace: wl.Namespace, DestServicePort: int64(port.Number),
		URL: "/api/v1/items", ResponseCode: code, Method: method, UserAgent: "Go-http-client/1.1", Type: "html/1.1",
		Host: pod.Node.Name,
	})
}
