package simulate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// portScanQuery is the query the port_scan and ip_sweep detectors run.
var portScanQuery = source.Query{
	Name:    "distinct",
	Log:     calicolog.Flows,
	GroupBy: []string{"source_namespace", "source_name_aggr", "source_type"},
	Metrics: []source.Metric{
		{Name: "ports", Kind: source.Cardinality, Field: "dest_port"},
		{Name: "ips", Kind: source.Cardinality, Field: "dest_ip"},
		{Name: "records", Kind: source.Count},
	},
}

func TestSourceAnswersLikeTheCluster(t *testing.T) {
	at := day0.Add(9*time.Hour + 12*time.Minute)
	c := New(Options{Seed: 8}, PortScan{At: at, Namespace: "shop", Workload: "frontend", TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 1, LastPort: 600})
	s := NewSource(c)
	if s.Kind() != "simulated" {
		t.Errorf("Kind() = %q", s.Kind())
	}
	ctx := context.Background()
	tests := []struct {
		name string
		w    source.Window
	}{
		{"a quiet window", window(day0.Add(9*time.Hour), 5*time.Minute)},
		{"the window of the port scan", window(day0.Add(9*time.Hour+10*time.Minute), 5*time.Minute)},
		{"a 15-minute window", window(day0.Add(9*time.Hour+5*time.Minute), 15*time.Minute)},
		{"a window asked for before the ones it follows", window(day0.Add(8*time.Hour), 5*time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := c.Window(tt.w)
			for lt, n := range map[calicolog.LogType]int{calicolog.Flows: len(want.Flows), calicolog.DNS: len(want.DNS), calicolog.L7: len(want.L7)} {
				got, err := s.Count(ctx, tt.w, lt)
				if err != nil {
					t.Fatal(err)
				}
				if got.Records != int64(n) || got.Malformed != 0 {
					t.Errorf("%s: Count = %+v, want %d records", lt, got, n)
				}
			}
			rows, err := s.Aggregate(ctx, tt.w, portScanQuery)
			if err != nil {
				t.Fatal(err)
			}
			wantDistinct := distinctBySource(want.Flows)
			if len(rows) != len(wantDistinct) {
				t.Errorf("%d rows, want %d entities", len(rows), len(wantDistinct))
			}
			for _, r := range rows {
				e := entity{r.Key[0], r.Key[1], r.Key[2]}
				d := wantDistinct[e]
				if int(r.Values[0]) != d.ports || int(r.Values[1]) != d.ips {
					t.Errorf("%s: %v distinct ports and %v IPs, want %d and %d", e, r.Values[0], r.Values[1], d.ports, d.ips)
				}
			}
			if got := s.Truth(tt.w); !reflect.DeepEqual(got, want.Truth) {
				t.Errorf("Truth = %v, want %v", got, want.Truth)
			}
			samples, err := s.Samples(ctx, tt.w, calicolog.Flows, []source.Term{{Field: "source_namespace", Values: []string{"shop"}}}, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(samples) == 0 || len(samples) > 3 {
				t.Fatalf("%d samples, want 1 to 3", len(samples))
			}
			for _, raw := range samples {
				f, err := calicolog.DecodeFlowLog(raw)
				if err != nil || f.SourceNamespace != "shop" || !tt.w.Contains(f.EndTime.Time()) {
					t.Errorf("sample %s (%v) does not match the filter or window", raw, err)
				}
			}
		})
	}
}

func TestSourceKeepsABoundedNumberOfBuckets(t *testing.T) {
	c := New(Options{Seed: 9})
	s := NewSourceWithRetention(c, time.Hour)
	ctx := context.Background()
	count := func(w source.Window) int64 {
		n, err := s.Count(ctx, w, calicolog.Flows)
		if err != nil {
			t.Fatal(err)
		}
		return n.Records
	}
	for i := range 48 { // four hours, in order
		w := window(day0.Add(time.Duration(i)*c.Bucket()), c.Bucket())
		if got, want := count(w), int64(len(c.Window(w).Flows)); got != want {
			t.Fatalf("%s: %d records, want %d", w, got, want)
		}
		if len(s.have) > 12 {
			t.Fatalf("after %s the source holds %d buckets, want at most 12", w, len(s.have))
		}
	}
	tests := []struct {
		name string
		w    source.Window
	}{
		{"a window it forgot", window(day0, c.Bucket())},
		{"a window longer than the retention", window(day0, 2*time.Hour)},
		{"the newest window again", window(day0.Add(47*c.Bucket()), c.Bucket())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := count(tt.w), int64(len(c.Window(tt.w).Flows)); got != want {
				t.Errorf("%d records, want %d", got, want)
			}
		})
	}
}

func TestSourceIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	c := New(Options{Seed: 10}, DemoAttacks(day0, time.Hour, 4)...)
	s := NewSourceWithRetention(c, 30*time.Minute) // small, so goroutines evict each other's windows
	want := map[time.Time]int64{}
	for i := range 24 {
		start := day0.Add(time.Duration(i) * c.Bucket())
		want[start] = int64(len(c.Window(window(start, c.Bucket())).Flows))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 0))
			for range 40 {
				start := day0.Add(time.Duration(r.IntN(24)) * c.Bucket())
				w := window(start, c.Bucket())
				n, err := s.Count(context.Background(), w, calicolog.Flows)
				if err == nil && n.Records != want[start] {
					err = fmt.Errorf("%s: %d records, want %d", w, n.Records, want[start])
				}
				if err == nil {
					_, err = s.Aggregate(context.Background(), w, portScanQuery)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestDetectorsFireExactlyOnTheLabels runs the real port_scan (at the
// demo threshold, 200) and ip_sweep (default, 32) detectors over the
// simulated source through the demo attacks: their anomalous verdicts must
// be exactly the ground truth.
func TestDetectorsFireExactlyOnTheLabels(t *testing.T) {
	start := day0.Add(13 * time.Hour)
	c := New(Options{Seed: 12}, DemoAttacks(start, time.Hour, 4)...)
	s := NewSource(c)
	var detectors []detect.Detector
	for name, params := range map[string]map[string]string{"port_scan": {"threshold": "200"}, "ip_sweep": nil} {
		info, ok := detect.Lookup(name)
		if !ok {
			t.Fatalf("no detector %s", name)
		}
		d, err := info.New(detect.Options{Cluster: c.Name(), Params: params})
		if err != nil {
			t.Fatal(err)
		}
		detectors = append(detectors, d)
	}
	type hit struct {
		detector string
		entity   detect.Entity
		window   source.Window
	}
	fired, want := map[hit]bool{}, map[hit]bool{}
	for ws := start.Add(-time.Hour); ws.Before(start.Add(4 * time.Hour)); ws = ws.Add(c.Bucket()) {
		w := window(ws, c.Bucket())
		for _, d := range detectors {
			var rows [][]source.Row
			for _, q := range d.Queries() {
				r, err := s.Aggregate(context.Background(), w, q)
				if err != nil {
					t.Fatal(err)
				}
				rows = append(rows, r)
			}
			for _, v := range d.Judge(w, rows) {
				if v.Anomalous() {
					fired[hit{v.Detector, v.Entity, v.Window}] = true
				}
			}
		}
		for _, l := range s.Truth(w) {
			for _, d := range l.Detectors {
				want[hit{d, detect.Entity{Cluster: l.Cluster, Namespace: l.Namespace, Workload: l.Workload, Type: l.Type}, l.Window}] = true
			}
		}
	}
	if len(want) != 8 {
		t.Errorf("%d labels, want 8 (4 rounds of a scan and a sweep)", len(want))
	}
	if !reflect.DeepEqual(fired, want) {
		for h := range fired {
			if !want[h] {
				t.Errorf("false positive: %s on %s in %s", h.detector, h.entity.Key(), h.window)
			}
		}
		for h := range want {
			if !fired[h] {
				t.Errorf("missed: %s on %s in %s", h.detector, h.entity.Key(), h.window)
			}
		}
	}
}
