package detect

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// dnsDetectors are the detectors of query names, judged on simulated days.
var dnsDetectors = []string{"dga", "dns_tunnel"}

// dnsDays is the scenario: two days of normal life (the simulator's
// traffic, a checkout pod resolving fifty vendors' names, search-path
// expansions, a vendor name that no longer exists), then a third day with
// the library's DNS attacks on top: random-character and dictionary-word
// generators and a base32 tunnel.
func dnsDays(t *testing.T) (*simulate.Cluster, time.Time, time.Time) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	attackDay := start.Add(48 * time.Hour)
	opts := simulate.Options{Seed: 23}
	normal := []simulate.Scenario{
		simulate.Lookups{Namespace: "shop", Workload: "checkout", Names: simulate.VendorNames,
			Gone: []string{"api.oldvendor-payments.com", "tracking.shipfast-legacy.net"}},
		simulate.Lookups{Namespace: "monitoring", Workload: "grafana", Names: simulate.VendorNames[30:]},
	}
	scs := append([]simulate.Scenario(nil), normal...)
	probe := simulate.New(opts)
	for i, name := range []string{"dga_random", "dga_words", "dns_tunnel"} {
		spec, err := simulate.LookupScenario(name)
		if err != nil {
			t.Fatal(err)
		}
		scs = append(scs, spec.New(probe, attackDay.Add(time.Duration(9+3*i)*time.Hour), 2*time.Hour)...)
	}
	return simulate.New(opts, scs...), start, attackDay.Add(24 * time.Hour)
}

// TestDNSDetectorsOnSimulatedDays: every window of every attack is found,
// and two days of normal traffic raise no verdict.
func TestDNSDetectorsOnSimulatedDays(t *testing.T) {
	if testing.Short() {
		t.Skip("plays three simulated days")
	}
	c, start, end := dnsDays(t)
	src := simulate.NewSourceWithRetention(c, time.Hour)
	normalEnd := start.Add(48 * time.Hour)
	type result struct {
		quality                         *weekResult
		fpNormal, fpAttackDay, verdicts int
		maxNormal, minAttack            float64
	}
	results := map[string]*result{}
	var dets []Detector
	for _, name := range dnsDetectors {
		info, _ := Lookup(name)
		d, err := info.New(Options{Cluster: c.Name(), Bucket: c.Bucket(), Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		dets = append(dets, d)
		results[name] = &result{quality: testkit.NewQuality(name, judgement), minAttack: 1}
	}
	ctx := context.Background()
	for at := start; at.Before(end); at = at.Add(c.Bucket()) {
		w := source.Window{Start: at, End: at.Add(c.Bucket())}
		labels := c.Truth(w)
		for _, d := range dets {
			res := results[d.Name()]
			qs := d.Queries()
			rows := make([][]source.Row, len(qs))
			for i, q := range qs {
				r, err := src.Aggregate(ctx, w, q)
				if err != nil {
					t.Fatal(err)
				}
				rows[i] = r
			}
			vs := d.Judge(w, rows)
			missedBefore := len(res.quality.Missed)
			matches := res.quality.Judged(w, labels, vs)
			for i, v := range vs {
				res.verdicts++
				if at.Before(normalEnd) {
					res.maxNormal = max(res.maxNormal, v.Score)
				}
				if !v.Anomalous() {
					continue
				}
				if matches[i] >= 0 {
					res.minAttack = min(res.minAttack, v.Score)
					continue
				}
				if at.Before(normalEnd) {
					res.fpNormal++
				} else {
					res.fpAttackDay++
				}
				t.Errorf("%s: false positive %s %s: %s", d.Name(), w.Start.Format("Mon 15:04"), v.Entity.Key(), v.Summary)
			}
			for _, l := range res.quality.Missed[missedBefore:] {
				t.Errorf("%s: missed %s on %s/%s in %s", d.Name(), l.Scenario, l.Namespace, l.Workload, l.Window)
			}
		}
	}
	for _, name := range dnsDetectors {
		res := results[name]
		t.Logf("%s over %s: %d verdicts; attack windows found %d (lowest score %.3f), missed %d; false positives %d on the two normal days (highest score %.3f), %d on the attack day",
			name, end.Sub(start), res.verdicts, res.quality.TP, res.minAttack, res.quality.FN, res.fpNormal, res.maxNormal, res.fpAttackDay)
		if res.quality.TP == 0 {
			t.Errorf("%s found none of its attacks", name)
		}
	}
}

// attackScore plays one attack in one simulated window and returns the
// attacker's score from a fresh detector.
func attackScore(t *testing.T, detector string, s simulate.Scenario, at time.Time, namespace, workload string) float64 {
	t.Helper()
	c := simulate.New(simulate.Options{Seed: 29}, s)
	w := source.Window{Start: at, End: at.Add(c.Bucket())}
	info, _ := Lookup(detector)
	d, err := info.New(Options{Cluster: c.Name(), Bucket: c.Bucket()})
	if err != nil {
		t.Fatal(err)
	}
	src := simulate.NewSource(c)
	var rows [][]source.Row
	for _, q := range d.Queries() {
		r, err := src.Aggregate(context.Background(), w, q)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	aggr := c.Workload(namespace, workload).NameAggr()
	for _, v := range d.Judge(w, rows) {
		if v.Entity.Namespace == namespace && v.Entity.Workload == aggr {
			return v.Score
		}
	}
	t.Fatalf("%s judged no verdict for %s/%s", detector, namespace, workload)
	return 0
}

// TestDNSDetectorsSensitivity plays each attack at several rates in one
// window and reports the score each rate reaches: the library's rates are
// found, a couple of lookups or queries are not.
func TestDNSDetectorsSensitivity(t *testing.T) {
	at := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		name, detector string
		rates          []int
		make           func(rate int) simulate.Scenario
		found, quiet   int // a rate that must alert, one that must not
	}{
		{"random-character generator, names per window", "dga", []int{2, 4, 6, 8, 10, 15, 30},
			func(n int) simulate.Scenario {
				return simulate.DGALookups{At: at, Namespace: "shop", Workload: "cart", Family: simulate.DGARandom, PerBucket: n}
			}, 30, 2},
		{"dictionary-word generator, names per window", "dga", []int{2, 4, 6, 8, 10, 15, 30},
			func(n int) simulate.Scenario {
				return simulate.DGALookups{At: at, Namespace: "shop", Workload: "cart", Family: simulate.DGAWords, PerBucket: n}
			}, 30, 2},
		{"base32 tunnel, queries of 30 bytes per window", "dns_tunnel", []int{5, 10, 20, 40, 80, 300},
			func(n int) simulate.Scenario {
				return simulate.DNSTunnel{At: at, Namespace: "shop", Workload: "cart", Encoding: simulate.EncodingBase32, PerBucket: n}
			}, 300, 5},
		{"hex tunnel, queries of 30 bytes per window", "dns_tunnel", []int{5, 10, 20, 40, 80, 300},
			func(n int) simulate.Scenario {
				return simulate.DNSTunnel{At: at, Namespace: "shop", Workload: "cart", Encoding: simulate.EncodingHex, PerBucket: n}
			}, 300, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var line []string
			for _, rate := range tt.rates {
				s := attackScore(t, tt.detector, tt.make(rate), at, "shop", "cart")
				line = append(line, fmt.Sprintf("%d: %.2f", rate, s))
				if rate == tt.found && s < 0.5 {
					t.Errorf("rate %d scores %.3f, under the default threshold", rate, s)
				}
				if rate == tt.quiet && s >= 0.5 {
					t.Errorf("rate %d scores %.3f, at or above the default threshold", rate, s)
				}
			}
			t.Logf("%s: score by rate: %s", tt.detector, strings.Join(line, ", "))
		})
	}
}
