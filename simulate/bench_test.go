package simulate

import (
	"testing"
	"time"
)

// BenchmarkWindow generates successive 5-minute windows of the default
// cluster (with the demo attacks) and reports records generated per second.
func BenchmarkWindow(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"default", Options{Seed: 1}},
		{"scale=10", Options{Seed: 1, Scale: 10}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := New(bc.opts, DemoAttacks(day0, time.Hour, 24)...)
			records := 0
			i := 0
			for b.Loop() {
				records += c.Window(window(day0.Add(time.Duration(i%288)*c.Bucket()), c.Bucket())).Len()
				i++
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(records)/float64(i), "records/window")
		})
	}
}
