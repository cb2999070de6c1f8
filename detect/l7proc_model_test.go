package detect

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Each learned HTTP and process detector saves its model, loads it back
// into a fresh instance that then judges exactly as the original, saves
// the same bytes again, and refuses a damaged file, another detector's
// file, and leaves its model unchanged when it does.
func TestHTTPAndProcessModelsSurviveARestart(t *testing.T) {
	if testing.Short() {
		t.Skip("plays two simulated days")
	}
	c := simulate.New(simulate.Options{Seed: 5}, simulate.HTTPBackground{})
	src := simulate.NewSourceWithRetention(c, time.Hour)
	bucket := c.Bucket()
	start := weekStart
	learnEnd := start.Add(50 * time.Hour)
	ctx := context.Background()
	rowsOf := func(d Detector, w source.Window) [][]source.Row {
		qs := d.Queries()
		rows := make([][]source.Row, len(qs))
		for i, q := range qs {
			r, err := src.Aggregate(ctx, w, q)
			if err != nil {
				t.Fatal(err)
			}
			rows[i] = r
		}
		return rows
	}
	for _, name := range l7procDetectors {
		t.Run(name, func(t *testing.T) {
			info, _ := Lookup(name)
			o := Options{Cluster: c.Name(), Bucket: bucket, Seed: 1}
			d, err := info.New(o)
			if err != nil {
				t.Fatal(err)
			}
			for at := start; at.Before(learnEnd); at = at.Add(bucket) {
				w := source.Window{Start: at, End: at.Add(bucket)}
				if d.Ready() {
					d.Judge(w, rowsOf(d, w))
				} else {
					d.(Learner).Learn(w, rowsOf(d, w))
				}
			}
			var saved bytes.Buffer
			if err := d.(Persistent).SaveModel(&saved); err != nil {
				t.Fatal(err)
			}
			fresh, _ := info.New(o)
			if err := fresh.(Persistent).LoadModel(bytes.NewReader(saved.Bytes())); err != nil {
				t.Fatalf("load: %v", err)
			}
			var again bytes.Buffer
			if err := fresh.(Persistent).SaveModel(&again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(saved.Bytes(), again.Bytes()) {
				t.Error("a loaded model saves different bytes")
			}
			if fresh.Ready() != d.Ready() {
				t.Errorf("ready %v after load, %v before", fresh.Ready(), d.Ready())
			}
			w := source.Window{Start: learnEnd, End: learnEnd.Add(bucket)}
			rows := rowsOf(d, w)
			got, want := fresh.Judge(w, rows), d.Judge(w, rows)
			if len(want) == 0 {
				t.Error("the original judged nothing after two days")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the loaded model judges differently:\n got %+v\nwant %+v", got, want)
			}

			damaged := append([]byte(nil), saved.Bytes()...)
			damaged[len(damaged)/2] ^= 0x40
			broken, _ := info.New(o)
			if err := broken.(Persistent).LoadModel(bytes.NewReader(damaged)); err == nil {
				t.Error("a damaged model was loaded")
			}
			if err := broken.(Persistent).LoadModel(bytes.NewReader(saved.Bytes()[:len(saved.Bytes())-9])); err == nil {
				t.Error("a truncated model was loaded")
			}
			if broken.Ready() {
				t.Error("a refused load changed the model")
			}
			for _, other := range l7procDetectors {
				if other == name {
					continue
				}
				oi, _ := Lookup(other)
				od, _ := oi.New(o)
				if err := od.(Persistent).LoadModel(bytes.NewReader(saved.Bytes())); err == nil {
					t.Errorf("%s loaded the model of %s", other, name)
				}
			}
		})
	}
}
