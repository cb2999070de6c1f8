package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// freshNames answers every window with perWindow workloads never seen
// before, each reaching one port: the hostile stream of fresh names.
type freshNames struct{ perWindow int }

func (f freshNames) Kind() string { return "elasticsearch" }

func (f freshNames) Count(context.Context, source.Window, calicolog.LogType) (source.Counts, error) {
	return source.Counts{Records: int64(f.perWindow)}, nil
}

func (f freshNames) Aggregate(_ context.Context, w source.Window, q source.Query) ([]source.Row, error) {
	if len(q.GroupBy) != 4 || q.GroupBy[3] != "dest_port" {
		return nil, nil
	}
	rows := make([]source.Row, f.perWindow)
	for i := range rows {
		rows[i] = source.Row{Key: []string{"shop", fmt.Sprintf("w%d-%d-*", w.Start.Unix(), i), "wep", "443"}, Values: []float64{1}}
	}
	return rows, nil
}

func (f freshNames) Samples(context.Context, source.Window, calicolog.LogType, []source.Term, int) ([]json.RawMessage, error) {
	return nil, nil
}

// TestEntitiesAreBoundedWhateverNamesArrive: six windows of 1,000 fresh
// workload names keep at most the bound of entities in port_scan's model,
// the least recently seen forgotten and counted; without a bound all
// 6,000 stay.
func TestEntitiesAreBoundedWhateverNamesArrive(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		bound, wantEntities int
		wantEvicted         bool
	}{
		{bound: 1500, wantEntities: 1500, wantEvicted: true},
		{bound: 0, wantEntities: 6000},
	} {
		t.Run(fmt.Sprintf("bound %d", tc.bound), func(t *testing.T) {
			detectors, err := Build([]string{"port_scan"}, "c1", func(string) string { return "" }, nil)
			if err != nil {
				t.Fatal(err)
			}
			board := scoreboard.New(0)
			e, err := New(Config{Interval: 5 * time.Minute, Start: start, MaxEntitiesPerDetector: tc.bound},
				freshNames{perWindow: 1000}, detectors, board, &fixedClock{now: start.Add(time.Hour)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 6 {
				w := source.Window{Start: start.Add(time.Duration(i) * 5 * time.Minute), End: start.Add(time.Duration(i+1) * 5 * time.Minute)}
				if err := e.ProcessWindow(context.Background(), w); err != nil {
					t.Fatal(err)
				}
			}
			st := board.Snapshot().Detectors["port_scan"]
			if st.Entities != tc.wantEntities {
				t.Errorf("%d entities kept, want %d", st.Entities, tc.wantEntities)
			}
			if (st.EntitiesEvicted > 0) != tc.wantEvicted {
				t.Errorf("%d entities evicted, want some: %v", st.EntitiesEvicted, tc.wantEvicted)
			}
		})
	}
}
