package source

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// referenceBucket decodes a bucket the plain way (maps of raw members,
// encoding/json for every value): the meaning compositeBucket.row must
// keep, against which it is tested.
type referenceBucket struct {
	Key      map[string]json.RawMessage
	DocCount float64
	Metrics  map[string]json.RawMessage
}

func (b *referenceBucket) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	b.Metrics = raw
	if k, ok := raw["key"]; ok {
		if err := json.Unmarshal(k, &b.Key); err != nil {
			return fmt.Errorf("bucket key: %w", err)
		}
	}
	if dc, ok := raw["doc_count"]; ok {
		if err := json.Unmarshal(dc, &b.DocCount); err != nil {
			return fmt.Errorf("bucket doc_count: %w", err)
		}
	}
	return nil
}

func (b *referenceBucket) row(q Query) (Row, bucketWeights, error) {
	row := Row{Key: make([]string, len(q.GroupBy)), Values: make([]float64, len(q.Metrics))}
	w := bucketWeights{present: make([]bool, len(q.Metrics)), counts: make([]float64, len(q.Metrics))}
	for i := range q.GroupBy {
		s, err := keyString(b.Key[groupKey(i)])
		if err != nil {
			return Row{}, w, err
		}
		row.Key[i] = s
	}
	for i, m := range q.Metrics {
		if m.Kind == Count {
			row.Values[i] = b.DocCount
			w.present[i], w.counts[i] = true, b.DocCount
			continue
		}
		var v struct {
			Value *float64 `json:"value"`
			Avg   *float64 `json:"avg"`
			Count *float64 `json:"count"`
		}
		if raw, ok := b.Metrics[metricKey(i)]; ok {
			if err := json.Unmarshal(raw, &v); err != nil {
				return Row{}, w, err
			}
		}
		switch {
		case m.Kind == Avg && v.Avg != nil && v.Count != nil:
			row.Values[i] = *v.Avg
			w.present[i], w.counts[i] = *v.Count > 0, *v.Count
		case m.Kind != Avg && v.Value != nil:
			row.Values[i] = *v.Value
			w.present[i] = true
		}
	}
	return row, w, nil
}

// bucketQuery has every kind of metric and a key of three fields.
var bucketQuery = Query{Name: "q", Log: calicolog.Flows, GroupBy: []string{"source_namespace", "dest_port", "proto"}, Metrics: []Metric{
	{Name: "records", Kind: Count}, {Name: "bytes", Kind: Sum, Field: "bytes_out"}, {Name: "peak", Kind: Max, Field: "bytes_out"},
	{Name: "mean", Kind: Avg, Field: "bytes_out"}, {Name: "peers", Kind: Cardinality, Field: "dest_ip"},
}}

// sameRow compares two decodings, NaN-free values exactly.
func sameRow(a, b Row, aw, bw bucketWeights) bool {
	for i := range a.Values {
		if a.Values[i] != b.Values[i] && !(math.IsNaN(a.Values[i]) && math.IsNaN(b.Values[i])) {
			return false
		}
	}
	return reflect.DeepEqual(a.Key, b.Key) && len(a.Values) == len(b.Values) && reflect.DeepEqual(aw, bw)
}

func TestBucketRowReadsWhatElasticsearchWrites(t *testing.T) {
	for _, tc := range []struct {
		name, bucket string
		want         Row
		wantErr      bool
	}{
		{"every kind", `{"key":{"k0":"ns","k1":443,"k2":null},"doc_count":3,"m1":{"value":10.0},"m2":{"value":7.0},"m3":{"count":2,"min":1,"max":3,"avg":2.0,"sum":4},"m4":{"value":2}}`,
			Row{Key: []string{"ns", "443", ""}, Values: []float64{3, 10, 7, 2, 2}}, false},
		{"members in any order, spaces, unknown ones", ` { "m4" : { "value" : 5 } , "x" : [1, {"a": "b"}], "doc_count" : 1 , "key" : { "k2" : "tcp" , "k9": "ignored", "k0" : "a\"b", "k1": 8.5 } } `,
			Row{Key: []string{`a"b`, "8.5", "tcp"}, Values: []float64{1, 0, 0, 0, 5}}, false},
		{"null metrics and an empty stats", `{"key":{"k0":"n"},"doc_count":0,"m1":{"value":null},"m2":null,"m3":{"count":0,"min":null,"max":null,"avg":null,"sum":0}}`,
			Row{Key: []string{"n", "", ""}, Values: []float64{0, 0, 0, 0, 0}}, false},
		{"a leading-zero name is not a metric", `{"key":{"k00":"x"},"doc_count":2,"m01":{"value":9}}`,
			Row{Key: []string{"", "", ""}, Values: []float64{2, 0, 0, 0, 0}}, false},
		{"a metric that is no object", `{"key":{},"doc_count":1,"m1":5}`, Row{}, true},
		{"a value that is a string", `{"key":{},"doc_count":1,"m2":{"value":"5"}}`, Row{}, true},
		{"a doc_count that is a string", `{"key":{},"doc_count":"1"}`, Row{}, true},
		{"a key that is an object", `{"key":{"k0":{"a":1}},"doc_count":1}`, Row{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b compositeBucket
			if err := json.Unmarshal([]byte(tc.bucket), &b); err != nil {
				t.Fatal(err)
			}
			row, _, err := b.row(bucketQuery)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want one: %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(row, tc.want) {
				t.Errorf("row %+v, want %+v", row, tc.want)
			}
		})
	}
}

// FuzzBucketRowAgreesWithPlainDecoding: whatever bytes encoding/json
// accepts as a bucket, compositeBucket.row gives the row, weights and
// error-or-not the plain decoding gives.
func FuzzBucketRowAgreesWithPlainDecoding(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var page struct {
			Aggregations struct {
				Groups struct {
					Buckets []json.RawMessage `json:"buckets"`
				} `json:"groups"`
			} `json:"aggregations"`
		}
		if json.Unmarshal(b, &page) == nil {
			for _, bucket := range page.Aggregations.Groups.Buckets {
				f.Add([]byte(bucket))
			}
		}
	}
	f.Add([]byte(`{"key":{"k0":"ns","k1":443,"k2":null},"doc_count":3,"m1":{"value":10.0},"m3":{"count":2,"avg":2.0},"m4":{"value":2}}`))
	f.Add([]byte(`{"key":{"k0":"\u00e9\ud800","k1":1e400,"k2":true},"doc_count":null,"m2":{"value":-0}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ref referenceBucket
		var fast compositeBucket
		refErr := json.Unmarshal(data, &ref)
		fastErr := json.Unmarshal(data, &fast)
		if refErr != nil || fastErr != nil {
			return // encoding/json refuses the page before any bucket is read
		}
		rr, rw, rerr := ref.row(bucketQuery)
		fr, fw, ferr := fast.row(bucketQuery)
		if (rerr != nil) != (ferr != nil) {
			t.Fatalf("%s: plain error %v, this one %v", data, rerr, ferr)
		}
		if rerr == nil && !sameRow(rr, fr, rw, fw) {
			t.Fatalf("%s: plain %+v %+v, this one %+v %+v", data, rr, rw, fr, fw)
		}
	})
}

// BenchmarkCompositePage50k decodes a page of 50,000 buckets keyed by
// three fields with the four kinds of metric into rows, as Aggregate does
// with each page.
func BenchmarkCompositePage50k(b *testing.B) {
	var page []byte
	page = append(page, `{"took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"aggregations":{"groups":{"after_key":{"k0":"x"},"buckets":[`...)
	for i := range 50000 {
		if i > 0 {
			page = append(page, ',')
		}
		page = fmt.Appendf(page, `{"key":{"k0":"team-%d","k1":"worker-%08x-*","k2":%d},"doc_count":%d,"m1":{"value":%d.0},"m2":{"value":%d.0},"m3":{"count":%d,"min":1.0,"max":9.0,"avg":%d.5,"sum":1.0},"m4":{"value":%d}}`,
			i%200, i*7919, 443+i%7, 1+i%40, i*1000, i%977, 1+i%40, i%50, 1+i%9)
	}
	page = append(page, `]}}}`...)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		var acc rowMerger
		res := compositeResponse{rows: &pageRows{q: bucketQuery, acc: &acc}}
		if err := res.DecodeAnswer(page); err != nil {
			b.Fatal(err)
		}
		if err := res.CheckAnswer(); err != nil {
			b.Fatal(err)
		}
		if n := len(acc.rows()); n != 50000 {
			b.Fatalf("%d rows", n)
		}
	}
}

// TestPageRowsMergeBucketsThatReadTheSame: buckets whose keys read the
// same ("" and null, -0 and 0) become one row, added up exactly; the
// others stay apart, whatever the order of the page.
func TestPageRowsMergeBucketsThatReadTheSame(t *testing.T) {
	bucket := func(key string, docs, sum, peak, mean, n, peers int) compositeBucket {
		return compositeBucket{raw: fmt.Appendf(nil, `{"key":%s,"doc_count":%d,"m1":{"value":%d},"m2":{"value":%d},"m3":{"count":%d,"avg":%d},"m4":{"value":%d}}`,
			key, docs, sum, peak, n, mean, peers)}
	}
	for _, tc := range []struct {
		name    string
		buckets []compositeBucket
		want    []Row
	}{
		{"distinct keys stay apart", []compositeBucket{
			bucket(`{"k0":"a","k1":80,"k2":"tcp"}`, 1, 10, 10, 10, 1, 1),
			bucket(`{"k0":"a","k1":443,"k2":"tcp"}`, 2, 20, 15, 10, 2, 1),
			bucket(`{"k0":"b","k1":80,"k2":"tcp"}`, 3, 30, 30, 10, 3, 2),
		}, []Row{
			{Key: []string{"a", "443", "tcp"}, Values: []float64{2, 20, 15, 10, 1}},
			{Key: []string{"a", "80", "tcp"}, Values: []float64{1, 10, 10, 10, 1}},
			{Key: []string{"b", "80", "tcp"}, Values: []float64{3, 30, 30, 10, 2}},
		}},
		{"null and empty namespace, rows between them", []compositeBucket{
			bucket(`{"k0":null,"k1":80,"k2":"tcp"}`, 1, 10, 10, 10, 1, 3),
			bucket(`{"k0":null,"k1":81,"k2":"tcp"}`, 5, 50, 50, 10, 5, 1),
			bucket(`{"k0":"","k1":80,"k2":"tcp"}`, 3, 30, 20, 30, 3, 2),
		}, []Row{
			{Key: []string{"", "80", "tcp"}, Values: []float64{4, 40, 20, 25, 3}},
			{Key: []string{"", "81", "tcp"}, Values: []float64{5, 50, 50, 10, 1}},
		}},
		{"-0 and 0", []compositeBucket{
			bucket(`{"k0":"a","k1":-0.0,"k2":"tcp"}`, 1, 10, 10, 10, 1, 1),
			bucket(`{"k0":"a","k1":0,"k2":"tcp"}`, 1, 10, 5, 20, 1, 1),
		}, []Row{{Key: []string{"a", "0", "tcp"}, Values: []float64{2, 20, 10, 15, 1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, reversed := range []bool{false, true} {
				buckets := slices.Clone(tc.buckets)
				if reversed {
					slices.Reverse(buckets)
				}
				var acc rowMerger
				half := len(buckets) / 2 // two pages
				for _, page := range [][]compositeBucket{buckets[:half], buckets[half:]} {
					body := []byte(`{"took":1,"timed_out":false,"_shards":{"total":1,"failed":0},"aggregations":{"groups":{"buckets":[`)
					for i, b := range page {
						if i > 0 {
							body = append(body, ',')
						}
						body = append(body, b.raw...)
					}
					body = append(body, `]}}}`...)
					read := pageRows{q: bucketQuery, acc: &acc}
					res := compositeResponse{rows: &read}
					if err := res.DecodeAnswer(body); err != nil {
						t.Fatal(err)
					}
					if read.read != len(page) {
						t.Fatalf("%d buckets read of %d", read.read, len(page))
					}
				}
				rows := acc.rows()
				SortRows(rows)
				if !reflect.DeepEqual(rows, tc.want) {
					t.Errorf("reversed %v: rows %v, want %v", reversed, rows, tc.want)
				}
			}
		})
	}
}
