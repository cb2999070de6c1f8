package detect

import (
	"bytes"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// dnsRow is one client's queries of one name with one answer code.
func dnsRow(ns, client, qname, rcode string, queries float64) source.Row {
	return source.Row{Key: []string{ns, client, qname, rcode}, Values: []float64{queries, 1}}
}

const testLetters = "abcdefghijklmnopqrstuvwxyz"

func randomLabels(seed uint64, n, minLen, maxLen int, alphabet string) []string {
	r := rand.New(rand.NewPCG(seed, seed))
	out := make([]string, n)
	for i := range out {
		b := make([]byte, minLen+r.IntN(maxLen-minLen+1))
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		out[i] = string(b)
	}
	return out
}

// wordLabels joins two or three words, as dictionary-word generators do.
func wordLabels(seed uint64, n int) []string {
	words := strings.Fields("table window follow complete either history people market street answer " +
		"winter sound bright simple letter become garden second travel mother country island silver")
	r := rand.New(rand.NewPCG(seed, seed))
	out := make([]string, n)
	for i := range out {
		k := 2 + r.IntN(2)
		var b strings.Builder
		for range k {
			b.WriteString(words[r.IntN(len(words))])
		}
		out[i] = b.String()
	}
	return out
}

func withTLDs(labels []string, tlds ...string) []string {
	out := make([]string, len(labels))
	for i, l := range labels {
		out[i] = l + "." + tlds[i%len(tlds)]
	}
	return out
}

var vendorNames = []string{"api.stripe.com", "hooks.slack.com", "api.easypost.com", "registry-1.docker.io",
	"storage.googleapis.com", "sts.amazonaws.com", "api.github.com", "kubernetes.default.svc.cluster.local"}

func clientRows(ns, client string, names []string, rcode string, queries float64) []source.Row {
	rows := make([]source.Row, len(names))
	for i, n := range names {
		rows[i] = dnsRow(ns, client, n, rcode, queries)
	}
	return rows
}

func TestDGA(t *testing.T) {
	legit300 := withTLDs(wordLabels(99, 300), "com")
	tests := []struct {
		name          string
		params        map[string]string
		rows          []source.Row
		wantAnomalous bool
	}{
		{"20 random-character names answered NXDomain alert",
			nil, append(clientRows("shop", "cart-*", withTLDs(randomLabels(1, 20, 10, 16, testLetters), "com", "net", "ru"), "NXDomain", 1),
				clientRows("shop", "cart-*", vendorNames, "NoError", 40)...), true},
		{"30 dictionary-word names answered NXDomain alert",
			nil, append(clientRows("shop", "cart-*", withTLDs(wordLabels(2, 30), "net", "com"), "NXDomain", 1),
				clientRows("shop", "cart-*", vendorNames, "NoError", 40)...), true},
		{"random-character names alert without answer codes",
			nil, clientRows("shop", "cart-*", withTLDs(randomLabels(3, 20, 10, 16, testLetters+"0123456789"), "biz"), "", 1), true},
		{"a pod resolving its vendors does not alert",
			nil, clientRows("shop", "cart-*", vendorNames, "NoError", 100), false},
		{"a crawler resolving 300 legitimate names and 6 random ones does not alert",
			nil, append(clientRows("shop", "crawler-*", legit300, "NoError", 2),
				clientRows("shop", "crawler-*", withTLDs(randomLabels(4, 6, 10, 14, testLetters), "com"), "NoError", 1)...), false},
		{"three odd names that fail do not alert",
			nil, clientRows("shop", "cart-*", withTLDs(randomLabels(5, 3, 10, 14, testLetters), "com"), "NXDomain", 3), false},
		{"a higher threshold keeps a small generator quiet",
			map[string]string{"threshold": "0.8"}, clientRows("shop", "cart-*", withTLDs(randomLabels(6, 10, 10, 16, testLetters), "com"), "NXDomain", 1), false},
		{"fewer names are needed when names is lowered",
			map[string]string{"names": "2"}, clientRows("shop", "cart-*", withTLDs(randomLabels(7, 3, 12, 16, testLetters), "com"), "NXDomain", 1), true},
		{"search-path expansions and cluster names do not count",
			nil, clientRows("shop", "cart-*", withTLDs(randomLabels(8, 30, 10, 14, testLetters), "com.shop.svc.cluster.local"), "NXDomain", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDetector(t, "dga", tt.params)
			vs := d.Judge(testWindow, [][]source.Row{tt.rows})
			if len(vs) != 1 {
				t.Fatalf("got %d verdicts, want 1: %+v", len(vs), vs)
			}
			v := vs[0]
			t.Logf("score %.3f: %s", v.Score, v.Summary)
			if v.Anomalous() != tt.wantAnomalous {
				t.Errorf("score %.3f (threshold %.2f): anomalous %v, want %v; %s", v.Score, v.Threshold, v.Anomalous(), tt.wantAnomalous, v.Summary)
			}
			if v.Score < 0 || v.Score > 1 {
				t.Errorf("score %v outside 0..1", v.Score)
			}
			if v.Entity.Namespace != tt.rows[0].Key[0] || v.Entity.Workload != tt.rows[0].Key[1] || v.Entity.Type != "wep" {
				t.Errorf("entity %+v is not the client %v", v.Entity, tt.rows[0].Key[:2])
			}
			if tt.wantAnomalous {
				q := v.EvidenceQuery
				if len(q) != 1 || len(q[0].Filters) != 3 || q[0].Filters[2].Field != "qname" || len(q[0].Filters[2].Values) == 0 {
					t.Errorf("evidence %+v does not select the suspicious names", q)
				}
			}
		})
	}
}

func TestDGAJudgesEveryClientAlone(t *testing.T) {
	rows := append(clientRows("shop", "cart-*", withTLDs(randomLabels(1, 20, 10, 16, testLetters), "com"), "NXDomain", 1),
		clientRows("payments", "ledger-*", vendorNames, "NoError", 10)...)
	vs := newTestDetector(t, "dga", nil).Judge(testWindow, [][]source.Row{rows})
	got := map[string]bool{}
	for _, v := range vs {
		got[v.Entity.Namespace+"/"+v.Entity.Workload] = v.Anomalous()
		if strings.Contains(v.Entity.Key(), ".com") {
			t.Errorf("a query name leaked into the entity %+v", v.Entity)
		}
	}
	want := map[string]bool{"shop/cart-*": true, "payments/ledger-*": false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("anomalous by client = %v, want %v", got, want)
	}
}

func TestDGAModelSurvivesRestart(t *testing.T) {
	odd := []string{"api.qzvtrkx-gw.com", "cdn.qzvtrkx-gw.com", "www.kwpqzrt.net"}
	d := newTestDetector(t, "dga", nil).(*dga)
	for i := range 3 {
		w := source.Window{Start: testWindow.Start.Add(time.Duration(i) * time.Hour), End: testWindow.End.Add(time.Duration(i) * time.Hour)}
		d.Judge(w, [][]source.Row{clientRows("shop", "cart-*", odd, "NoError", 5)})
	}
	var buf bytes.Buffer
	if err := d.SaveModel(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), dgaModelHeader+"\n") {
		t.Fatalf("saved model does not start with its version %q:\n%s", dgaModelHeader, buf.String())
	}
	fresh := newTestDetector(t, "dga", nil).(*dga)
	if !fresh.WantsHistory() {
		t.Error("a fresh detector does not want history")
	}
	if err := fresh.LoadModel(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if fresh.WantsHistory() {
		t.Error("a detector whose clients were loaded wants history")
	}
	// Refused files leave the model as it was.
	for _, bad := range []string{"", "not a dga model\n", "dga model v2\nname\tbad name.com\n", "dga model v3\n",
		"dga model v2\nclient\t\"shop\"\t\"cart-*\"\t1\t2\t-\t-\tNaN\t1\n", "dga model v2\nsomething else\n"} {
		if err := fresh.LoadModel(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "dga model") {
			t.Errorf("LoadModel(%q) error = %v, want one naming the dga model", bad, err)
		}
	}
	rows := [][]source.Row{clientRows("shop", "cart-*", withTLDs(randomLabels(1, 8, 10, 16, testLetters), "com"), "NoError", 1)}
	later := source.Window{Start: testWindow.Start.Add(5 * time.Hour), End: testWindow.End.Add(5 * time.Hour)}
	a, b := d.Judge(later, rows), fresh.Judge(later, rows)
	if a[0].Score != b[0].Score || a[0].Expected != b[0].Expected || len(fresh.learned) != 2 {
		t.Errorf("restored model scores %.4f against %.2f, the original %.4f against %.2f; learned %d domains, want 2",
			b[0].Score, b[0].Expected, a[0].Score, a[0].Expected, len(fresh.learned))
	}
	// A file of version 1 (names only) loads its names; its clients learn afresh.
	v1 := newTestDetector(t, "dga", nil).(*dga)
	if err := v1.LoadModel(strings.NewReader("dga learned names v1\napi.qzvtrkx-gw.com\nwww.kwpqzrt.net\n")); err != nil {
		t.Fatalf("a version 1 file: %v", err)
	}
	if !v1.learned["qzvtrkx-gw.com"] || !v1.learned["kwpqzrt.net"] || !v1.WantsHistory() {
		t.Errorf("a version 1 file: learned %v, wants history %v; want both domains and history", v1.learned, v1.WantsHistory())
	}
}

func base32Labels(seed uint64, n, size int) []string {
	r := rand.New(rand.NewPCG(seed, seed))
	out := make([]string, n)
	for i := range out {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		s := strings.ToLower(strings.TrimRight(base32.StdEncoding.EncodeToString(b), "="))
		out[i] = s
		if i%2 == 1 {
			out[i] = hex.EncodeToString(b)
		}
	}
	return out
}

// nibbles writes each hex string as a reversed IPv6 address is written
// under ip6.arpa or a blocklist: one label per hex digit, last first.
func nibbles(hexes []string) []string {
	out := make([]string, 0, len(hexes))
	for _, h := range hexes {
		if len(h) < 32 || strings.Trim(h, "0123456789abcdef") != "" {
			continue
		}
		var labels []string
		for i := 31; i >= 0; i-- {
			labels = append(labels, h[i:i+1])
		}
		out = append(out, strings.Join(labels, "."))
	}
	return out
}

func TestDNSTunnel(t *testing.T) {
	under := func(labels []string, domain string) []string {
		out := make([]string, len(labels))
		for i, l := range labels {
			out[i] = l + "." + domain
		}
		return out
	}
	tests := []struct {
		name          string
		params        map[string]string
		rows          []source.Row
		wantAnomalous bool
		wantDomain    string
	}{
		{"150 encoded subdomains under one domain alert",
			nil, append(clientRows("shop", "cart-*", under(base32Labels(1, 150, 30), "t.exfil-cdn.net"), "NoError", 1),
				clientRows("shop", "cart-*", vendorNames, "NoError", 40)...), true, "exfil-cdn.net"},
		{"a lower chars setting catches 20 encoded names",
			map[string]string{"chars": "300"}, clientRows("shop", "cart-*", under(base32Labels(2, 20, 24), "tunnel.example.org"), "NoError", 1), true, "example.org"},
		{"five encoded names do not alert",
			nil, clientRows("shop", "cart-*", under(base32Labels(3, 5, 30), "example.org"), "NoError", 1), false, ""},
		{"hashed CDN host names do not alert",
			nil, clientRows("shop", "frontend-*", under(randomLabels(4, 200, 13, 14, testLetters+"0123456789"), "cloudfront.net"), "NoError", 3), false, ""},
		{"a mail server's blocklist lookups of IPv6 senders do not alert",
			nil, clientRows("mail", "postfix-*", under(nibbles(base32Labels(8, 300, 16)), "zen.spamhaus.org"), "NXDomain", 1), false, ""},
		{"long readable subdomains do not alert",
			nil, clientRows("monitoring", "prometheus-*", under(wordLabels(5, 200), "internal-metrics.example.com"), "NoError", 1), false, ""},
		{"encoded names spread over many domains do not alert",
			nil, clientRows("shop", "cart-*", withTLDs(base32Labels(6, 100, 20), "com"), "NXDomain", 1), false, ""},
		{"a higher threshold keeps a small tunnel quiet",
			map[string]string{"threshold": "0.9"}, clientRows("shop", "cart-*", under(base32Labels(7, 100, 30), "t.example.org"), "NoError", 1), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := newTestDetector(t, "dns_tunnel", tt.params).Judge(testWindow, [][]source.Row{tt.rows})
			if len(vs) != 1 {
				t.Fatalf("got %d verdicts, want 1", len(vs))
			}
			v := vs[0]
			t.Logf("score %.3f: %s", v.Score, v.Summary)
			if v.Anomalous() != tt.wantAnomalous {
				t.Errorf("score %.3f: anomalous %v, want %v; %s", v.Score, v.Anomalous(), tt.wantAnomalous, v.Summary)
			}
			if tt.wantDomain != "" && !strings.Contains(v.Summary, " under "+tt.wantDomain+" ") {
				t.Errorf("summary %q does not name %s", v.Summary, tt.wantDomain)
			}
			if strings.Contains(v.Entity.Key(), ".") {
				t.Errorf("a query name leaked into the entity %+v", v.Entity)
			}
		})
	}
}

func TestDNSDetectorsRejectBadSettings(t *testing.T) {
	tests := []struct {
		detector string
		params   map[string]string
		want     string
	}{
		{"dga", map[string]string{"threshold": "high"}, "AD_DGA_SCORE_THRESHOLD"},
		{"dga", map[string]string{"threshold": "1.5"}, "(0, 1]"},
		{"dga", map[string]string{"names": "0"}, "names"},
		{"dns_tunnel", map[string]string{"threshold": "0"}, "(0, 1]"},
		{"dns_tunnel", map[string]string{"chars": "-3"}, "chars"},
	}
	for _, tt := range tests {
		info, _ := Lookup(tt.detector)
		_, err := info.New(Options{Params: tt.params})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s with %v: error %v, want one naming %s", tt.detector, tt.params, err, tt.want)
		}
	}
}

func BenchmarkDGAJudge(b *testing.B) {
	rows := append(clientRows("shop", "cart-*", withTLDs(randomLabels(1, 200, 10, 16, testLetters), "com"), "NXDomain", 1),
		clientRows("shop", "frontend-*", withTLDs(wordLabels(2, 800), "com"), "NoError", 3)...)
	d := newDGAForBench(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		d.Judge(testWindow, [][]source.Row{rows})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/name")
}

func newDGAForBench(b *testing.B) Detector {
	info, _ := Lookup("dga")
	d, err := info.New(Options{Cluster: "c1"})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// FuzzDNSDetectorsJudge feeds query names and answer codes as they come
// from the logs: scores stay in 0..1 and no name reaches the entity.
func FuzzDNSDetectorsJudge(f *testing.F) {
	f.Add("kqlxtqptsmys.ru", "NXDomain", 3.0)
	f.Add("mzxw6ytboi.t.example.org.", "NoError", 1.0)
	f.Add("a..b", "", -1.0)
	f.Add(strings.Repeat("x", 300), "ServFail", 1e18)
	f.Fuzz(func(t *testing.T, qname, rcode string, count float64) {
		rows := append(clientRows("shop", "cart-*", withTLDs(randomLabels(1, 6, 10, 16, testLetters), "com"), "NXDomain", 1),
			dnsRow("shop", "cart-*", qname, rcode, count))
		for _, name := range dnsDetectors {
			info, _ := Lookup(name)
			d, err := info.New(Options{Cluster: "c1"})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range d.Judge(testWindow, [][]source.Row{rows}) {
				if !(v.Score >= 0 && v.Score <= 1) {
					t.Fatalf("%s: score %v outside 0..1 for %q", name, v.Score, qname)
				}
				if v.Entity != (Entity{Cluster: "c1", Namespace: "shop", Workload: "cart-*", Type: "wep"}) {
					t.Fatalf("%s: entity %+v is not the client", name, v.Entity)
				}
			}
		}
	})
}

// A vendor whose names look generated is learned from the windows where
// its clients are quiet, and is not counted against them afterwards; names
// that fail and clients that alert teach nothing.
func TestDGALearnsTheClusterVendors(t *testing.T) {
	odd := withTLDs(randomLabels(11, 8, 10, 14, testLetters), "com")
	d := newTestDetector(t, "dga", nil).(*dga)
	before := d.Judge(testWindow, [][]source.Row{clientRows("shop", "cart-*", odd, "NoError", 4)})[0]
	if !before.Anomalous() {
		t.Fatalf("8 random-looking names score %.3f before learning, want an alert to start from", before.Score)
	}
	l := newTestDetector(t, "dga", nil).(*dga)
	// One quiet client resolves two of them at a time with the usual
	// vendors; two more fail.
	for i, rcode := range []string{"NoError", "NoError", "NXDomain"} {
		l.Learn(testWindow, [][]source.Row{append(clientRows("shop", "frontend-*", vendorNames, "NoError", 9),
			clientRows("shop", "frontend-*", odd[2*i:2*i+2], rcode, 2)...)})
	}
	// and a generator's names teach nothing.
	l.Learn(testWindow, [][]source.Row{clientRows("shop", "bad-*", withTLDs(randomLabels(12, 30, 10, 14, testLetters), "net"), "NoError", 1)})
	for _, q := range odd[4:6] {
		if l.learned[q] {
			t.Errorf("%s was learned though it answered NXDomain", q)
		}
	}
	// The vendors' domains are known already from the shipped names.
	if len(l.learned) != 4 {
		t.Errorf("learned %v, want the 4 odd domains that answered", l.learned)
	}
	after := l.Judge(testWindow, [][]source.Row{clientRows("shop", "cart-*", odd, "NoError", 4)})[0]
	t.Logf("8 odd vendor names: score %.3f before learning, %.3f after learning 4 of them", before.Score, after.Score)
	if after.Score >= before.Score || after.Anomalous() {
		t.Errorf("score %.3f after learning, want under %.3f and no alert", after.Score, before.Score)
	}
}

// TestDNSClientsReuseTheirStorage checks grouping windows one after the
// other in the same storage gives what fresh storage gives: clients in key
// order, each with its names merged across answer codes.
func TestDNSClientsReuseTheirStorage(t *testing.T) {
	windows := [][]source.Row{
		append(clientRows("shop", "cart-*", []string{"a.example.com", "b.example.com"}, "NoError", 2),
			dnsRow("shop", "cart-*", "a.example.com", "NXDomain", 1), dnsRow("ops", "backup-*", "s3.amazonaws.com.", "NoError", 4),
			dnsRow("shop", "cart-*", "not a name!", "NoError", 1)),
		clientRows("ops", "backup-*", []string{"x.example.org"}, "NoError", 1),
		append(clientRows("web", "front-*", vendorNames, "NoError", 3), dnsRow("a\x00b", "c", "q.example.com", "", 1),
			dnsRow("a", "b\x00c", "q.example.com", "", 1)),
		nil,
	}
	type client struct {
		key     []string
		invalid int
		names   []dnsQueried
	}
	flatten := func(cs []*dnsClient) []client {
		var out []client
		for _, c := range cs {
			fc := client{key: slices.Clone(c.key), invalid: c.invalid}
			for _, q := range c.names {
				q := *q
				q.client = 0 // where the storage put it
				fc.names = append(fc.names, q)
			}
			out = append(out, fc)
		}
		return out
	}
	var shared dnsWindow
	for i, rows := range windows {
		got := flatten(dnsClients(&shared, rows))
		want := flatten(dnsClients(&dnsWindow{}, rows))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("window %d in reused storage:\n%+v\nin fresh storage:\n%+v", i, got, want)
		}
	}
}

// TestDNSEvidenceSelectsTheClientAndNames checks the evidence filters are
// the client's (as the baseline detectors select it) and the names.
func TestDNSEvidenceSelectsTheClientAndNames(t *testing.T) {
	key := []string{"shop", "cart-*"}
	for _, qnames := range [][]string{nil, {"a.example.com", "b.example.com"}} {
		filters := dnsClientEvidence(key)
		if len(qnames) > 0 {
			filters = append(filters, source.Term{Field: "qname", Values: qnames})
		}
		want := []EvidenceQuery{{Log: "dns", Filters: filters, Limit: 5}}
		if got := dnsEvidence(key, qnames); !reflect.DeepEqual(got, want) {
			t.Errorf("names %v: evidence %+v, want %+v", qnames, got, want)
		}
	}
}
