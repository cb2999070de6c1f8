package detect

import (
	"bytes"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// FuzzLoadHTTPAndProcessModels feeds arbitrary bytes to the model loaders
// of the HTTP and process detectors (a model file is read from disk at
// start): they must refuse or load without panicking, and a model they
// load must save again and judge a window.
func FuzzLoadHTTPAndProcessModels(f *testing.F) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	bucket := 5 * time.Minute
	for i, name := range l7procDetectors {
		info, _ := Lookup(name)
		d, _ := info.New(Options{Cluster: "c", Bucket: bucket})
		for at := start; at.Before(start.Add(2 * time.Hour)); at = at.Add(bucket) {
			w := source.Window{Start: at, End: at.Add(bucket)}
			d.(Learner).Learn(w, benchRows(name, w, 5)[:len(d.Queries())])
		}
		var b bytes.Buffer
		if err := d.(Persistent).SaveModel(&b); err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b.Bytes())
	}
	f.Add(uint8(0), []byte("CAEMODEL\x01"))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		name := l7procDetectors[int(which)%len(l7procDetectors)]
		info, _ := Lookup(name)
		d, err := info.New(Options{Cluster: "c", Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.(Persistent).LoadModel(bytes.NewReader(data)); err != nil {
			return
		}
		var b bytes.Buffer
		if err := d.(Persistent).SaveModel(&b); err != nil {
			t.Fatalf("a loaded model does not save: %v", err)
		}
		w := source.Window{Start: start.Add(3 * time.Hour), End: start.Add(3*time.Hour + bucket)}
		d.Judge(w, benchRows(name, w, 5)[:len(d.Queries())])
	})
}
