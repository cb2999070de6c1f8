package detect

import (
	"sync"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
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
		weekResults, weekErr = playDays(c, weekStart, end, baselineDetectors, Options{Seed: 1}, nil)
	})
	return weekResults, weekErr
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
	var all []*weekResult
	for _, name := range baselineDetectors {
		res := results[name]
		t.Run(name, func(t *testing.T) {
			t.Logf("%s: judged %d windows, %d entities; true positives %d, false positives %d, missed %d; precision %.3f recall %.3f",
				name, res.JudgedWindows, len(res.Entities), res.TP, res.FP, res.FN, res.Precision(), res.Recall())
			if res.JudgedWindows == 0 {
				t.Fatal("the detector never became ready")
			}
			if res.TP == 0 {
				t.Error("found none of its attacks")
			}
			for _, l := range res.Missed {
				t.Errorf("missed %s on %s/%s/%s in %s", l.Scenario, l.Namespace, l.Workload, l.Type, l.Window)
			}
			for i, v := range res.False {
				if i < 10 {
					t.Logf("false positive %s %s: %s (score %.2f)", v.Window.Start.Format("Mon 15:04"), v.Entity.Key(), v.Summary, v.Score)
				}
			}
		})
		all = append(all, res)
	}
	rate := testkit.Combined(weekEnd, all...)
	perHundredPerDay := rate.Per100WorkloadsPerDay()
	t.Logf("all detectors: %d false positives over %.1f judged days and %d entities: %.2f per 100 workloads per day",
		rate.FalseAlerts, rate.Days, rate.Workloads, perHundredPerDay)
	if perHundredPerDay >= 1 {
		t.Errorf("%.2f false verdicts per 100 workloads per day, want fewer than 1", perHundredPerDay)
	}
}
