package scoreboard

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func win(i int) source.Window {
	return source.Window{Start: t0.Add(time.Duration(i) * 5 * time.Minute), End: t0.Add(time.Duration(i+1) * 5 * time.Minute)}
}

func verdicts(cluster string, n int, top float64) []detect.Verdict {
	var vs []detect.Verdict
	for i := range n {
		vs = append(vs, detect.Verdict{Detector: "port_scan", Entity: detect.Entity{Cluster: cluster, Namespace: "shop", Workload: fmt.Sprintf("app-%d-*", i), Type: "wep"},
			Score: top - float64(i)/100, Threshold: 0.5})
	}
	return vs
}

// Two engines of two clusters sharing a scoreboard keep their verdicts
// apart, each under its own series bound, and their health is summed up
// per detector.
func TestClustersKeepTheirOwnState(t *testing.T) {
	s := New(3)
	a, b := s.Cluster("a"), s.Cluster("b")
	a.AddDetector("port_scan", 0.5, true)
	b.AddDetector("port_scan", 0.5, false)
	a.SetSource("elasticsearch", true, 1)
	b.SetSource("elasticsearch", true, 2)
	a.Publish("port_scan", win(3), verdicts("a", 5, 0.9), true, time.Second, t0.Add(time.Hour))
	b.Publish("port_scan", win(1), verdicts("b", 2, 0.8), false, 2*time.Second, t0.Add(2*time.Hour))
	a.WindowDone(win(3))
	b.WindowDone(win(1))
	a.AddRecords("flows", 100, 1)
	b.AddRecords("flows", 50, 2)

	snap := s.Snapshot()
	if got, want := snap.Clusters, []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("clusters %v, want %v", got, want)
	}
	for _, tc := range []struct {
		cluster string
		n       int
		dropped uint64
	}{{"a", 3, 2}, {"b", 2, 0}} {
		k := DetectorKey{Cluster: tc.cluster, Detector: "port_scan"}
		vs := snap.ClusterVerdicts[k]
		if len(vs) != tc.n {
			t.Errorf("cluster %s: %d verdicts, want %d (the bound is per cluster)", tc.cluster, len(vs), tc.n)
		}
		for _, v := range vs {
			if v.Entity.Cluster != tc.cluster {
				t.Errorf("cluster %s holds a verdict of cluster %s", tc.cluster, v.Entity.Cluster)
			}
		}
		if st := snap.ClusterDetectors[k]; st.SeriesDropped != tc.dropped || st.Cluster != tc.cluster || st.Runs[ResultSuccess] != 1 {
			t.Errorf("cluster %s state %+v, want %d dropped and one run", tc.cluster, st, tc.dropped)
		}
	}
	all := snap.Verdicts["port_scan"]
	if len(all) != 5 {
		t.Fatalf("%d verdicts of port_scan over both clusters, want 5", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Score > all[i-1].Score {
			t.Errorf("merged verdicts not highest first: %v after %v", all[i].Score, all[i-1].Score)
		}
	}
	sum := snap.Detectors["port_scan"]
	if sum.Ready {
		t.Error("port_scan ready though cluster b's model is learning")
	}
	if sum.Runs[ResultSuccess] != 2 || sum.SeriesDropped != 2 {
		t.Errorf("summed state %+v, want 2 runs and 2 dropped", sum)
	}
	if !sum.LastRun.Equal(t0.Add(2*time.Hour)) || sum.LastDuration != 2*time.Second || sum.LastWindow != win(1) {
		t.Errorf("last run %v %v %v, want cluster b's (the latest)", sum.LastRun, sum.LastDuration, sum.LastWindow)
	}
	if !snap.NewestWindowEnd.Equal(win(1).End) {
		t.Errorf("newest window end %v, want that of the cluster furthest behind, %v", snap.NewestWindowEnd, win(1).End)
	}
	if snap.SourceRetries != 3 || !snap.SourceUp || snap.SourceKind != "elasticsearch" {
		t.Errorf("source %s up=%t retries=%d", snap.SourceKind, snap.SourceUp, snap.SourceRetries)
	}
	if snap.Records["flows"] != 150 || snap.Malformed["flows"] != 3 {
		t.Errorf("records %v malformed %v", snap.Records, snap.Malformed)
	}
	if snap.Detections[DetectionKey{Cluster: "a", Detector: "port_scan", Namespace: "shop"}] != 5 ||
		snap.Detections[DetectionKey{Cluster: "b", Detector: "port_scan", Namespace: "shop"}] != 2 {
		t.Errorf("detections %v", snap.Detections)
	}

	// A failure in one cluster leaves the other's verdicts alone, and is
	// named in the summed-up error.
	b.Fail("port_scan", win(2), errors.New("index not found"), time.Second, t0.Add(3*time.Hour))
	b.SetSource("elasticsearch", false, 3)
	snap = s.Snapshot()
	if n := len(snap.ClusterVerdicts[DetectorKey{"a", "port_scan"}]); n != 3 {
		t.Errorf("cluster a has %d verdicts after b failed, want 3", n)
	}
	if sum := snap.Detectors["port_scan"]; !strings.Contains(sum.LastError, "cluster b: index not found") || sum.Runs[ResultError] != 1 {
		t.Errorf("summed state %+v, want cluster b's error", sum)
	}
	if snap.SourceUp {
		t.Error("source up though cluster b's is down")
	}
}

// The scoreboard's own methods write the unnamed cluster: a lone engine
// sees exactly what it wrote, without cluster prefixes.
func TestUnnamedClusterIsTheLoneEngine(t *testing.T) {
	s := New(0)
	s.AddDetector("ip_sweep", 0.5, true)
	s.SetSource("simulated", true, 0)
	s.Publish("ip_sweep", win(0), verdicts("c", 2, 0.7), true, time.Second, t0)
	s.Fail("ip_sweep", win(1), errors.New("boom"), time.Second, t0)
	s.WindowDone(win(0))
	snap := s.Snapshot()
	st := snap.Detectors["ip_sweep"]
	if st.LastError != "boom" || st.Runs[ResultSuccess] != 1 || st.Runs[ResultError] != 1 || !st.Ready {
		t.Errorf("state %+v", st)
	}
	if !reflect.DeepEqual(snap.Clusters, []string{""}) {
		t.Errorf("clusters %q", snap.Clusters)
	}
	if got := snap.ClusterDetectors[DetectorKey{Detector: "ip_sweep"}]; got.LastError != "boom" {
		t.Errorf("per-cluster state %+v", got)
	}
	if len(snap.Verdicts["ip_sweep"]) != 2 || !snap.NewestWindowEnd.Equal(win(0).End) || snap.SourceKind != "simulated" {
		t.Errorf("snapshot %+v", snap)
	}
}

func TestSnapshotIsACopy(t *testing.T) {
	s := New(0)
	a := s.Cluster("a")
	a.Publish("port_scan", win(0), verdicts("a", 1, 0.9), true, time.Second, t0)
	snap := s.Snapshot()
	snap.Detectors["port_scan"].Runs[ResultSuccess] = 100
	snap.ClusterDetectors[DetectorKey{"a", "port_scan"}].Runs[ResultSuccess] = 100
	if got := s.Snapshot().Detectors["port_scan"].Runs[ResultSuccess]; got != 1 {
		t.Errorf("a snapshot's change reached the scoreboard: %d runs", got)
	}
}

// BenchmarkSnapshot takes the snapshot a scrape takes, with one cluster and
// with three sharing the scoreboard (their verdicts merged per detector).
func BenchmarkSnapshot(b *testing.B) {
	for _, clusters := range []int{1, 3} {
		b.Run(fmt.Sprintf("clusters=%d", clusters), func(b *testing.B) {
			s := New(0)
			for c := range clusters {
				name := fmt.Sprintf("c%d", c)
				for _, d := range []string{"port_scan", "ip_sweep", "generic_flows"} {
					vs := verdicts(name, 3000, 0.99)
					for i := range vs {
						vs[i].Detector = d
					}
					s.Cluster(name).Publish(d, win(0), vs, true, time.Second, t0)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				s.Snapshot()
			}
		})
	}
}
