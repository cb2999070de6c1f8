package detect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// latencyRows is one window of DNS rows: each client's mean and max
// latency, around its own usual value, times factor for client "slow".
func latencyRows(r *rand.Rand, clients int, slow string, factor float64) [][]source.Row {
	var rows []source.Row
	for i := range clients {
		name := "client-" + string(rune('a'+i)) + "-*"
		base := 1e6 * float64(1+i%5) // clients differ in their usual latency
		mean := base * math.Exp(0.2*r.NormFloat64())
		if name == slow {
			mean *= factor
		}
		rows = append(rows, source.Row{Key: []string{"shop", name}, Values: []float64{mean, mean * (2 + 2*r.Float64())}})
	}
	return [][]source.Row{rows}
}

func newIsolationTestDetector(t testing.TB, name string, params map[string]string) Detector {
	t.Helper()
	info, ok := Lookup(name)
	if !ok {
		t.Fatalf("%s not registered", name)
	}
	d, err := info.New(Options{Cluster: "c", Bucket: 5 * time.Minute, TrainInterval: time.Hour, Seed: 1, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// playLatency feeds windows of latencyRows through d as the engine does and
// returns the anomalous verdicts of the last window.
func playLatency(d Detector, windows int, slow string, factor float64) (ready bool, anomalous []Verdict) {
	same := func(_ Detector, rows [][]source.Row) [][]source.Row { return rows }
	anomalous = playWindows([]Detector{d}, windows, slow, factor, same)[d.Name()]
	return d.Ready(), anomalous
}

// playWindows feeds windows of latencyRows to every detector of ds, in
// order, as the engine does, each given rowsOf its window's rows, and
// returns the anomalous verdicts of each in the last window.
func playWindows(ds []Detector, windows int, slow string, factor float64, rowsOf func(Detector, [][]source.Row) [][]source.Row) map[string][]Verdict {
	r := rand.New(rand.NewPCG(3, 4))
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	out := map[string][]Verdict{}
	for i := range windows {
		w := source.Window{Start: start.Add(time.Duration(i) * 5 * time.Minute)}
		w.End = w.Start.Add(5 * time.Minute)
		f := 1.0
		if i == windows-1 {
			f = factor
		}
		all := latencyRows(r, 20, slow, f)
		for _, d := range ds {
			rows := rowsOf(d, all)
			if !d.Ready() {
				d.(Learner).Learn(w, rows)
				continue
			}
			for _, v := range d.Judge(w, rows) {
				if i == windows-1 && v.Anomalous() {
					out[d.Name()] = append(out[d.Name()], v)
				}
			}
		}
	}
	return out
}

func TestDNSLatencyFindsASlowClient(t *testing.T) {
	tests := []struct {
		name   string
		factor float64
		want   bool
	}{
		{"thirty times slower", 30, true},
		{"as usual", 1, false},
		{"thirty times faster is not a latency anomaly", 1.0 / 30, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newIsolationTestDetector(t, "dns_latency", nil)
			ready, vs := playLatency(d, 3*288, "client-c-*", tt.factor)
			if !ready {
				t.Fatal("never ready")
			}
			found := false
			for _, v := range vs {
				if v.Entity.Workload != "client-c-*" {
					t.Errorf("false alert: %s", v.Summary)
					continue
				}
				found = true
				if v.Expected <= 0 || v.Observed <= v.Expected || len(v.EvidenceQuery) == 0 {
					t.Errorf("verdict observed %v expected %v evidence %v", v.Observed, v.Expected, v.EvidenceQuery)
				}
			}
			if found != tt.want {
				t.Errorf("alerted %v, want %v (%d anomalous verdicts)", found, tt.want, len(vs))
			}
		})
	}
}

func TestIsolationDetectorsAreNotReadyBeforeHistory(t *testing.T) {
	d := newIsolationTestDetector(t, "dns_latency", map[string]string{"min_size_for_train": "100"}) // 48 h by default
	if ready, _ := playLatency(d, 12*40, "", 1); ready {
		t.Error("ready after 40 hours, want two days of history first")
	}
	d = newIsolationTestDetector(t, "dns_latency", map[string]string{"min_size_for_train": "100000", "min_history_hours": "0"})
	if ready, _ := playLatency(d, 3*288, "", 1); ready {
		t.Error("ready before min_size_for_train rows")
	}
}

func TestIsolationDetectorsRefuseBadSettings(t *testing.T) {
	tests := []struct {
		name, detector, key, value, mention string
	}{
		{"a positive score threshold", "dns_latency", "forest_score_threshold", "0.8", "AD_DnsLatency_IsolationForest_score_threshold"},
		{"a score threshold below -1", "l7_latency", "forest_score_threshold", "-1.5", "AD_L7Latency_IsolationForest_score_threshold"},
		{"no trees", "dns_latency", "n_estimators", "0", "AD_DnsLatency_IsolationForest_n_estimators"},
		{"a fraction of a tree", "l7_latency", "n_estimators", "2.5", "AD_L7Latency_IsolationForest_n_estimators"},
		{"one sample per tree", "multivariable_flow", "max_samples", "1", "max_samples"},
		{"a word for a number", "dns_latency", "sensitivity", "high", "AD_DNS_LATENCY_SENSITIVITY"},
		{"negative history", "multivariable_flow", "min_history_hours", "-1", "min_history_hours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, _ := Lookup(tt.detector)
			_, err := info.New(Options{Params: map[string]string{tt.key: tt.value}})
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("err = %v, want one naming %s", err, tt.mention)
			}
		})
	}
}

func TestIsolationDetectorsHaveCalicoDefaults(t *testing.T) {
	want := map[string]map[string]string{
		"dns_latency": {"AD_DNS_LATENCY_SENSITIVITY": "15", "AD_DnsLatency_IsolationForest_n_estimators": "100",
			"AD_DnsLatency_IsolationForest_score_threshold": "-0.836"},
		"l7_latency": {"AD_L7_LATENCY_SENSITIVITY": "7", "AD_L7Latency_IsolationForest_n_estimators": "100",
			"AD_L7Latency_IsolationForest_score_threshold": "-0.836"},
		"l7_bytes": {"AD_L7_BYTES_SENSITIVITY": "5"},
	}
	for name, envs := range want {
		info, ok := Lookup(name)
		if !ok {
			t.Errorf("%s not registered", name)
			continue
		}
		for env, def := range envs {
			found := false
			for _, p := range info.Params {
				if p.Env == env {
					found = true
					if p.Default != def {
						t.Errorf("%s %s defaults to %s, want %s", name, env, p.Default, def)
					}
				}
			}
			if !found {
				t.Errorf("%s lacks %s", name, env)
			}
		}
	}
	d := newIsolationTestDetector(t, "dns_latency", nil)
	if got := d.Threshold(); got != 0.836 {
		t.Errorf("threshold %v, want 0.836 (the negated score_samples threshold)", got)
	}
}

func TestIsolationModelSurvivesARestart(t *testing.T) {
	params := map[string]string{}
	a := newIsolationTestDetector(t, "dns_latency", params)
	playLatency(a, 3*288, "", 1)
	var buf bytes.Buffer
	if err := a.(Persistent).SaveModel(&buf); err != nil {
		t.Fatal(err)
	}
	saved := buf.Bytes()
	b := newIsolationTestDetector(t, "dns_latency", params)
	if err := b.(Persistent).LoadModel(bytes.NewReader(saved)); err != nil {
		t.Fatal(err)
	}
	if !b.Ready() {
		t.Fatal("the loaded model is not ready")
	}
	var again bytes.Buffer
	if err := b.(Persistent).SaveModel(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), saved) {
		t.Error("the loaded model saves other bytes than it was loaded from")
	}
	r := rand.New(rand.NewPCG(9, 9))
	w := source.Window{Start: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)}
	w.End = w.Start.Add(5 * time.Minute)
	rows := latencyRows(r, 20, "client-b-*", 40)
	va, vb := a.Judge(w, rows), b.Judge(w, rows)
	if len(va) != len(vb) || len(va) == 0 {
		t.Fatalf("%d verdicts before the restart, %d after", len(va), len(vb))
	}
	for i := range va {
		if va[i].Score != vb[i].Score || va[i].Expected != vb[i].Expected {
			t.Errorf("%s: score %v expected %v before, %v %v after", va[i].Entity.Workload, va[i].Score, va[i].Expected, vb[i].Score, vb[i].Expected)
		}
	}

	tests := []struct {
		name string
		data []byte
		into string
	}{
		{"a flipped byte", flipIsolation(saved, len(saved)/2), "dns_latency"},
		{"truncated", saved[:len(saved)-9], "dns_latency"},
		{"another detector's model", saved, "l7_latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newIsolationTestDetector(t, tt.into, params)
			if err := d.(Persistent).LoadModel(bytes.NewReader(tt.data)); !errors.Is(err, errModelFile) {
				t.Errorf("err = %v, want errModelFile", err)
			}
			if d.Ready() {
				t.Error("a refused model left the detector ready")
			}
		})
	}
}

// TestRowRingKeepsADayInItsOwnRoom: a ring of recent windows holds the
// last recentWindows rows, each with its window's start, and a full ring
// takes the room of its rows and no more (append's doubling would leave
// up to a third of it empty).
func TestRowRingKeepsADayInItsOwnRoom(t *testing.T) {
	const dims = 20
	r := &rowRing{dims: dims}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	row := make([]float64, dims)
	for i := range recentWindows + 5 {
		row[0] = float64(i)
		r.keep(source.Window{Start: start.Add(time.Duration(i) * 5 * time.Minute)}, row)
	}
	if r.len() != recentWindows || cap(r.rows) != recentWindows*dims || cap(r.at) != recentWindows {
		t.Fatalf("%d rows, room for %d rows and %d starts, want %d of each", r.len(), cap(r.rows)/dims, cap(r.at), recentWindows)
	}
	for i := range r.len() {
		// Row i holds window i, or, once overwritten, window i+recentWindows.
		want := i
		if i < 5 {
			want = i + recentWindows
		}
		if got := r.rows[i*dims].float(); got != toRowValue(float64(want)).float() || r.start(i) != start.Add(time.Duration(want)*5*time.Minute).Unix() {
			t.Fatalf("row %d holds %v at %v, want window %d", i, got, time.Unix(r.start(i), 0), want)
		}
	}
}

// TestRowValueRoundsToEightBits: a ring's values keep float32's range and
// sign, and lie within half a unit of their eighth significant bit
// (2^-8 of the value).
func TestRowValueRoundsToEightBits(t *testing.T) {
	for _, v := range []float64{0, 1, -1, 2.37, -2.37, 0.001234, 1e-30, 5.2, 123.456, -17.9, 3e8, 1e38, math.Inf(1), math.Inf(-1)} {
		got := toRowValue(v).float()
		if err := math.Abs(got - v); !(err <= math.Abs(v)/256) && !(math.IsInf(v, 0) && got == v) {
			t.Errorf("%v held as %v, off by %v", v, got, err)
		}
	}
	// Ties go to the even neighbour, as float32 rounds.
	if got := toRowValue(float64(math.Float32frombits(0x3f808000))).float(); got != 1 {
		t.Errorf("1 + 2^-8 held as %v, want 1", got)
	}
	if got := toRowValue(math.NaN()).float(); !math.IsNaN(got) {
		t.Errorf("NaN held as %v", got)
	}
}

func flipIsolation(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}

func FuzzIsolationLoadModel(f *testing.F) {
	a := newIsolationTestDetector(f, "dns_latency", map[string]string{"min_history_hours": "0", "min_size_for_train": "100"})
	playLatency(a, 2*288+24, "", 1)
	var buf bytes.Buffer
	if err := a.(Persistent).SaveModel(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		// As read, and with the file's checksum resealed, so that the
		// parts' own parsers see the mutations, not only the outer check.
		sealed := append([]byte(nil), data...)
		if len(sealed) >= 4 {
			binary.LittleEndian.PutUint32(sealed[len(sealed)-4:], crc32.ChecksumIEEE(sealed[:len(sealed)-4]))
		}
		for _, in := range [][]byte{data, sealed} {
			d := newIsolationTestDetector(t, "dns_latency", map[string]string{"min_history_hours": "0", "min_size_for_train": "100"})
			if err := d.(Persistent).LoadModel(bytes.NewReader(in)); err != nil {
				continue
			}
			r := rand.New(rand.NewPCG(1, 1))
			w := source.Window{Start: time.Date(2026, 3, 4, 2, 0, 0, 0, time.UTC)}
			w.End = w.Start.Add(5 * time.Minute)
			d.Judge(w, latencyRows(r, 5, "", 1)) // must not panic
		}
	})
}

// BenchmarkMultivariableFlowJudge is one window of 500 workloads judged
// by multivariable_flow (16 fields and 4 ratios), the forest retrained
// daily (Calico's AD_train_interval_minutes default).
func BenchmarkMultivariableFlowJudge(b *testing.B) {
	info, _ := Lookup("multivariable_flow")
	det, err := info.New(Options{Cluster: "c", Bucket: 5 * time.Minute, TrainInterval: 24 * time.Hour, Seed: 1,
		Params: map[string]string{"min_history_hours": "0", "min_size_for_train": "100"}})
	if err != nil {
		b.Fatal(err)
	}
	d := det
	r := rand.New(rand.NewPCG(1, 2))
	const entities = 500
	window := func() [][]source.Row {
		var rows []source.Row
		for i := range entities {
			vals := make([]float64, len(flowNumericFields))
			flows := 10 * math.Exp(0.3*r.NormFloat64())
			for j := range vals {
				vals[j] = flows * float64(1+j) * math.Exp(0.2*r.NormFloat64())
			}
			vals[2] = flows
			rows = append(rows, source.Row{Key: []string{"ns", "wl-" + strconv.Itoa(i) + "-*", "wep"}, Values: vals})
		}
		return [][]source.Row{rows}
	}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	i := 0
	next := func() source.Window {
		w := source.Window{Start: start.Add(time.Duration(i) * 5 * time.Minute)}
		w.End = w.Start.Add(5 * time.Minute)
		i++
		return w
	}
	for !d.Ready() {
		d.(Learner).Learn(next(), window())
	}
	rows := window()
	b.ReportAllocs()
	for b.Loop() {
		d.Judge(next(), rows)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/entities, "ns/entity")
}

// TestIsolationDetectorsLearnAnEntitysRecurringOddity: a client whose
// answers are twenty times slower in one window of twenty, every day, is
// not alerted for another such window, while the same window from a steady
// client is.
func TestIsolationDetectorsLearnAnEntitysRecurringOddity(t *testing.T) {
	tests := []struct {
		name, slow string
		want       bool
	}{
		{"the client that does it every day", "client-a-*", false},
		{"a steady client", "client-c-*", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newIsolationTestDetector(t, "dns_latency", nil)
			r := rand.New(rand.NewPCG(5, 6))
			start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
			const windows = 4 * 288
			var last Verdict
			for i := range windows {
				w := source.Window{Start: start.Add(time.Duration(i) * 5 * time.Minute)}
				w.End = w.Start.Add(5 * time.Minute)
				rows := latencyRows(r, 20, "", 1)
				for _, row := range rows[0] {
					odd := row.Key[1] == "client-a-*" && r.IntN(20) == 0
					if odd || (i == windows-1 && row.Key[1] == tt.slow) {
						row.Values[0] *= 20
						row.Values[1] *= 20
					}
				}
				if !d.Ready() {
					d.(Learner).Learn(w, rows)
					continue
				}
				for _, v := range d.Judge(w, rows) {
					if i == windows-1 && v.Entity.Workload == tt.slow {
						last = v
					}
				}
			}
			if last.Detector == "" {
				t.Fatal("the last window was not judged")
			}
			if last.Anomalous() != tt.want {
				t.Errorf("alerted %v, want %v: %s", last.Anomalous(), tt.want, last.Summary)
			}
			t.Logf("%s", last.Summary)
		})
	}
}

func TestIsolationDetectorsAreDeterministicForASeed(t *testing.T) {
	judge := func(seed int64) []Verdict {
		info, _ := Lookup("dns_latency")
		d, err := info.New(Options{Cluster: "c", Bucket: 5 * time.Minute, TrainInterval: time.Hour, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		playLatency(d, 3*288, "", 1)
		r := rand.New(rand.NewPCG(2, 2))
		w := source.Window{Start: time.Date(2026, 3, 5, 1, 0, 0, 0, time.UTC)}
		w.End = w.Start.Add(5 * time.Minute)
		return d.Judge(w, latencyRows(r, 20, "client-d-*", 10))
	}
	a, b, c := judge(7), judge(7), judge(8)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d and %d verdicts", len(a), len(b))
	}
	differ := false
	for i := range a {
		if a[i].Score != b[i].Score || a[i].Summary != b[i].Summary {
			t.Errorf("%s: %v then %v with the same seed", a[i].Entity.Workload, a[i].Score, b[i].Score)
		}
		differ = differ || (i < len(c) && a[i].Score != c[i].Score)
	}
	if !differ {
		t.Error("another seed gave the same scores")
	}
}
