package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// benchEntities is how many workloads a benchmark window holds.
const benchEntities = 1000

// benchRows builds one window's rows for detector name: entities
// workloads of a few pods, methods, codes or processes each.
func benchRows(name string, w source.Window, entities int) [][]source.Row {
	hour := float64(w.Start.Hour())
	var q0, q1 []source.Row
	for i := range entities {
		ns, aggr := fmt.Sprintf("team-%d", i/20), fmt.Sprintf("svc-%d-*", i)
		key := func(extra ...string) []string { return append([]string{ns, aggr, "wep"}, extra...) }
		n := 100 + 10*hour + float64(i%7)
		switch name {
		case "http_connection_spike":
			q0 = append(q0, source.Row{Key: key(), Values: []float64{n}})
		case "http_response_codes":
			q0 = append(q0, source.Row{Key: key("200"), Values: []float64{n}}, source.Row{Key: key("404"), Values: []float64{2}},
				source.Row{Key: key("503"), Values: []float64{float64(i % 2)}})
		case "http_verbs":
			q0 = append(q0, source.Row{Key: key("GET"), Values: []float64{n}}, source.Row{Key: key("POST"), Values: []float64{n / 3}},
				source.Row{Key: key("HEAD"), Values: []float64{10}})
		case "process_restarts":
			for p := range 3 {
				pod := fmt.Sprintf("svc-%d-pod%d", i, p)
				q0 = append(q0, source.Row{Key: key(pod, "/app", fmt.Sprint(1000*i+p), "worker-1"), Values: []float64{1}})
				q1 = append(q1, source.Row{Key: key(pod, "/app", fmt.Sprint(1000*i+p), "worker-1"), Values: []float64{1}})
			}
		case "process_bytes":
			for p := range 3 {
				pod := fmt.Sprintf("svc-%d-pod%d", i, p)
				q0 = append(q0, source.Row{Key: key(pod, "/app"), Values: []float64{1000 * n, 3000 * n}})
				q1 = append(q1, source.Row{Key: key(pod, "/app"), Values: []float64{2000 * n, 500 * n}})
			}
		}
	}
	if q1 != nil {
		return [][]source.Row{q0, q1}
	}
	return [][]source.Row{q0}
}

// BenchmarkHTTPAndProcessJudge is one window of 1,000 workloads judged by
// each detector after three days of hourly history.
func BenchmarkHTTPAndProcessJudge(b *testing.B) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	bucket := 5 * time.Minute
	for _, name := range l7procDetectors {
		b.Run(name, func(b *testing.B) {
			info, _ := Lookup(name)
			d, err := info.New(Options{Cluster: "c", Bucket: bucket})
			if err != nil {
				b.Fatal(err)
			}
			at := start
			for ; at.Before(start.Add(72 * time.Hour)); at = at.Add(20 * time.Minute) {
				w := source.Window{Start: at, End: at.Add(bucket)}
				d.(Learner).Learn(w, benchRows(name, w, benchEntities))
			}
			w := source.Window{Start: at, End: at.Add(bucket)}
			rows := benchRows(name, w, benchEntities)
			if !d.Ready() || len(d.Judge(w, rows)) == 0 {
				b.Fatal("the detector judged nothing")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				d.Judge(w, rows)
			}
		})
	}
}
