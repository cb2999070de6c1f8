package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/dnsname"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// dgaDay is the first window of a simulated day.
var dgaDay = source.Window{Start: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 24, 0, 5, 0, 0, time.UTC)}

// playDGA teaches a fresh dga detector a day of history (the engine's
// lookback), then judges the next windows; it returns the verdicts by
// window and workload of the judged windows.
func playDGA(t *testing.T, params map[string]string, judged int, rowsOf func(i int) []source.Row) (*dga, []map[string]Verdict) {
	t.Helper()
	d := newTestDetector(t, "dga", params).(*dga)
	if !d.WantsHistory() {
		t.Fatal("a fresh dga detector does not want history")
	}
	w := dgaDay
	next := func() { w = source.Window{Start: w.End, End: w.End.Add(5 * time.Minute)} }
	for i := range 288 {
		d.Learn(w, [][]source.Row{rowsOf(i)})
		next()
	}
	out := make([]map[string]Verdict, judged)
	for i := range judged {
		out[i] = map[string]Verdict{}
		for _, v := range d.Judge(w, [][]source.Row{rowsOf(288 + i)}) {
			out[i][v.Entity.Workload] = v
		}
		next()
	}
	return d, out
}

// quietClient resolves its vendors every window.
func quietClient(ns, client string) []source.Row {
	return clientRows(ns, client, vendorNames, "NoError", 3)
}

func firstAlert(vs []map[string]Verdict, workload string) (int, Verdict) {
	for i, byWorkload := range vs {
		if v, ok := byWorkload[workload]; ok && v.Anomalous() {
			return i, v
		}
	}
	return -1, Verdict{}
}

func TestDGASpans(t *testing.T) {
	random := withTLDs(randomLabels(21, 400, 10, 16, testLetters), "com", "net", "biz")
	words := withTLDs(wordLabels(22, 400), "net", "com")
	provider := func(labels []string) []string {
		out := make([]string, len(labels))
		for i, l := range labels {
			out[i] = "www." + l + ".ddns.net"
		}
		return out
	}(randomLabels(23, 400, 12, 18, testLetters+"0123456789"))
	altRoot := withTLDs(randomLabels(24, 400, 8, 12, testLetters), "bazar")
	// at is how many names a generator resolves in window i of the judged
	// part; names of the family are taken in order.
	perWindow := func(n int) func(i int) int { return func(int) int { return n } }
	daily := func(i int) int { // 20 over a day, one every 14 or 15 windows
		if i%14 == 0 {
			return 1
		}
		return 0
	}
	tests := []struct {
		name   string
		names  []string
		rcode  string
		at     func(i int) int
		judged int
		within int // windows to the first alert, at most
	}{
		{"3 random names a window, failing, within the hour", random, "NXDomain", perWindow(3), 12, 12},
		{"3 random names a window, answered, within the hour", random, "NoError", perWindow(3), 12, 12},
		{"3 dictionary-word names a window, answered, within the hour", words, "NoError", perWindow(3), 12, 12},
		{"3 names a window under a dynamic-DNS provider, within the hour", provider, "NoError", perWindow(3), 12, 12},
		{"3 names a window under an alternative root, failing, within the hour", altRoot, "NXDomain", perWindow(3), 12, 12},
		{"20 random names a day, failing, within the day", random, "NXDomain", daily, 288, 288},
		{"30 random names in one window, at once", random, "NXDomain", perWindow(30), 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := 0
			d, vs := playDGA(t, nil, tt.judged, func(i int) []source.Row {
				rows := append(quietClient("shop", "cart-*"), quietClient("shop", "frontend-*")...)
				if i < 288 {
					return rows
				}
				for range tt.at(i - 288) {
					rows = append(rows, dnsRow("shop", "cart-*", tt.names[next%len(tt.names)], tt.rcode, 1))
					next++
				}
				return rows
			})
			i, v := firstAlert(vs, "cart-*")
			if i < 0 || i >= tt.within {
				t.Fatalf("first alert in judged window %d, want one within %d", i, tt.within)
			}
			t.Logf("alert after %d windows, score %.3f: %s", i+1, v.Score, v.Summary)
			if j, fp := firstAlert(vs, "frontend-*"); j >= 0 {
				t.Errorf("the quiet client alerted in window %d: %s", j, fp.Summary)
			}
			q := v.EvidenceQuery
			if len(q) != 1 || len(q[0].Filters) != 3 || q[0].Filters[2].Field != "qname" || len(q[0].Filters[2].Values) == 0 {
				t.Fatalf("evidence %+v does not select the suspicious names", q)
			}
			for _, qname := range q[0].Filters[2].Values {
				if !strings.Contains(strings.Join(tt.names, " "), qname) {
					t.Errorf("evidence names %s, not one of the generator's", qname)
				}
			}
			// Nothing the generator resolved was learned as the cluster's.
			for _, n := range tt.names[:next] {
				if name, err := parseName(n); err == nil && d.learned[name] {
					t.Errorf("%s was learned from the infected client", n)
				}
			}
		})
	}
}

func parseName(q string) (string, error) {
	n, err := dnsname.Parse(q)
	return n.Registered, err
}

// TestDGASummaryNamesTheSpanAndSignals: a slow generator's alert says it
// fired over the hour and which signals marked its names.
func TestDGASummaryNamesTheSpanAndSignals(t *testing.T) {
	names := withTLDs(randomLabels(31, 100, 10, 14, testLetters), "com")
	next := 0
	_, vs := playDGA(t, nil, 12, func(i int) []source.Row {
		rows := quietClient("shop", "cart-*")
		if i >= 288 {
			for range 3 {
				rows = append(rows, dnsRow("shop", "cart-*", names[next], "NXDomain", 1))
				next++
			}
		}
		return rows
	})
	_, v := firstAlert(vs, "cart-*")
	for _, want := range []string{"over the last hour", "look generated", "NXDomain", "its usual"} {
		if !strings.Contains(v.Summary, want) {
			t.Errorf("summary %q does not say %q", v.Summary, want)
		}
	}
}

// TestDGABusyClientsAgainstTheirUsual: an ad bidder meeting 30 new
// odd-looking domains a window and a mail filter meeting 60 with 8%
// NXDomain, every window of two days, do not alert once their usual is
// learned; the same 30 a window from a quiet client do.
func TestDGABusyClientsAgainstTheirUsual(t *testing.T) {
	odd := withTLDs(randomLabels(41, 41000, 6, 14, testLetters+"0123456789"), "com", "net", "io")
	next := 0
	take := func(n int) []string {
		out := odd[next : next+n]
		next += n
		return out
	}
	_, vs := playDGA(t, nil, 288, func(i int) []source.Row {
		// A third of the bidder's names look generated, the rest are words.
		rows := clientRows("ads", "bidder-*", take(10), "NoError", 2)
		rows = append(rows, clientRows("ads", "bidder-*", withTLDs(wordLabels(uint64(1000+i), 20), "com"), "NoError", 1)...)
		mail := take(60)
		rows = append(rows, clientRows("mail", "filter-*", mail[:55], "NoError", 1)...)
		rows = append(rows, clientRows("mail", "filter-*", mail[55:], "NXDomain", 1)...)
		return rows
	})
	for _, who := range []string{"bidder-*", "filter-*"} {
		if i, v := firstAlert(vs, who); i >= 0 {
			t.Errorf("%s alerted in judged window %d: %s", who, i, v.Summary)
		}
	}
}

// TestDGALearnsTheClusterOwnTLD: a zone under a top-level domain no
// registry runs that the cluster answers is learned as its own; a failing
// generator under another one is not.
func TestDGALearnsTheClusterOwnTLD(t *testing.T) {
	own := []string{"billing.acme", "ledger.acme", "search.acme", "auth.acme"}
	d, vs := playDGA(t, nil, 12, func(i int) []source.Row {
		var rows []source.Row
		for _, c := range []string{"cart-*", "frontend-*", "checkout-*"} {
			rows = append(rows, quietClient("shop", c)...)
			rows = append(rows, dnsRow("shop", c, own[i%len(own)], "NoError", 2))
		}
		if i >= 288 {
			rows = append(rows, clientRows("shop", "cart-*", withTLDs(randomLabels(uint64(i), 3, 8, 12, testLetters), "bazar"), "NXDomain", 1)...)
			rows = append(rows, dnsRow("shop", "cart-*", "newservice.acme", "NoError", 1))
		}
		return rows
	})
	if len(d.ownTLDs["acme"]) < dgaOwnTLD || len(d.ownTLDs["bazar"]) != 0 {
		t.Errorf("clients under .acme %v, under .bazar %v; want %d and none", d.ownTLDs["acme"], d.ownTLDs["bazar"], dgaOwnTLD)
	}
	i, v := firstAlert(vs, "cart-*")
	if i < 0 {
		t.Fatal("names under .bazar that fail did not alert")
	}
	if strings.Contains(v.Summary, ".acme") || !strings.Contains(v.Summary, "unknown top-level domain") {
		t.Errorf("summary %q blames the cluster's own zone, or not the unknown one", v.Summary)
	}
	var saved strings.Builder
	if err := d.SaveModel(&saved); err != nil {
		t.Fatal(err)
	}
	loaded := newTestDetector(t, "dga", nil).(*dga)
	if err := loaded.LoadModel(strings.NewReader(saved.String())); err != nil {
		t.Fatal(err)
	}
	if len(loaded.ownTLDs["acme"]) < dgaOwnTLD {
		t.Errorf("the cluster's own zone was not restored: %v", loaded.ownTLDs)
	}
}

// TestDGAMemoryPerClientIsBounded: a client meeting thousands of odd new
// domains keeps at most dgaMaxSeen of them.
func TestDGAMemoryPerClientIsBounded(t *testing.T) {
	odd := withTLDs(randomLabels(51, 5000, 10, 14, testLetters), "com")
	d := newTestDetector(t, "dga", nil).(*dga)
	w := dgaDay
	for i := range 50 {
		d.Judge(w, [][]source.Row{clientRows("shop", "crawler-*", odd[i*100:(i+1)*100], "NXDomain", 1)})
		w = source.Window{Start: w.End, End: w.End.Add(5 * time.Minute)}
	}
	c := d.clients[[2]string{"shop", "crawler-*"}]
	if len(c.seen) > dgaMaxSeen || len(c.order) > dgaMaxSeen || len(c.windows) != 12 {
		t.Errorf("client keeps %d seen domains (order %d) and %d window slots, want at most %d and 12",
			len(c.seen), len(c.order), len(c.windows), dgaMaxSeen)
	}
	for _, s := range append(c.windows, c.hours[:]...) {
		if len(s.examples) > dgaExamples {
			t.Errorf("a slot keeps %d examples, want at most %d", len(s.examples), dgaExamples)
		}
	}
}

// FuzzDGALoadModel feeds saved models as they may come back from disk: a
// file is loaded or refused without a panic, a refused one leaves the
// model as it was, and a loaded one saves back to what loads the same.
func FuzzDGALoadModel(f *testing.F) {
	f.Add("dga model v2\nname\texample-vendor.com\nzone\tacme\nclient\t\"shop\"\t\"cart-*\"\t0.5\t1\t-\t-\t3\t3\t1.5\n")
	f.Add("dga learned names v1\napi.qzvtrkx-gw.com\n")
	f.Add("dga model v2\nclient\t\"a\\x00b\"\t\"c\"\t1e308\t0\t-\t-\t-\t-\t-\n")
	f.Add("dga model v2\nzone\tcom\n")
	f.Fuzz(func(t *testing.T, file string) {
		info, _ := Lookup("dga")
		det, err := info.New(Options{Cluster: "c1"})
		if err != nil {
			t.Fatal(err)
		}
		d := det.(*dga)
		var before strings.Builder
		if err := d.SaveModel(&before); err != nil {
			t.Fatal(err)
		}
		if err := d.LoadModel(strings.NewReader(file)); err != nil {
			var after strings.Builder
			if err := d.SaveModel(&after); err != nil {
				t.Fatal(err)
			}
			if after.String() != before.String() {
				t.Fatalf("a refused file (%v) changed the model", err)
			}
			return
		}
		var saved, again strings.Builder
		if err := d.SaveModel(&saved); err != nil {
			t.Fatal(err)
		}
		if err := d.LoadModel(strings.NewReader(saved.String())); err != nil {
			t.Fatalf("a saved model does not load: %v\n%s", err, saved.String())
		}
		if err := d.SaveModel(&again); err != nil {
			t.Fatal(err)
		}
		if again.String() != saved.String() {
			t.Fatalf("saved, loaded and saved again differs:\n%s\n%s", saved.String(), again.String())
		}
	})
}
