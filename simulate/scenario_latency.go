package simulate

import (
	"errors"
	"fmt"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Degradation changes a workload's own records over [At, At+Duration):
// the cluster's normal traffic, as logged, with some of its numbers
// multiplied. It models what goes wrong without a new peer appearing:
//
//   - DNSLatency: the workload's DNS answers take Factor times longer (an
//     upstream resolver timing out, a CoreDNS pod starved of CPU), which
//     dns_latency must find for the workload as DNS client.
//   - L7Latency: the workload's HTTP service answers Factor times slower (a
//     hung dependency, a lock), which l7_latency must find for the service.
//   - L7Bytes: the workload's HTTP service sends Factor times the bytes it
//     usually answers with (bulk download, data scraping through an API),
//     which l7_bytes must find for the service.
//   - FlowShape: the flows the workload opens are multiplied by Factor and
//     the bytes and packets they carry by BytesFactor (many flows with few
//     bytes each: a beacon, a connection flood, a retry loop that sends
//     nothing). Chosen so that each field stays within the range it covers
//     over a normal day, only their combination is new: multivariable_flow
//     must find it.
type Degradation struct {
	Kind     DegradationKind
	At       time.Time
	Duration time.Duration // one bucket when 0
	// Namespace and Workload name the deployment.
	Namespace, Workload string
	Factor              float64
	BytesFactor         float64 // FlowShape only: the bytes and packets' factor
}

// DegradationKind is what a Degradation changes.
type DegradationKind int

// The kinds of Degradation.
const (
	DNSLatency DegradationKind = iota + 1
	L7Latency
	FlowShape
	L7Bytes
)

var degradationNames = map[DegradationKind]string{
	DNSLatency: "dns_latency_degradation",
	L7Latency:  "l7_latency_rise",
	FlowShape:  "many_small_flows",
	L7Bytes:    "l7_bytes_surge",
}

var degradationDetectors = map[DegradationKind]string{
	DNSLatency: "dns_latency",
	L7Latency:  "l7_latency",
	FlowShape:  "multivariable_flow",
	L7Bytes:    "l7_bytes",
}

// Name is dns_latency_degradation, l7_latency_rise, many_small_flows or
// l7_bytes_surge.
func (d Degradation) Name() string {
	if n, ok := degradationNames[d.Kind]; ok {
		return n
	}
	return "degradation"
}

// Validate checks the degradation has a kind, a time, a workload and
// positive factors.
func (d Degradation) Validate() error {
	switch {
	case degradationNames[d.Kind] == "":
		return fmt.Errorf("unknown kind %d", d.Kind)
	case d.At.IsZero():
		return errors.New("no time (At)")
	case d.Duration < 0:
		return fmt.Errorf("negative duration %s", d.Duration)
	case d.Namespace == "" || d.Namespace == Outside || d.Workload == "":
		return errors.New("no workload (Namespace, Workload)")
	case !(d.Factor > 0):
		return fmt.Errorf("factor %v must be positive", d.Factor)
	case d.Kind == FlowShape && !(d.BytesFactor > 0):
		return fmt.Errorf("bytes factor %v must be positive", d.BytesFactor)
	}
	return nil
}

// Apply multiplies the workload's numbers in the records of bucket w that
// falls within [At, At+Duration), and labels the bucket.
func (d Degradation) Apply(c *Cluster, w source.Window, b *Batch) {
	dur := d.Duration
	if dur <= 0 {
		dur = c.Bucket()
	}
	if !d.At.Before(w.End) || !d.At.Add(dur).After(w.Start) {
		return
	}
	wl := c.Workload(d.Namespace, d.Workload)
	if wl == nil {
		return
	}
	aggr := wl.NameAggr()
	scale := func(v int64, f float64) int64 { return int64(float64(v) * f) }
	switch d.Kind {
	case DNSLatency:
		for i := range b.DNS {
			r := &b.DNS[i]
			if r.ClientNamespace == wl.Namespace && r.ClientNameAggr == aggr {
				r.LatencyMeanNanos, r.LatencyMaxNanos = scale(r.LatencyMeanNanos, d.Factor), scale(r.LatencyMaxNanos, d.Factor)
			}
		}
	case L7Latency:
		for i := range b.L7 {
			r := &b.L7[i]
			if r.DestNamespace == wl.Namespace && r.DestNameAggr == aggr {
				r.DurationMeanNanos, r.DurationMaxNanos = scale(r.DurationMeanNanos, d.Factor), scale(r.DurationMaxNanos, d.Factor)
			}
		}
	case L7Bytes:
		for i := range b.L7 {
			r := &b.L7[i]
			if r.DestNamespace == wl.Namespace && r.DestNameAggr == aggr {
				r.BytesOut = scale(r.BytesOut, d.Factor)
			}
		}
	case FlowShape:
		for i := range b.Flows {
			r := &b.Flows[i]
			if r.SourceNamespace != wl.Namespace || r.SourceNameAggr != aggr {
				continue
			}
			r.NumFlows = max(1, scale(r.NumFlows, d.Factor))
			r.NumFlowsStarted, r.NumFlowsCompleted = scale(r.NumFlowsStarted, d.Factor), scale(r.NumFlowsCompleted, d.Factor)
			r.BytesIn, r.BytesOut = scale(r.BytesIn, d.BytesFactor), scale(r.BytesOut, d.BytesFactor)
			r.PacketsIn, r.PacketsOut = scale(r.PacketsIn, d.BytesFactor), scale(r.PacketsOut, d.BytesFactor)
		}
	default:
		return
	}
	b.Truth = append(b.Truth, Label{
		Scenario: d.Name(), Detectors: []string{degradationDetectors[d.Kind]}, Cluster: c.opts.Cluster,
		Namespace: wl.Namespace, Workload: aggr, Type: calicolog.TypeWorkload, Window: w,
	})
}

func init() {
	RegisterScenario(ScenarioSpec{
		Name: "dns_latency_degradation", Detectors: []string{"dns_latency"},
		Help: "the cart's DNS answers take 40 times longer for 15 minutes (an upstream resolver timing out)",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{Degradation{Kind: DNSLatency, At: source.Align(start.Add(span/2), c.Bucket()), Duration: 3 * c.Bucket(),
				Namespace: "shop", Workload: "cart", Factor: 40}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "l7_latency_rise", Detectors: []string{"l7_latency"},
		Help: "the cart service answers 25 times slower for 15 minutes (a hung dependency)",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{Degradation{Kind: L7Latency, At: source.Align(start.Add(span/3), c.Bucket()), Duration: 3 * c.Bucket(),
				Namespace: "shop", Workload: "cart", Factor: 25}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "l7_bytes_surge", Detectors: []string{"l7_bytes"},
		Help: "the cart service answers with 30 times its usual bytes for 10 minutes (data scraped through its API)",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{Degradation{Kind: L7Bytes, At: source.Align(start.Add(span*2/3), c.Bucket()), Duration: 2 * c.Bucket(),
				Namespace: "shop", Workload: "cart", Factor: 30}}
		},
	})
	RegisterScenario(ScenarioSpec{
		Name: "many_small_flows", Detectors: []string{"multivariable_flow"},
		Help: "the frontend opens 1.6 times its flows carrying a quarter of its bytes for 15 minutes: at mid-morning each field stays within its daily range, the combination is new",
		New: func(c *Cluster, start time.Time, span time.Duration) []Scenario {
			return []Scenario{Degradation{Kind: FlowShape, At: source.Align(start.Add(span/2), c.Bucket()), Duration: 3 * c.Bucket(),
				Namespace: "shop", Workload: "frontend", Factor: 1.6, BytesFactor: 0.25}}
		},
	})
}
