package dnsname

import (
	"os"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, qname                  string
		registered, label, sub, suff string
		internal                     bool
	}{
		{"a registered domain alone", "google.com", "google.com", "google", "", "com", false},
		{"a host under a registered domain", "www.google.com", "google.com", "google", "www", "com", false},
		{"a two-label public suffix", "news.bbc.co.uk", "bbc.co.uk", "bbc", "news", "co.uk", false},
		{"a trailing dot and capitals", "API.Stripe.COM.", "stripe.com", "stripe", "api", "com", false},
		{"a private suffix is not a registry", "s3.amazonaws.com", "amazonaws.com", "amazonaws", "s3", "com", false},
		{"a CDN host under the CDN's domain", "d111111abcdef8.cloudfront.net", "cloudfront.net", "cloudfront", "d111111abcdef8", "net", false},
		{"a Kubernetes service", "kubernetes.default.svc.cluster.local", "cluster.local", "cluster", "kubernetes.default.svc", "local", true},
		{"a name of a private zone", "fraud-db.corp.internal", "corp.internal", "corp", "fraud-db", "internal", true},
		{"a reverse lookup", "10.0.96.10.in-addr.arpa", "10.in-addr.arpa", "10", "10.0.96", "in-addr.arpa", true},
		{"a public suffix alone", "com", "", "", "", "com", false},
		{"an unqualified name", "redis", "", "", "", "redis", true},
		{"a name picked under a dynamic-DNS provider", "www.b7xupip1jmtgrilk.ddns.net", "b7xupip1jmtgrilk.ddns.net", "b7xupip1jmtgrilk", "www", "ddns.net", false},
		{"a project's pages under a hosting provider", "docs.github.io", "docs.github.io", "docs", "", "github.io", false},
		{"a bucket under a cloud's storage", "my-bucket.s3.us-west-2.amazonaws.com", "amazonaws.com", "amazonaws", "my-bucket.s3.us-west-2", "com", false},
		{"a load balancer under a wildcard rule", "web-1234.us-east-1.elb.amazonaws.com", "amazonaws.com", "amazonaws", "web-1234.us-east-1.elb", "com", false},
		{"a name under an alternative root", "kjhsdfkjh.bazar", "kjhsdfkjh.bazar", "kjhsdfkjh", "", "bazar", false},
		{"a Consul service", "web.service.consul", "service.consul", "service", "web", "consul", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.qname)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.qname, err)
			}
			unknownTLD := tt.suff == "bazar"
			if n.Registered != tt.registered || n.Label != tt.label || n.Sub != tt.sub || n.Suffix != tt.suff || n.Internal != tt.internal || n.UnknownTLD != unknownTLD {
				t.Errorf("Parse(%q) = %+v, want registered %q label %q sub %q suffix %q internal %v",
					tt.qname, n, tt.registered, tt.label, tt.sub, tt.suff, tt.internal)
			}
		})
	}
}

func TestParseRefusesBadNames(t *testing.T) {
	tests := []struct {
		name, qname, want string
	}{
		{"an empty name", "", "empty"},
		{"a lone dot", ".", "empty"},
		{"an empty label", "a..example.com", "label 2 is empty"},
		{"a leading dot", ".example.com", "label 1 is empty"},
		{"a label of 64 characters", strings.Repeat("a", 64) + ".com", "label 1 has 64 characters"},
		{"a name of 254 characters", strings.Repeat("abcdefghi.", 25) + "com1", "254 characters"},
		{"a space", "my host.com", "character ' ' at 2"},
		{"a non-ASCII letter", "bücher.de", "is not a letter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.qname)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%q) error = %v, want one saying %q", tt.qname, err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"google.com", "www.bbc.co.uk.", "kubernetes.default.svc.cluster.local",
		"d111111abcdef8.cloudfront.net", "com", "a..b", "10.0.96.10.in-addr.arpa", "xn--bcher-kva.de", "_dmarc.example.org"} {
		f.Add(s)
	}
	if data, err := os.ReadFile("testdata/held_out_names.txt"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			f.Add(l)
		}
	}
	m := Default()
	f.Fuzz(func(t *testing.T, qname string) {
		n, err := Parse(qname)
		if err != nil {
			return
		}
		if n.FQDN != strings.ToLower(n.FQDN) || strings.HasSuffix(n.FQDN, ".") || len(n.FQDN) > MaxNameLength {
			t.Fatalf("Parse(%q).FQDN = %q is not normalised", qname, n.FQDN)
		}
		if n.Suffix == "" || !strings.HasSuffix(n.FQDN, n.Suffix) {
			t.Fatalf("Parse(%q): suffix %q does not end %q", qname, n.Suffix, n.FQDN)
		}
		if n.Registered != "" {
			if n.Registered != n.Label+"."+n.Suffix || strings.Contains(n.Label, ".") {
				t.Fatalf("Parse(%q): registered %q is not label %q + suffix %q", qname, n.Registered, n.Label, n.Suffix)
			}
			whole := n.Registered
			if n.Sub != "" {
				whole = n.Sub + "." + n.Registered
			}
			if whole != n.FQDN {
				t.Fatalf("Parse(%q): sub %q + registered %q != %q", qname, n.Sub, n.Registered, n.FQDN)
			}
		} else if n.Label != "" || n.Sub != "" || n.FQDN != n.Suffix {
			t.Fatalf("Parse(%q) = %+v: a name without a registered domain must be its suffix", qname, n)
		}
		if s := m.Score(n); s < 0 || s > 1 {
			t.Fatalf("Score(%q) = %v, outside 0..1", qname, s)
		}
	})
}
