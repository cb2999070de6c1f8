package nab

import (
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

func TestLayout(t *testing.T) {
	// Sampled off the grid (14:27, 14:32, ...), with a sample missing
	// (14:42) and two at one time (14:47), a negative value and a zero
	// after the shift.
	at := func(m int) time.Time { return time.Date(2014, 2, 14, 14, m, 0, 0, time.UTC) }
	s := &Series{Rows: []Row{
		{at(27), -2}, {at(32), 0}, {at(37), 2}, {at(47), 4}, {at(47), 6}, {at(52), 2},
	}}
	l := newLayout(s, 5*time.Minute, time.Hour)
	if want := time.Date(2014, 2, 14, 14, 25, 0, 0, time.UTC); !l.base.Equal(want) {
		t.Errorf("base %s, want %s", l.base, want)
	}
	if want := []int{0, 1, 2, 4, 4, 5}; !equalInts(l.index, want) {
		t.Errorf("rows in windows %v, want %v", l.index, want)
	}
	// Shifted by 2: 0, 2, 4, 6, 8, 4; the median of the first hour's
	// rows (all of them) is 4, which becomes MedianBytes.
	unit := float64(MedianBytes) / 4
	want := []int64{0, int64(2 * unit), int64(4 * unit), int64(4 * unit), int64(7 * unit), int64(4 * unit)}
	if len(l.bytes) != len(want) {
		t.Fatalf("%d windows, want %d", len(l.bytes), len(want))
	}
	for k := range want {
		if l.bytes[k] != want[k] {
			t.Errorf("window %d: %d bytes, want %d", k, l.bytes[k], want[k])
		}
	}
	// The series' records: none in window 0 (zero bytes), and in each
	// other window its bytes sent and received across its pods.
	sent := map[int]int64{}
	received := map[int]int64{}
	neighbours := 0
	for _, f := range l.flowLogs(1) {
		k := int(time.Unix(int64(f.EndTime), 0).Sub(l.base) / l.bucket)
		switch {
		case f.Reporter == "src" && f.SourceNamespace == SeriesNamespace:
			sent[k] += f.BytesOut
			if f.DestType != calicolog.TypeNetwork || f.NumFlows < 1 || f.PacketsOut < 1 {
				t.Errorf("outbound record %+v: want a flow to a network with flows and packets", f)
			}
		case f.Reporter == "dst" && f.DestNamespace == SeriesNamespace:
			received[k] += f.BytesIn
		default:
			neighbours++
		}
	}
	for k := range want {
		if sent[k] != want[k] || received[k] != want[k] {
			t.Errorf("window %d: sent %d, received %d; want %d", k, sent[k], received[k], want[k])
		}
	}
	if neighbours != len(want)*neighboursPerWindow() {
		t.Errorf("%d neighbour records, want %d", neighbours, len(want)*neighboursPerWindow())
	}
}

func neighboursPerWindow() int { return neighbours * podsPerWorkload * 2 }

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
