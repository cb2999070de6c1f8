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

// TestRowFlags: a row stands for the windows its value is held over, up to
// the next row's; two rows in one window share it; rows before from are
// history and never flagged.
func TestRowFlags(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2014, 2, 14, h, m, 0, 0, time.UTC) }
	// Hourly samples, then two within one window, then one more.
	s := &Series{Rows: []Row{{at(10, 0), 1}, {at(11, 0), 1}, {at(12, 0), 1}, {at(12, 2), 1}, {at(12, 10), 1}}}
	l := newLayout(s, 5*time.Minute, time.Hour)
	if want := []int{0, 12, 24, 24, 26}; !equalInts(l.index, want) {
		t.Fatalf("rows in windows %v, want %v", l.index, want)
	}
	for _, tc := range []struct {
		name string
		hit  []int // windows flagged
		from int
		want []bool
	}{
		{"the last window of an hour flags its row", []int{23}, 0, []bool{false, true, false, false, false}},
		{"the row's own window", []int{12}, 0, []bool{false, true, false, false, false}},
		{"two rows in one window share it", []int{24}, 0, []bool{false, false, true, true, false}},
		{"the window between them is the second's", []int{25}, 0, []bool{false, false, false, true, false}},
		{"the last row holds its own window", []int{26}, 0, []bool{false, false, false, false, true}},
		{"history is not flagged", []int{5, 13}, 1, []bool{false, true, false, false, false}},
		{"nothing flagged", nil, 0, []bool{false, false, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits := make([]bool, l.windows)
			for _, k := range tc.hit {
				hits[k] = true
			}
			got := l.rowFlags(hits, tc.from)
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Fatalf("flags %v, want %v", got, tc.want)
				}
			}
		})
	}
}
