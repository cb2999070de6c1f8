package source_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/elastic"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// roundTripQueries are every registered detector's aggregations, and a few
// more that use each metric kind and a filter on each log type.
func roundTripQueries(t testing.TB, c *simulate.Cluster) []source.Query {
	t.Helper()
	var qs []source.Query
	for _, info := range detect.Registered() {
		d, err := info.New(detect.Options{Cluster: c.Name(), Bucket: c.Bucket(), Seed: 1})
		if err != nil {
			t.Fatalf("%s: %v", info.Name, err)
		}
		qs = append(qs, d.Queries()...)
	}
	return append(qs,
		source.Query{Name: "flows by destination", Log: calicolog.Flows,
			GroupBy: []string{"dest_namespace", "dest_name_aggr", "dest_type", "proto"},
			Filters: []source.Term{{Field: "reporter", Values: []string{"dst"}}, {Field: "action", Values: []string{"allow", "deny"}}},
			Metrics: []source.Metric{{Name: "n", Kind: source.Count}, {Name: "in", Kind: source.Sum, Field: "bytes_in"},
				{Name: "max", Kind: source.Max, Field: "bytes_out"}, {Name: "avg", Kind: source.Avg, Field: "num_flows"},
				{Name: "ips", Kind: source.Cardinality, Field: "source_ip"}}},
		source.Query{Name: "dns by client", Log: calicolog.DNS,
			GroupBy: []string{"client_namespace", "client_name_aggr", "rcode"},
			Metrics: []source.Metric{{Name: "names", Kind: source.Cardinality, Field: "qname"}, {Name: "latency", Kind: source.Max, Field: "latency_max"},
				{Name: "count", Kind: source.Sum, Field: "count"}}},
		source.Query{Name: "l7 by service", Log: calicolog.L7,
			GroupBy: []string{"dest_namespace", "dest_name_aggr", "response_code"},
			Metrics: []source.Metric{{Name: "count", Kind: source.Sum, Field: "count"}, {Name: "duration", Kind: source.Avg, Field: "duration_mean"},
				{Name: "urls", Kind: source.Cardinality, Field: "url"}}},
	)
}

// TestFileRoundTrip writes simulated windows with WriteNDJSON, reads them
// back with the file source, and expects every aggregation, count and
// sample the simulated source gives for the same windows.
func TestFileRoundTrip(t *testing.T) {
	day := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	from := day.Add(23*time.Hour + 40*time.Minute) // across midnight: two files per log type
	to := from.Add(40 * time.Minute)
	c := simulate.New(simulate.Options{Seed: 21},
		simulate.PortScan{At: from.Add(12 * time.Minute), Namespace: "shop", Workload: "frontend",
			TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 1, LastPort: 600},
		simulate.IPSweep{At: from.Add(27 * time.Minute), Namespace: "shop", Workload: "cart", CIDR: "10.244.7.0/24", Port: 22})
	queries := roundTripQueries(t, c)
	legacy := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}
	single := calicolog.IndexNaming{Layout: calicolog.LayoutSingle, Cluster: "west"}
	tests := []struct {
		name     string
		naming   calicolog.IndexNaming
		compress bool
		// hitsPerLine > 0 writes the documents WriteElasticsearch indexes
		// as _search hits (1) or responses of that many hits, in one file
		// whose name tells no log type.
		hitsPerLine int
	}{
		{"legacy layout, plain", legacy, false, 0},
		{"single-index layout, gzip", single, true, 0},
		{"legacy layout as _search hits", legacy, false, 1},
		{"single-index layout as _search responses, gzip", single, true, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			var st simulate.Stats
			var err error
			if tt.hitsPerLine == 0 {
				st, err = simulate.WriteNDJSON(ctx, dir, tt.naming, c, from, to, 0, tt.compress)
			} else {
				w := &searchExport{hitsPerLine: tt.hitsPerLine}
				if st, err = simulate.WriteElasticsearch(ctx, w, tt.naming, c, from, to, 0); err == nil {
					st.Files = []string{filepath.Join(dir, "export.json")}
					err = w.save(st.Files[0], tt.compress)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			f, err := source.OpenFiles(ctx, source.FileOptions{Paths: []string{dir}})
			if err != nil {
				t.Fatal(err)
			}
			fs := f.Stats()
			if fs.Records() != int64(st.Records()) || fs.MalformedRecords() != 0 || len(fs.Files) != len(st.Files) {
				t.Fatalf("wrote %d records in %d files, loaded %d from %d files, %d malformed: %v",
					st.Records(), len(st.Files), fs.Records(), len(fs.Files), fs.MalformedRecords(), fs.Err())
			}
			if first, last, ok := f.Span(); !ok || first.Before(from) || !last.Before(to) {
				t.Errorf("span %s to %s, written %s to %s", first, last, from, to)
			}
			sim := simulate.NewSource(c)
			// Each bucket, and the whole range as one window.
			ws := []source.Window{{Start: from, End: to}}
			for w := from; w.Before(to); w = w.Add(c.Bucket()) {
				ws = append(ws, source.Window{Start: w, End: w.Add(c.Bucket())})
			}
			compared := 0
			for _, w := range ws {
				for _, q := range queries {
					want, err := sim.Aggregate(ctx, w, q)
					if err != nil {
						t.Fatalf("%s: simulated: %v", q.Name, err)
					}
					got, err := f.Aggregate(ctx, w, q)
					if err != nil {
						t.Fatalf("%s: file: %v", q.Name, err)
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("%s %s: the file source answers %d rows, the simulated one %d:\n%v\n%v", w, q.Name, len(got), len(want), got, want)
					}
					compared += len(want)
				}
				for _, lt := range calicolog.LogTypes {
					want, _ := sim.Count(ctx, w, lt)
					got, _ := f.Count(ctx, w, lt)
					if got != want {
						t.Errorf("%s %s: count %+v, simulated %+v", w, lt, got, want)
					}
				}
			}
			if compared == 0 {
				t.Fatal("no rows compared")
			}
			t.Logf("%d records, %d queries in %d windows, %d rows equal", fs.Records(), len(queries), len(ws), compared)
		})
	}
}

// searchExport is a simulate.BulkWriter that keeps the documents as an
// export of Elasticsearch's _search answers would hold them.
type searchExport struct {
	hitsPerLine int
	hits        []map[string]any
}

func (e *searchExport) Bulk(_ context.Context, ops []elastic.BulkOp) (elastic.BulkResult, error) {
	for _, op := range ops {
		e.hits = append(e.hits, map[string]any{"_index": op.Index, "_id": op.ID, "_score": 1.0, "_source": op.Doc})
	}
	return elastic.BulkResult{Written: len(ops)}, nil
}

// save writes the hits one per line, or hitsPerLine to a _search
// response per line.
func (e *searchExport) save(path string, compress bool) error {
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if compress {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	enc := json.NewEncoder(w)
	for i := 0; i < len(e.hits); i += e.hitsPerLine {
		page := e.hits[i:min(i+e.hitsPerLine, len(e.hits))]
		var line any = page[0]
		if e.hitsPerLine > 1 {
			line = map[string]any{"took": 1, "timed_out": false, "hits": map[string]any{
				"total": map[string]any{"value": len(e.hits), "relation": "eq"}, "hits": page}}
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// TestFileWorkers checks the number of workers changes nothing: the same
// stats, the same malformed records located, the same samples in the same
// order.
func TestFileWorkers(t *testing.T) {
	ctx := context.Background()
	from := time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC)
	to := from.Add(20 * time.Minute)
	c := simulate.New(simulate.Options{Seed: 3})
	dir := t.TempDir()
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}
	if _, err := simulate.WriteNDJSON(ctx, dir, naming, c, from, to, 0, true); err != nil {
		t.Fatal(err)
	}
	paths := []string{dir, "testdata/file/mixed_flows.ndjson", "testdata/file/search_responses.ndjson"}
	load := func(workers int) string {
		f, err := source.OpenFiles(ctx, source.FileOptions{Paths: paths, Workers: workers, MaxReported: 100})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%v\n%v\n", f.Stats(), f.Stats().Err())
		for _, lt := range calicolog.LogTypes {
			samples, err := f.Samples(ctx, source.Window{Start: from, End: to}, lt, nil, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range samples {
				b.Write(s)
				b.WriteByte('\n')
			}
		}
		return b.String()
	}
	one := load(1)
	if !strings.Contains(one, "malformed records skipped") || len(one) < 100000 {
		t.Fatalf("the test loads too little: %.300s", one)
	}
	for _, workers := range []int{2, 5} {
		if got := load(workers); got != one {
			t.Errorf("%d workers load differently from one", workers)
		}
	}
}

// BenchmarkOpenFiles loads an hour of simulated logs, plain and gzip.
func BenchmarkOpenFiles(b *testing.B) {
	from := time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC)
	c := simulate.New(simulate.Options{Seed: 1})
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}
	for _, compress := range []bool{false, true} {
		name := "plain"
		if compress {
			name = "gzip"
		}
		dir := b.TempDir()
		st, err := simulate.WriteNDJSON(context.Background(), dir, naming, c, from, from.Add(time.Hour), 0, compress)
		if err != nil {
			b.Fatal(err)
		}
		var size int64
		for _, p := range st.Files {
			fi, _ := os.Stat(p)
			size += fi.Size()
		}
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/workers=%d", name, workers), func(b *testing.B) {
				b.SetBytes(size)
				records := int64(0)
				cpu0 := cpuSeconds()
				for b.Loop() {
					f, err := source.OpenFiles(context.Background(), source.FileOptions{Paths: []string{filepath.Join(dir, "*")}, Workers: workers})
					if err != nil {
						b.Fatal(err)
					}
					records += f.Stats().Records()
				}
				b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
				// CPU time says more than wall time on a shared machine.
				b.ReportMetric(float64(records)/(cpuSeconds()-cpu0), "records/cpu-s")
			})
		}
	}
}

// cpuSeconds is the user and system CPU time the process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
