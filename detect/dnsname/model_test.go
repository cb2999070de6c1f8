package dnsname

import (
	"bufio"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// nameThreshold is the score the DNS detectors call suspicious.
const nameThreshold = 0.5

func parse(t testing.TB, qname string) Name {
	t.Helper()
	n, err := Parse(qname)
	if err != nil {
		t.Fatalf("Parse(%q): %v", qname, err)
	}
	return n
}

func score(t testing.TB, m *Model, qname string) float64 { return m.Score(parse(t, qname)) }

// modelScore is the score of the character model alone, whatever the
// known domains.
func modelScore(t testing.TB, m *Model, qname string) float64 { return m.scoreUnknown(parse(t, qname)) }

func TestScoreFamousNames(t *testing.T) {
	m := Default()
	tests := []struct {
		name, qname string
		generated   bool
	}{
		{"a search engine", "google.com", false},
		{"object storage of a cloud", "s3.amazonaws.com", false},
		{"a regional cloud API", "dynamodb.eu-central-1.amazonaws.com", false},
		{"the Kubernetes API service", "kubernetes.default.svc.cluster.local", false},
		{"a CDN host with a hashed name", "d3k5nsl2zxldvw.cloudfront.net", false},
		{"an Akamai edge host", "e6858.dsce9.akamaiedge.net", false},
		{"a container registry", "registry-1.docker.io", false},
		{"a payment API", "api.stripe.com", false},
		{"a short brand", "bit.ly", false},
		{"a news site with digits", "20minutos.es", false},
		{"a reverse lookup", "7.1.0.10.in-addr.arpa", false},
		{"an internationalised name", "xn--bcher-kva.de", false},
		{"CryptoLocker-like output", "kqlxtqptsmys.ru", true},
		{"Conficker-like output", "vfxpnxzsbrq.ws", true},
		{"random letters and digits", "x7k2jq9wz0pl.com", true},
		{"a long random label", "ofopcvfkngwfyvjtbq.biz", true},
		{"hex under a common TLD", "3f9a0c4e7b21d8.net", true},
		{"random consonants", "bcdfghkzxqwtr.info", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The character model alone, and with the known domains.
			for _, s := range []float64{modelScore(t, m, tt.qname), score(t, m, tt.qname)} {
				if got := s >= nameThreshold; got != tt.generated {
					t.Errorf("score of %q = %.3f: generated %v, want %v", tt.qname, s, got, tt.generated)
				}
			}
		})
	}
}

// heldOut reads legitimate names the model was not trained on.
func heldOut(t *testing.T) []string {
	f, err := os.Open("testdata/held_out_names.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if l := strings.TrimSpace(s.Text()); l != "" && l[0] != '#' {
			out = append(out, l)
		}
	}
	if len(out) < 100 {
		t.Fatalf("testdata/held_out_names.txt: %d names, want at least 100", len(out))
	}
	return out
}

// randomLabel is a label of n characters drawn uniformly from alphabet.
func randomLabel(r *rand.Rand, n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func TestScoreSeparatesLegitimateFromRandomNames(t *testing.T) {
	m := Default()
	benign := heldOut(t)
	flagged, highest, highestName := 0, 0.0, ""
	for _, q := range benign {
		s := modelScore(t, m, q)
		if s > highest {
			highest, highestName = s, q
		}
		if s >= nameThreshold {
			flagged++
			t.Logf("legitimate %s scores %.3f", q, s)
		}
	}
	r := rand.New(rand.NewPCG(7, 7))
	const randoms = 2000
	missed := 0
	for i := range randoms {
		alphabet := "abcdefghijklmnopqrstuvwxyz"
		if i%2 == 1 {
			alphabet += "0123456789"
		}
		l := randomLabel(r, 10+r.IntN(11), alphabet)
		if m.ScoreLabel(l) < nameThreshold {
			missed++
		}
	}
	t.Logf("legitimate held-out names flagged: %d of %d (highest %s, %.3f); random labels of 10-20 characters missed: %d of %d",
		flagged, len(benign), highestName, highest, missed, randoms)
	if flagged > 0 {
		t.Errorf("%d of %d legitimate names score at or above %.1f", flagged, len(benign), nameThreshold)
	}
	if missed > randoms/50 {
		t.Errorf("%d of %d random labels score under %.1f, want at most 2%%", missed, randoms, nameThreshold)
	}
}

func TestLearnMakesTheClusterNamesLegitimate(t *testing.T) {
	m := Default()
	const q, similar = "qzvtrkx-gw.example.com", "qzvtrkx-gw2.example.org" // odd names of the cluster's own vendor
	before, similarBefore := score(t, m, q), score(t, m, similar)
	n := parse(t, q)
	for range 50 {
		m.Learn(n)
	}
	if !m.Known("example.com") || m.Known("example.org") || score(t, m, q) != 0 {
		t.Errorf("after learning %s: known %v, %s known %v, score %.3f; want it known and scoring 0",
			q, m.Known("example.com"), "example.org", m.Known("example.org"), score(t, m, q))
	}
	after := score(t, m, similar)
	if after >= similarBefore || after >= nameThreshold {
		t.Errorf("score of %s went from %.3f to %.3f after learning %s, want it lower and under %.1f", similar, similarBefore, after, q, nameThreshold)
	}
	if fresh := score(t, Default(), q); fresh != before {
		t.Errorf("learning changed the shipped model: %.3f then %.3f", before, fresh)
	}
	if m.Learned() != 50*2 {
		t.Errorf("Learned() = %d, want %d", m.Learned(), 50*2)
	}
}

func TestScoreIsDeterministic(t *testing.T) {
	a, b := Default(), Default()
	for _, q := range []string{"google.com", "kqlxtqptsmys.ru", "api.stripe.com", "qzvtrkx-gw.example.com"} {
		if x, y := score(t, a, q), score(t, b, q); x != y {
			t.Errorf("Score(%q) = %v then %v", q, x, y)
		}
	}
}

func BenchmarkParseAndScore(b *testing.B) {
	m := Default()
	names := []string{"www.google.com", "kqlxtqptsmys.ru", "kubernetes.default.svc.cluster.local",
		"d3k5nsl2zxldvw.cloudfront.net", "mzxw6ytboi2dgmjsgm3tqobzga.t.example-tunnel.net"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		n, err := Parse(names[i%len(names)])
		if err != nil {
			b.Fatal(err)
		}
		_ = m.Score(n)
	}
}

func BenchmarkScoreLabel(b *testing.B) {
	m := Default()
	labels := []string{"google", "kqlxtqptsmys", "kubernetes", "followcompletehistory", "x7k2jq9wz0pl"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		_ = m.ScoreLabel(labels[i%len(labels)])
	}
}

func BenchmarkDefault(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		_ = Default()
	}
}
