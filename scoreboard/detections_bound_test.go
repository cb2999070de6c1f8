package scoreboard

import (
	"fmt"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func anomalousIn(namespaces ...string) []detect.Verdict {
	out := make([]detect.Verdict, len(namespaces))
	for i, ns := range namespaces {
		out[i] = detect.Verdict{Detector: "port_scan", Entity: detect.Entity{Namespace: ns, Workload: "w", Type: "wep"}, Score: 0.9, Threshold: 0.5}
	}
	return out
}

// TestDetectionSeriesAreBounded: 50,000 namespaces with one detection
// each give at most the bound of detection series (plus _other), and no
// detection is lost: those beyond are counted under _other and folded.
func TestDetectionSeriesAreBounded(t *testing.T) {
	const bound, namespaces = 10, 50000
	s := New(bound)
	var all []string
	for i := range namespaces {
		all = append(all, fmt.Sprintf("ns-%05d", i))
	}
	w := source.Window{Start: time.Unix(0, 0), End: time.Unix(300, 0)}
	s.Publish("port_scan", w, anomalousIn(all...), true, 0, time.Unix(300, 0))
	// A namespace already counted keeps its series in later windows.
	s.Publish("port_scan", w, anomalousIn(all[0]), true, 0, time.Unix(600, 0))
	snap := s.Snapshot()
	if len(snap.Detections) != bound+1 {
		t.Errorf("%d detection series, want %d and _other", len(snap.Detections), bound)
	}
	var total uint64
	for _, n := range snap.Detections {
		total += n
	}
	if total != namespaces+1 {
		t.Errorf("%d detections counted, want %d", total, namespaces+1)
	}
	if got := snap.Detectors["port_scan"].DetectionsFolded; got != namespaces-bound {
		t.Errorf("DetectionsFolded = %d, want %d", got, namespaces-bound)
	}
	if got := snap.Detections[DetectionKey{Detector: "port_scan", Namespace: all[0]}]; got != 2 {
		t.Errorf("the first namespace counted %d, want 2", got)
	}
}

// FuzzDetectionBound: whatever namespaces arrive, over several windows,
// the series stay within the bound and the counts add up.
func FuzzDetectionBound(f *testing.F) {
	f.Add([]byte("abcabcdefghij"), uint8(3))
	f.Add([]byte{0, 1, 2, 3, 255}, uint8(1))
	f.Fuzz(func(t *testing.T, names []byte, bound uint8) {
		s := New(int(bound))
		w := source.Window{Start: time.Unix(0, 0), End: time.Unix(300, 0)}
		for i := 0; i < len(names); i += 4 {
			var nss []string
			for _, b := range names[i:min(i+4, len(names))] {
				nss = append(nss, fmt.Sprintf("ns-%d", b))
			}
			s.Publish("port_scan", w, anomalousIn(nss...), true, 0, time.Unix(300, 0))
		}
		snap := s.Snapshot()
		var total uint64
		for _, n := range snap.Detections {
			total += n
		}
		if total != uint64(len(names)) {
			t.Fatalf("%d detections counted of %d", total, len(names))
		}
		if bound > 0 && len(snap.Detections) > int(bound)+1 {
			t.Fatalf("%d series beyond the bound %d", len(snap.Detections), bound)
		}
	})
}
