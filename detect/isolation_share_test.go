package detect

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// rowsFor gives each detector the rows of its query from one set of DNS
// rows holding latency_mean and latency_max: the other fields of
// generic_dns (counts, and the records its mean is over) as a steady 10.
func rowsFor(d Detector, dns [][]source.Row) [][]source.Row {
	ms := d.Queries()[0].Metrics
	out := make([]source.Row, len(dns[0]))
	for i, r := range dns[0] {
		vals := make([]float64, len(ms))
		for j, m := range ms {
			switch m.Name {
			case "latency_mean":
				vals[j] = r.Values[0]
			case "latency_max":
				vals[j] = r.Values[1]
			default:
				vals[j] = 10
			}
		}
		out[i] = source.Row{Key: r.Key, Values: vals}
	}
	return [][]source.Row{out}
}

// playShared feeds windows of latencyRows to every detector of ds, in
// order, as the engine does, each given the rows of its own fields
// (rowsFor), and returns the anomalous verdicts of each in the last window.
func playShared(ds []Detector, windows int, slow string, factor float64) map[string][]Verdict {
	return playWindows(ds, windows, slow, factor, rowsFor)
}

// TestIsolationDetectorsShareTheFieldBaselines: beside generic_dns,
// dns_latency reads generic_dns's baselines of latency_mean and
// latency_max and keeps none of its own, still finds a slow client and
// only it, and a model it saved before sharing drops its own baselines
// when loaded; alone, it keeps its own.
func TestIsolationDetectorsShareTheFieldBaselines(t *testing.T) {
	owner := newIsolationTestDetector(t, "generic_dns", nil)
	d := newIsolationTestDetector(t, "dns_latency", nil)
	ShareBaselines([]Detector{d, owner})
	iso := d.(*isolationDetector)
	if iso.owner != owner {
		t.Fatal("dns_latency does not read generic_dns's baselines")
	}
	ms := owner.Queries()[0].Metrics
	for i, f := range iso.from {
		if f < 0 || ms[f].Name != iso.metrics[i].Name {
			t.Fatalf("dns_latency's field %s reads generic_dns's field %d", iso.metrics[i].Name, f)
		}
	}
	found := playShared([]Detector{d, owner}, 3*288, "client-c-*", 30)
	if !d.Ready() {
		t.Fatal("never ready")
	}
	if n := iso.baseline.Keys(); n != 0 {
		t.Errorf("dns_latency keeps %d baselines of its own, want 0", n)
	}
	if n := owner.(*fieldBaselines).model.Keys(); n != 20*5 {
		t.Errorf("generic_dns keeps %d baselines, want %d (20 clients, 5 fields)", n, 20*5)
	}
	vs := found["dns_latency"]
	if len(vs) != 1 || vs[0].Entity.Workload != "client-c-*" {
		t.Errorf("anomalous verdicts %v, want one, for client-c-*", vs)
	}

	// A client only dns_latency is handed (a sharded replica's first
	// window, read whole) leaves nothing in generic_dns's model.
	w := source.Window{Start: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)}
	w.End = w.Start.Add(5 * time.Minute)
	stranger := source.Row{Key: []string{"elsewhere", "client-z-*"}, Values: []float64{1e6, 3e6}}
	d.Judge(w, [][]source.Row{{stranger}})
	if e, ok := iso.spec.entity(iso.cluster, stranger.Key); !ok || owner.(*fieldBaselines).model.Group(e.ModelKey()) != nil {
		t.Error("looking a client up in generic_dns's baselines made it a group there")
	}

	// Alone, and with an owner that follows other fields, it keeps its own.
	alone := newIsolationTestDetector(t, "dns_latency", nil)
	other := newIsolationTestDetector(t, "generic_dns", map[string]string{"fields": "count"})
	ShareBaselines([]Detector{alone, other})
	if alone.(*isolationDetector).owner != nil {
		t.Fatal("dns_latency reads the baselines of a generic_dns that follows only count")
	}
	playShared([]Detector{alone}, 3*288, "", 1)
	if n := alone.(*isolationDetector).baseline.Keys(); n != 20*2 {
		t.Fatalf("alone, dns_latency keeps %d baselines, want %d", n, 20*2)
	}
	var saved bytes.Buffer
	if err := alone.(Persistent).SaveModel(&saved); err != nil {
		t.Fatal(err)
	}
	if err := d.(Persistent).LoadModel(bytes.NewReader(saved.Bytes())); err != nil {
		t.Fatal(err)
	}
	if n := iso.baseline.Keys(); n != 0 {
		t.Errorf("a model saved unshared loaded beside generic_dns keeps %d baselines, want 0", n)
	}
}

// TestMultivariableFlowSharesGenericFlowsFields: multivariable_flow reads
// the baselines of the ten flow fields generic_flows follows by default
// and keeps its own of the six others.
func TestMultivariableFlowSharesGenericFlowsFields(t *testing.T) {
	owner := newIsolationTestDetector(t, "generic_flows", nil)
	d := newIsolationTestDetector(t, "multivariable_flow", nil)
	ShareBaselines([]Detector{owner, d})
	iso := d.(*isolationDetector)
	var shared, own []string
	for i, f := range iso.from {
		if f >= 0 {
			shared = append(shared, iso.metrics[i].Name)
		} else {
			own = append(own, iso.metrics[i].Name)
		}
	}
	want := fieldNames(flowNumericFields, 10)
	if got := strings.Join(shared, ","); got != want {
		t.Errorf("shared %s, want %s", got, want)
	}
	if len(own) != len(flowNumericFields)-10 || slices.Contains(own, "bytes_in") {
		t.Errorf("own baselines of %v", own)
	}
}
