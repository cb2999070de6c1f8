package simulate

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// readLines returns the lines of an NDJSON file, gzip compressed or not.
func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var out [][]byte
	for line := range bytes.Lines(raw) {
		out = append(out, bytes.TrimSuffix(line, []byte("\n")))
	}
	return out
}

func TestWriteNDJSON(t *testing.T) {
	t.Parallel()
	// An hour across midnight, with an attack before it.
	from := day0.Add(23*time.Hour + 30*time.Minute)
	to := from.Add(time.Hour)
	c := New(Options{Seed: 5}, PortScan{At: from.Add(20 * time.Minute), Namespace: "shop", Workload: "frontend",
		TargetNamespace: "shop", TargetWorkload: "db", FirstPort: 1, LastPort: 600})
	tests := []struct {
		name      string
		naming    calicolog.IndexNaming
		compress  bool
		wantFiles []string
	}{
		{"legacy layout", calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}, false, []string{
			"flows.cluster.2024-03-04.ndjson", "dns.cluster.2024-03-04.ndjson", "l7.cluster.2024-03-04.ndjson",
			"flows.cluster.2024-03-05.ndjson", "dns.cluster.2024-03-05.ndjson", "l7.cluster.2024-03-05.ndjson",
		}},
		{"legacy layout with a tenant, compressed", calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "east", Tenant: "acme"}, true, []string{
			"flows.acme.east.2024-03-04.ndjson.gz", "dns.acme.east.2024-03-04.ndjson.gz", "l7.acme.east.2024-03-04.ndjson.gz",
			"flows.acme.east.2024-03-05.ndjson.gz", "dns.acme.east.2024-03-05.ndjson.gz", "l7.acme.east.2024-03-05.ndjson.gz",
		}},
		{"single-index layout", calicolog.IndexNaming{Layout: calicolog.LayoutSingle, Cluster: "west"}, false, []string{
			"flows.west.2024-03-04.ndjson", "dns.west.2024-03-04.ndjson", "l7.west.2024-03-04.ndjson",
			"flows.west.2024-03-05.ndjson", "dns.west.2024-03-05.ndjson", "l7.west.2024-03-05.ndjson",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			st, err := WriteNDJSON(context.Background(), dir, tt.naming, c, from, to, 0, tt.compress)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, f := range tt.wantFiles {
				want = append(want, filepath.Join(dir, f))
			}
			if !slices.Equal(st.Files, want) {
				t.Errorf("files written %v, want %v", st.Files, want)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(tt.wantFiles) {
				t.Errorf("the folder holds %d files, want %d (temporary files left?)", len(entries), len(tt.wantFiles))
			}
			if st.Windows != 12 || len(st.Truth) != 1 {
				t.Errorf("%d windows, labels %v", st.Windows, st.Truth)
			}

			// The lines are the documents WriteElasticsearch indexes, in
			// the same order, each in the file of its log type and day.
			rec := &recorder{}
			if _, err := WriteElasticsearch(context.Background(), rec, tt.naming, c, from, to, 0); err != nil {
				t.Fatal(err)
			}
			wantDocs := map[string][]string{}
			for _, op := range rec.ops {
				lt, ok := calicolog.IndexLogType(op.Index)
				if !ok {
					t.Fatalf("index %s", op.Index)
				}
				doc := op.Doc.(json.RawMessage)
				var end time.Time
				switch lt {
				case calicolog.Flows:
					f, _ := calicolog.DecodeFlowLog(doc)
					end = f.EndTime.Time()
				case calicolog.DNS:
					d, _ := calicolog.DecodeDNSLog(doc)
					end = d.EndTime
				case calicolog.L7:
					l, _ := calicolog.DecodeL7Log(doc)
					end = l.EndTime.Time()
				}
				name := NDJSONFileName(tt.naming, lt, end, tt.compress)
				wantDocs[name] = append(wantDocs[name], string(doc))
			}
			total := 0
			for _, f := range tt.wantFiles {
				var got []string
				for _, line := range readLines(t, filepath.Join(dir, f)) {
					got = append(got, string(line))
				}
				total += len(got)
				if len(got) == 0 || !slices.Equal(got, wantDocs[f]) {
					t.Errorf("%s: %d lines differ from the %d documents WriteElasticsearch indexes", f, len(got), len(wantDocs[f]))
				}
			}
			if total != st.Records() || total != len(rec.ops) {
				t.Errorf("%d lines, stats %d records, %d documents indexed", total, st.Records(), len(rec.ops))
			}
		})
	}
}

// hashes returns the sha256 of every file in dir, by name.
func hashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		out[e.Name()] = hex.EncodeToString(sum[:])
	}
	return out
}

func TestWriteNDJSONIsDeterministic(t *testing.T) {
	t.Parallel()
	from := day0.Add(6 * time.Hour)
	to := from.Add(30 * time.Minute)
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}
	run := func(seed uint64, compress bool) map[string]string {
		dir := t.TempDir()
		c := New(Options{Seed: seed}, IPSweep{At: from.Add(10 * time.Minute), Namespace: "shop", Workload: "cart", CIDR: "10.244.7.0/24", Port: 22})
		if _, err := WriteNDJSON(context.Background(), dir, naming, c, from, to, 0, compress); err != nil {
			t.Fatal(err)
		}
		return hashes(t, dir)
	}
	for _, compress := range []bool{false, true} {
		first, second := run(11, compress), run(11, compress)
		if len(first) != 3 {
			t.Fatalf("compress %v: %d files, want 3", compress, len(first))
		}
		for name, sum := range first {
			if second[name] != sum {
				t.Errorf("compress %v: %s: sha256 %s, then %s", compress, name, sum, second[name])
			}
		}
		other := run(12, compress)
		for name, sum := range first {
			if other[name] == sum {
				t.Errorf("compress %v: %s is the same for seeds 11 and 12", compress, name)
			}
		}
	}
}

func TestWriteNDJSONErrors(t *testing.T) {
	c := New(Options{Seed: 5})
	from := day0.Add(time.Hour)
	legacy := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		naming  calicolog.IndexNaming
		to      time.Time
		wantErr string
	}{
		{"a bad cluster name", t.TempDir(), calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "Bad Name"}, from.Add(time.Hour), "cluster name"},
		{"an empty range", t.TempDir(), legacy, from, "empty time range"},
		{"a folder that is a file", notDir, legacy, from.Add(time.Hour), "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := WriteNDJSON(context.Background(), tt.dir, tt.naming, c, from, tt.to, 0, false)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one about %q", err, tt.wantErr)
			}
		})
	}
	t.Run("a cancelled run leaves no file behind", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		dir := t.TempDir()
		n := 0
		// Cancel once the first window's files are open.
		c := New(Options{Seed: 5}, scenarioFunc(func(*Cluster, source.Window, *Batch) {
			if n++; n == 2 {
				cancel()
			}
		}))
		_, err := WriteNDJSON(ctx, dir, legacy, c, from, from.Add(time.Hour), 0, true)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if left := hashes(t, dir); len(left) != 0 {
			t.Errorf("files left behind: %v", left)
		}
	})
}

// scenarioFunc is a scenario that calls itself for every bucket.
type scenarioFunc func(c *Cluster, w source.Window, b *Batch)

func (scenarioFunc) Name() string                                  { return "func" }
func (scenarioFunc) Validate() error                               { return nil }
func (f scenarioFunc) Apply(c *Cluster, w source.Window, b *Batch) { f(c, w, b) }

func BenchmarkWriteNDJSON(b *testing.B) {
	c := New(Options{Seed: 1})
	from := day0.Add(12 * time.Hour)
	to := from.Add(time.Hour)
	naming := calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}
	for _, compress := range []bool{false, true} {
		name := "plain"
		if compress {
			name = "gzip"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			records := 0
			cpu0 := cpuSeconds()
			for b.Loop() {
				st, err := WriteNDJSON(context.Background(), dir, naming, c, from, to, 0, compress)
				if err != nil {
					b.Fatal(err)
				}
				records += st.Records()
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
			// CPU time says more than wall time on a shared machine.
			b.ReportMetric(float64(records)/(cpuSeconds()-cpu0), "records/cpu-s")
		})
	}
}

func TestEncodeNDJSON(t *testing.T) {
	t.Parallel()
	c := New(Options{Seed: 6}, IPSweep{At: day0.Add(12*time.Hour + 30*time.Minute), Namespace: "shop", Workload: "cart", CIDR: "10.244.7.0/24", Port: 22})
	from, to := day0.Add(12*time.Hour), day0.Add(13*time.Hour)
	tests := []struct {
		name  string
		types []calicolog.LogType
	}{
		{"all three log types", calicolog.LogTypes},
		{"flows only", []calicolog.LogType{calicolog.Flows}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bufs := map[calicolog.LogType]*bytes.Buffer{}
			for _, lt := range tt.types {
				bufs[lt] = &bytes.Buffer{}
			}
			st, err := EncodeNDJSON(context.Background(), func(lt calicolog.LogType) io.Writer {
				if b, ok := bufs[lt]; ok {
					return b
				}
				return nil
			}, calicolog.IndexNaming{Layout: calicolog.LayoutLegacy, Cluster: "cluster"}, c, from, to, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := c.Window(window(from, time.Hour))
			wantLines := map[calicolog.LogType]int{calicolog.Flows: len(want.Flows), calicolog.DNS: len(want.DNS), calicolog.L7: len(want.L7)}
			gotStats := map[calicolog.LogType]int{calicolog.Flows: st.Flows, calicolog.DNS: st.DNS, calicolog.L7: st.L7}
			if len(st.Truth) != 1 || st.Windows != 12 {
				t.Errorf("%d windows, labels %v", st.Windows, st.Truth)
			}
			for _, lt := range calicolog.LogTypes {
				b, ok := bufs[lt]
				if !ok {
					if gotStats[lt] != 0 {
						t.Errorf("%s: skipped, but counted %d records", lt, gotStats[lt])
					}
					continue
				}
				sc := bufio.NewScanner(b)
				sc.Buffer(nil, 1<<20)
				lines := 0
				for sc.Scan() {
					lines++
					var err error
					switch lt {
					case calicolog.Flows:
						_, err = calicolog.DecodeFlowLog(sc.Bytes())
					case calicolog.DNS:
						_, err = calicolog.DecodeDNSLog(sc.Bytes())
					case calicolog.L7:
						_, err = calicolog.DecodeL7Log(sc.Bytes())
					}
					if err != nil {
						t.Fatalf("%s line %d: %v", lt, lines, err)
					}
					if bytes.Contains(sc.Bytes(), []byte(`"log_type"`)) || bytes.Contains(sc.Bytes(), []byte(`"cluster"`)) {
						t.Fatalf("%s line %d is not a plain Calico document: %s", lt, lines, sc.Bytes())
					}
				}
				if lines != wantLines[lt] || gotStats[lt] != lines {
					t.Errorf("%s: %d lines, stats %d, want %d", lt, lines, gotStats[lt], wantLines[lt])
				}
			}
		})
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
