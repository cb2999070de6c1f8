package nab

import (
	"testing"
	"time"
)

func TestResample(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2014, 3, 3, h, m, 0, 0, time.UTC) }
	w := Window{Start: at(1, 0), End: at(2, 0)}
	s := &Series{Name: "g/s.csv", Windows: []Window{w}, Labels: []time.Time{at(1, 30)}, Rows: []Row{
		{at(0, 4), 1}, {at(0, 19), 3}, {at(0, 34), 5}, {at(0, 59), 7}, // one hour: mean 4
		{at(2, 14), 10}, // an hour skipped, then one sample
	}}
	tests := []struct {
		every time.Duration
		want  []Row
	}{
		{time.Hour, []Row{{at(0, 0), 4}, {at(2, 0), 10}}},
		{30 * time.Minute, []Row{{at(0, 0), 2}, {at(0, 30), 6}, {at(2, 0), 10}}},
	}
	for _, tc := range tests {
		got, err := Resample(&Corpus{Series: []*Series{s}}, tc.every)
		if err != nil {
			t.Fatal(err)
		}
		r := got.Series[0]
		if len(r.Rows) != len(tc.want) {
			t.Fatalf("every %v: rows %v, want %v", tc.every, r.Rows, tc.want)
		}
		for i := range tc.want {
			if r.Rows[i] != tc.want[i] {
				t.Errorf("every %v: row %d is %v, want %v", tc.every, i, r.Rows[i], tc.want[i])
			}
		}
		if r.Name != s.Name || len(r.Windows) != 1 || r.Windows[0] != w || len(r.Labels) != 1 {
			t.Errorf("every %v: name, windows or labels changed: %+v", tc.every, r)
		}
	}
	if len(s.Rows) != 5 {
		t.Error("the source series was changed")
	}
	if _, err := Resample(&Corpus{Series: []*Series{s}}, time.Second); err == nil {
		t.Error("a resampling under a minute accepted")
	}
}
