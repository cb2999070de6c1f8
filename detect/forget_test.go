package detect

import (
	"bytes"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// A workload the HTTP and process detectors stop seeing (a replica set
// replaced by a rollout) leaves their saved models once forgetAfter has
// passed, while the workloads still seen stay.
func TestHTTPAndProcessModelsForgetWorkloadsThatAreGone(t *testing.T) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	bucket := 5 * time.Minute
	named := func(name, workload string, w source.Window) [][]source.Row {
		rows := benchRows(name, w, 1)
		for _, q := range rows {
			for i := range q {
				q[i].Key = append([]string(nil), q[i].Key...)
				q[i].Key[1] = workload
			}
		}
		return rows
	}
	for _, name := range l7procDetectors {
		t.Run(name, func(t *testing.T) {
			info, _ := Lookup(name)
			d, err := info.New(Options{Cluster: "c", Bucket: bucket})
			if err != nil {
				t.Fatal(err)
			}
			step := func(at time.Time, workloads ...string) {
				w := source.Window{Start: at, End: at.Add(bucket)}
				var rows [][]source.Row
				for _, wl := range workloads {
					r := named(name, wl, w)
					if rows == nil {
						rows = r
						continue
					}
					for i := range rows {
						rows[i] = append(rows[i], r[i]...)
					}
				}
				d.(Learner).Learn(w, rows)
			}
			saved := func() []byte {
				var b bytes.Buffer
				if err := d.(Persistent).SaveModel(&b); err != nil {
					t.Fatal(err)
				}
				return b.Bytes()
			}
			at := start
			for ; at.Before(start.Add(2 * time.Hour)); at = at.Add(bucket) {
				step(at, "gone-*", "stays-*")
			}
			// Models key a workload by name_aggr or, where a rollout keeps
			// the history, by its Deployment (gone-* → gone).
			if m := saved(); !bytes.Contains(m, []byte("gone")) || !bytes.Contains(m, []byte("stays")) {
				t.Fatal("the model did not learn both workloads")
			}
			for ; at.Before(start.Add(forgetAfter + 3*24*time.Hour)); at = at.Add(6 * time.Hour) {
				step(at, "stays-*")
			}
			m := saved()
			if bytes.Contains(m, []byte("gone")) {
				t.Error("a workload unseen for more than two weeks is still in the model")
			}
			if !bytes.Contains(m, []byte("stays")) {
				t.Error("a workload still seen was forgotten")
			}
		})
	}
}
