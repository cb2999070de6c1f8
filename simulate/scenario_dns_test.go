package simulate

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

func TestDNSScenariosRefuseWhatCannotBePlayed(t *testing.T) {
	at := day0.Add(10 * time.Hour)
	tests := []struct {
		name string
		s    Scenario
		want string
	}{
		{"lookups without a time", DGALookups{Namespace: "shop", Workload: "cart", Family: DGARandom}, "no time"},
		{"lookups from outside", DGALookups{At: at, Namespace: Outside, Workload: "x", Family: DGARandom}, "no workload"},
		{"an unknown family", DGALookups{At: at, Namespace: "shop", Workload: "cart", Family: "markov"}, `family "markov"`},
		{"a tunnel without an encoding", DNSTunnel{At: at, Namespace: "shop", Workload: "cart"}, "encoding"},
		{"a chunk too large for a name", DNSTunnel{At: at, Namespace: "shop", Workload: "cart", Encoding: EncodingHex, ChunkBytes: 200}, "200 bytes"},
		{"normal lookups of nothing", Lookups{Namespace: "shop", Workload: "cart"}, "no names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// attackDNS returns the DNS records of w that the cluster's normal traffic
// does not make.
func attackDNS(t *testing.T, s Scenario, w time.Time) ([]calicolog.DNSLog, []Label) {
	t.Helper()
	c := New(Options{Seed: 5}, s)
	var b Batch
	win := window(w, c.Bucket())
	s.Apply(c, win, &b)
	for _, d := range b.DNS {
		if err := d.Validate(); err != nil {
			t.Fatalf("%s makes an invalid DNS log: %v", s.Name(), err)
		}
		if !win.Contains(d.EndTime) {
			t.Fatalf("%s record ends at %s, outside its bucket %s", s.Name(), d.EndTime, win)
		}
	}
	return b.DNS, b.Truth
}

func TestDGALookups(t *testing.T) {
	at := day0.Add(10 * time.Hour)
	for _, family := range []string{DGARandom, DGAWords} {
		t.Run(family, func(t *testing.T) {
			s := DGALookups{At: at, Duration: 10 * time.Minute, Namespace: "shop", Workload: "cart", Family: family, PerBucket: 20}
			recs, labels := attackDNS(t, s, at)
			again, _ := attackDNS(t, s, at)
			if !reflect.DeepEqual(recs, again) {
				t.Fatal("the same seed made different records")
			}
			if len(recs) != 4*20 || len(labels) != 1 || labels[0].Detectors[0] != "dga" || labels[0].Workload == "" {
				t.Fatalf("%d records and labels %+v, want 80 records (20 names, each with 3 search-path expansions) and one dga label", len(recs), labels)
			}
			absolute, nx := map[string]bool{}, 0
			for _, r := range recs {
				if !strings.HasSuffix(r.QName, ".cluster.local") {
					absolute[r.QName] = true
					if r.RCode == "NXDomain" {
						nx++
					}
				}
			}
			if len(absolute) != 20 || nx < 19 {
				t.Errorf("%d distinct names, %d NXDomain, want 20 names, at least 19 NXDomain", len(absolute), nx)
			}
			nextDay, _ := attackDNS(t, DGALookups{At: at.Add(24 * time.Hour), Namespace: "shop", Workload: "cart", Family: family, PerBucket: 20}, at.Add(24*time.Hour))
			for _, r := range nextDay {
				if absolute[r.QName] {
					t.Errorf("%s generated again the next day: generators change their names daily", r.QName)
				}
			}
			if outside, _ := attackDNS(t, s, at.Add(time.Hour)); len(outside) != 0 {
				t.Errorf("%d records an hour after the attack", len(outside))
			}
		})
	}
}

func TestDNSTunnelNames(t *testing.T) {
	at := day0.Add(10 * time.Hour)
	for _, enc := range []string{EncodingBase32, EncodingHex} {
		t.Run(enc, func(t *testing.T) {
			s := DNSTunnel{At: at, Namespace: "payments", Workload: "postgres", Domain: "t.example-sync.net", Encoding: enc, PerBucket: 50, ChunkBytes: 60}
			recs, labels := attackDNS(t, s, at)
			if len(recs) != 50 || len(labels) != 1 || labels[0].Detectors[0] != "dns_tunnel" {
				t.Fatalf("%d records and labels %+v, want 50 and one dns_tunnel label", len(recs), labels)
			}
			seen := map[string]bool{}
			for _, r := range recs {
				if !strings.HasSuffix(r.QName, ".t.example-sync.net") || seen[r.QName] || len(r.QName) > 253 {
					t.Fatalf("query %s is not a unique valid name under the tunnel's domain", r.QName)
				}
				for _, l := range strings.Split(r.QName, ".") {
					if len(l) > 63 {
						t.Fatalf("query %s has a label of %d characters", r.QName, len(l))
					}
				}
				seen[r.QName] = true
			}
		})
	}
}
