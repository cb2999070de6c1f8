package perf

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func TestZZEqual(t *testing.T) {
	out := os.Getenv("ZZ_OUT")
	if out == "" {
		t.Skip()
	}
	const entities = 120
	ds, err := AllDetectors("c", bucket)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	at := benchStart
	for n := 0; n < 9*48; n++ {
		w := source.Window{Start: at, End: at.Add(bucket)}
		if n == 6*48 {
			for i, d := range ds {
				p, ok := d.(detect.Persistent)
				if !ok {
					continue
				}
				var b bytes.Buffer
				if err := p.SaveModel(&b); err != nil {
					t.Fatal(err)
				}
				info, _ := detect.Lookup(d.Name())
				nd, _ := info.New(detect.Options{Cluster: "c", Bucket: bucket, Seed: 1})
				if err := nd.(detect.Persistent).LoadModel(&b); err != nil {
					t.Fatal(err)
				}
				ds[i] = nd
			}
		}
		for _, d := range ds {
			rows := WindowRows(d, w, entities)
			var kept []source.Row
			for ri, r := range rows[0] {
				e := ri % entities
				if (e*13+n)%89 == 0 {
					continue // absent
				}
				if (e*7+n)%97 == 0 {
					vs := append([]float64(nil), r.Values...)
					for j := range vs {
						vs[j] *= 30
					}
					r.Values = vs
				}
				kept = append(kept, r)
			}
			rows[0] = kept
			if d.Ready() {
				for _, v := range d.Judge(w, rows) {
					fmt.Fprintf(&buf, "%d %s %s %x %s\n", n, d.Name(), v.Entity.Key(), math.Float64bits(v.Score), v.Summary)
				}
			} else if l, ok := d.(detect.Learner); ok {
				l.Learn(w, rows)
			}
		}
		at = at.Add(30 * time.Minute)
	}
	os.WriteFile(out, buf.Bytes(), 0o644)
}
