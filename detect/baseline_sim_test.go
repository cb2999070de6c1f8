package detect

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// The learned performance detectors, judged on a simulated week where the
// answer is known.
var baselineDetectors = []string{
	"generic_flows", "generic_dns", "generic_l7",
	"time_series_flows", "time_series_dns", "time_series_l7",
	"bytes_in", "bytes_out",
}

// dnsStorm is a workload whose DNS queries jump a hundredfold in one
// window (a retry loop gone wild), with slow answers: generic_dns and
// time_series_dns must find it.
type dnsStorm struct {
	at                  time.Time
	namespace, workload string
}

func (dnsStorm) Name() string    { return "dns_storm" }
func (dnsStorm) Validate() error { return nil }
func (s dnsStorm) Apply(c *simulate.Cluster, w source.Window, b *simulate.Batch) {
	if !w.Contains(s.at) {
		return
	}
	wl := c.Workload(s.namespace, s.workload)
	pod := wl.Pods[0]
	end := c.FlushTime(w, pod.Node, c.Rand(w.Start, "dns_storm"))
	b.DNS = append(b.DNS, calicolog.DNSLog{
		StartTime: end.Add(-c.Bucket()), EndTime: end, Type: "log", Count: 40000,
		ClientName: calicolog.Aggregated, ClientNameAggr: wl.NameAggr(), ClientNamespace: wl.Namespace,
		QName: "api.partner.example.com", QClass: "IN", QType: "A", RCode: "ServFail",
		LatencyCount: 40000, LatencyMeanNanos: 900e6, LatencyMaxNanos: 5e9, Host: pod.Node.Name,
	})
	l := simulate.Label{Scenario: "dns_storm", Detectors: []string{"generic_dns"}, Cluster: c.Name(),
		Namespace: wl.Namespace, Workload: wl.NameAggr(), Type: calicolog.TypeWorkload, Window: w}
	ns := l
	ns.Detectors, ns.Workload, ns.Type = []string{"time_series_dns"}, "*", simulate.NamespaceType
	b.Truth = append(b.Truth, l, ns)
}

// l7Slowdown is an HTTP service whose requests in one window take
// seconds (a hung dependency): generic_l7 and time_series_l7 must find it.
type l7Slowdown struct {
	at                  time.Time
	namespace, workload string
}

func (l7Slowdown) Name() string    { return "l7_slowdown" }
func (l7Slowdown) Validate() error { return nil }
func (s l7Slowdown) Apply(c *simulate.Cluster, w source.Window, b *simulate.Batch) {
	if !w.Contains(s.at) {
		return
	}
	wl := c.Workload(s.namespace, s.workload)
	pod := wl.Pods[0]
	end := c.FlushTime(w, pod.Node, c.Rand(w.Start, "l7_slowdown"))
	b.L7 = append(b.L7, calicolog.L7Log{
		StartTime: calicolog.EpochSeconds(end.Add(-c.Bucket()).Unix()), EndTime: calicolog.EpochSeconds(end.Unix()),
		DurationMeanNanos: 2e9, DurationMaxNanos: 9e9, BytesIn: 300 * 300, BytesOut: 300 * 2400, Count: 300,
		SrcNameAggr: "pub", SrcNamespace: calicolog.Aggregated, SrcType: calicolog.TypeNetwork,
		DestNameAggr: wl.NameAggr(), DestNamespace: wl.Namespace, DestType: calicolog.TypeWorkload,
		DestServiceName: wl.Service, DestServiceNamespace: wl.Namespace, DestServicePort: int64(wl.Ports[0].Number),
		URL: "/cart", ResponseCode: "504", Method: "GET", Type: "html/1.1", Host: pod.Node.Name,
	})
	l := simulate.Label{Scenario: "l7_slowdown", Detectors: []string{"generic_l7"}, Cluster: c.Name(),
		Namespace: wl.Namespace, Workload: wl.NameAggr(), Type: calicolog.TypeWorkload, Window: w}
	ns := l
	ns.Detectors, ns.Workload, ns.Type = []string{"time_series_l7"}, "*", simulate.NamespaceType
	b.Truth = append(b.Truth, l, ns)
}

// weekStart is a Monday.
var weekStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// simulatedWeek is the scenario of the test: nine days of a cluster with
// daily patterns (the simulator's day curve, a nightly backup sent out at
// 02:00, a data load coming in at 07:00), then on the ninth day an
// exfiltration, an inbound spike, a DNS storm and a slowed service.
func simulatedWeek() (*simulate.Cluster, time.Time) {
	const days = 9
	attackDay := weekStart.Add((days - 1) * 24 * time.Hour)
	var scs []simulate.Scenario
	scs = append(scs, simulate.DailyTransfer(weekStart, days, 2*time.Hour, simulate.BytesBurst{
		Duration: 20 * time.Minute, Namespace: "payments", Workload: "postgres", PeerIP: "198.51.100.7", Bytes: 600 << 20})...)
	scs = append(scs, simulate.DailyTransfer(weekStart, days, 7*time.Hour, simulate.BytesBurst{
		Duration: 10 * time.Minute, Namespace: "payments", Workload: "ledger", PeerIP: "198.51.100.9", Bytes: 300 << 20, Inbound: true})...)
	scs = append(scs,
		simulate.BytesBurst{At: attackDay.Add(10 * time.Hour), Duration: 10 * time.Minute, Namespace: "payments", Workload: "postgres", Bytes: 3 << 30},
		simulate.BytesBurst{At: attackDay.Add(11 * time.Hour), Namespace: "shop", Workload: "frontend", Bytes: 2 << 30, Inbound: true},
		dnsStorm{at: attackDay.Add(12*time.Hour + 2*time.Minute), namespace: "shop", workload: "cart"},
		l7Slowdown{at: attackDay.Add(13*time.Hour + 2*time.Minute), namespace: "shop", workload: "cart"},
	)
	return simulate.New(simulate.Options{Seed: 11}, scs...), weekStart.Add(days * 24 * time.Hour)
}

// weekResult is what one detector did over the simulated week.
type weekResult struct {
	judgedWindows int
	firstVerdict  time.Time
	entities      map[string]bool
	tp, fp, fn    int
	fpVerdicts    []Verdict
	missed        []simulate.Label
}

var (
	weekOnce    sync.Once
	weekResults map[string]*weekResult
	weekErr     error
)

// runSimulatedWeek plays the week through every baseline detector as the
// engine does (Learn while not ready, Judge once ready) and scores their
// anomalous verdicts against the labels.
func runSimulatedWeek() (map[string]*weekResult, error) {
	weekOnce.Do(func() {
		c, end := simulatedWeek()
		src := simulate.NewSourceWithRetention(c, time.Hour)
		bucket := c.Bucket()
		var dets []Detector
		for _, name := range baselineDetectors {
			info, _ := Lookup(name)
			d, err := info.New(Options{Cluster: c.Name(), Bucket: bucket, Seed: 1})
			if err != nil {
				weekErr = err
				return
			}
			dets = append(dets, d)
		}
		weekResults = map[string]*weekResult{}
		for _, d := range dets {
			weekResults[d.Name()] = &weekResult{entities: map[string]bool{}}
		}
		ctx := context.Background()
		for t := weekStart; t.Before(end); t = t.Add(bucket) {
			w := source.Window{Start: t, End: t.Add(bucket)}
			labels := c.Truth(w)
			for _, d := range dets {
				qs := d.Queries()
				rows := make([][]source.Row, len(qs))
				for i, q := range qs {
					r, err := src.Aggregate(ctx, w, q)
					if err != nil {
						weekErr = err
						return
					}
					rows[i] = r
				}
				res := weekResults[d.Name()]
				if !d.Ready() {
					d.(Learner).Learn(w, rows)
					for _, l := range labels {
						if hasDetector(l, d.Name()) {
							res.fn++
							res.missed = append(res.missed, l)
						}
					}
					continue
				}
				vs := d.Judge(w, rows)
				res.judgedWindows++
				found := map[int]bool{}
				if len(vs) > 0 && res.firstVerdict.IsZero() {
					res.firstVerdict = w.Start
				}
				for _, v := range vs {
					res.entities[v.Entity.Key()] = true
					if !v.Anomalous() {
						continue
					}
					match := -1
					for i, l := range labels {
						if hasDetector(l, d.Name()) && l.Namespace == v.Entity.Namespace && l.Workload == v.Entity.Workload && l.Type == v.Entity.Type {
							match = i
						}
					}
					if match < 0 {
						res.fp++
						res.fpVerdicts = append(res.fpVerdicts, v)
						continue
					}
					found[match] = true
				}
				for i, l := range labels {
					if !hasDetector(l, d.Name()) {
						continue
					}
					if found[i] {
						res.tp++
					} else {
						res.fn++
						res.missed = append(res.missed, l)
					}
				}
			}
		}
	})
	return weekResults, weekErr
}

func hasDetector(l simulate.Label, name string) bool {
	for _, d := range l.Detectors {
		if d == name {
			return true
		}
	}
	return false
}

// TestBaselineDetectorsOnASimulatedWeek: each detector finds its attacks,
// and a week of normal traffic with daily patterns, a nightly backup and a
// morning data load raises fewer than one verdict per 100 workloads per
// day across all of them together.
func TestBaselineDetectorsOnASimulatedWeek(t *testing.T) {
	if testing.Short() {
		t.Skip("plays nine simulated days")
	}
	results, err := runSimulatedWeek()
	_, weekEnd := simulatedWeek()
	if err != nil {
		t.Fatal(err)
	}
	workloads := map[string]bool{}
	totalFP := 0
	judgedDays := 0.0
	for _, name := range baselineDetectors {
		res := results[name]
		t.Run(name, func(t *testing.T) {
			precision, recall := ratio(res.tp, res.tp+res.fp), ratio(res.tp, res.tp+res.fn)
			t.Logf("%s: judged %d windows, %d entities; true positives %d, false positives %d, missed %d; precision %.3f recall %.3f",
				name, res.judgedWindows, len(res.entities), res.tp, res.fp, res.fn, precision, recall)
			if res.judgedWindows == 0 {
				t.Fatal("the detector never became ready")
			}
			if res.tp == 0 {
				t.Error("found none of its attacks")
			}
			for _, l := range res.missed {
				t.Errorf("missed %s on %s/%s/%s in %s", l.Scenario, l.Namespace, l.Workload, l.Type, l.Window)
			}
			for i, v := range res.fpVerdicts {
				if i < 10 {
					t.Logf("false positive %s %s: %s (score %.2f)", v.Window.Start.Format("Mon 15:04"), v.Entity.Key(), v.Summary, v.Score)
				}
			}
		})
		totalFP += res.fp
		for e := range res.entities {
			workloads[e] = true
		}
		if !res.firstVerdict.IsZero() {
			judgedDays = max(judgedDays, weekEnd.Sub(res.firstVerdict).Hours()/24)
		}
	}
	perHundredPerDay := float64(totalFP) / (float64(len(workloads)) / 100) / judgedDays
	t.Logf("all detectors: %d false positives over %.1f judged days and %d entities: %.2f per 100 workloads per day",
		totalFP, judgedDays, len(workloads), perHundredPerDay)
	if perHundredPerDay >= 1 {
		t.Errorf("%.2f false verdicts per 100 workloads per day, want fewer than 1", perHundredPerDay)
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
