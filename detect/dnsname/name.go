// Package dnsname owns what the DNS detectors know about query names:
// splitting a name into its registered domain and the labels under it, and a
// character-level model of legitimate names that scores how machine-generated
// a label looks.
package dnsname

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Limits of a DNS name in text form (RFC 1035 2.3.4).
const (
	MaxNameLength  = 253
	MaxLabelLength = 63
)

// Name is a query name split around its registered domain.
type Name struct {
	// FQDN is the name in lower case without the trailing dot.
	FQDN string
	// Registered is the registered domain: the public suffix and one label
	// more ("google.com", "bbc.co.uk"). Under a suffix of the private part
	// of the Public Suffix List where anyone picks a name (dynamic DNS,
	// hosting: ddns.net, github.io, duckdns.org) the name picked is the
	// registered domain: "x7k2q.ddns.net". Under a provider that names its
	// hosts itself (cloudfront.net, amazonaws.com, see ProviderNamed) the
	// ICANN registered domain is: "d111.cloudfront.net" is registered under
	// cloudfront.net. Empty when the name is a public suffix itself.
	Registered string
	// Suffix is the public suffix ("com", "co.uk", "ddns.net"), or the last
	// label of a name outside the public DNS ("local", "bazar").
	Suffix string
	// Provider is the private suffix the registered domain was picked
	// under ("ddns.net"), empty under an ICANN suffix.
	Provider string
	// Label is the registered domain's own label: "google" of google.com.
	Label string
	// Sub is the labels under the registered domain ("www.maps"), empty
	// when none.
	Sub string
	// Internal says the name does not resolve on the internet: a cluster or
	// private zone (cluster.local, .internal, .local, .lan, .consul, see
	// PrivateTLDs) or a reverse lookup (in-addr.arpa, ip6.arpa).
	Internal bool
	// UnknownTLD says the last label is neither an ICANN top-level domain
	// nor a private-use one: an alternative root (EmerDNS's .bazar, .bit)
	// or a cluster's own zone the detectors have not learned yet.
	UnknownTLD bool
}

// PrivateTLDs are last labels of names that never leave a private network:
// special-use names (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal),
// Kubernetes' and service meshes' zones, and habits of private networks.
var PrivateTLDs = map[string]bool{
	"local": true, "localhost": true, "internal": true, "test": true, "example": true, "invalid": true,
	"lan": true, "home": true, "corp": true, "localdomain": true, "intranet": true, "private": true, "priv": true,
	"svc": true, "cluster": true, "consul": true, "docker": true, "k8s": true, "kube": true, "mesh": true,
	"nomad": true, "vault": true, "onion": true, "alt": true, "arpa": true,
}

// ProviderNamed are registered domains of providers whose private
// suffixes hold host names the provider makes (hashes, addresses, regions):
// a label under them says nothing of who runs it.
var ProviderNamed = map[string]bool{
	"amazonaws.com": true, "on.aws": true, "cloudfront.net": true, "akamaiedge.net": true, "akamaized.net": true,
	"akamaihd.net": true, "edgekey.net": true, "edgesuite.net": true, "azureedge.net": true, "azurefd.net": true,
	"cloudapp.net": true, "azure.com": true, "windows.net": true, "trafficmanager.net": true, "azurecontainer.io": true,
	"fastly.net": true, "googleapis.com": true, "googleusercontent.com": true, "run.app": true, "cloudflare.net": true,
	"r2.dev": true, "elasticbeanstalk.com": true,
}

// internalZones are zones under ICANN top-level domains that never carry
// names anyone registered.
var internalZones = []string{"in-addr.arpa", "ip6.arpa", "home.arpa"}

// Parse normalises a query name and splits it. It refuses names that are not
// valid host names in text form: empty, too long, with an empty or too long
// label, or with characters other than letters, digits, '-' and '_'.
func Parse(qname string) (Name, error) {
	fqdn := strings.TrimSuffix(qname, ".")
	if err := check(fqdn, qname); err != nil {
		return Name{}, err
	}
	fqdn = strings.ToLower(fqdn)
	n := Name{FQDN: fqdn}
	// The public suffix list is asked once for the whole name: both
	// answers start from it.
	public, publicICANN := publicsuffix.PublicSuffix(fqdn)
	suffix, icann := icannSuffix(public, publicICANN)
	if private := pickedSuffix(fqdn, suffix, public, publicICANN); private != "" {
		suffix, n.Provider = private, private
	}
	n.Suffix = suffix
	if !icann {
		// An unqualified name ("redis") is a search-path lookup.
		n.Internal = PrivateTLDs[suffix] || fqdn == suffix
		n.UnknownTLD = !n.Internal
	}
	for _, z := range internalZones {
		if fqdn == z || strings.HasSuffix(fqdn, "."+z) {
			n.Internal, n.UnknownTLD = true, false
		}
	}
	if len(fqdn) == len(suffix) {
		return n, nil // a suffix itself: "com", "local"
	}
	rest := fqdn[:len(fqdn)-len(suffix)-1]
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		n.Sub, n.Label = rest[:i], rest[i+1:]
	} else {
		n.Label = rest
	}
	n.Registered = n.Label + "." + suffix
	return n, nil
}

// icannSuffix returns the longest ICANN public suffix of a name whose
// public suffix is suffix (icann: an ICANN one), or its last label and
// false when it has none (a top-level domain no registry runs).
func icannSuffix(suffix string, icann bool) (string, bool) {
	for !icann {
		i := strings.IndexByte(suffix, '.')
		if i < 0 {
			return suffix, false
		}
		// A private suffix (s3.amazonaws.com): look for the ICANN one under it.
		suffix, icann = publicsuffix.PublicSuffix(suffix[i+1:])
	}
	return suffix, true
}

// pickedSuffix returns the private suffix of fqdn under which someone
// picked the next label (a dynamic-DNS or hosting name: "ddns.net" of
// "x7k2q.ddns.net"), or "" when there is none: the name's public suffix is
// ICANN's, a provider's that names its hosts (ProviderNamed), or the whole
// name (a wildcard rule). suffix and icann are the public suffix list's
// answer for fqdn.
func pickedSuffix(fqdn, icannSuffix, suffix string, icann bool) string {
	if icann || len(suffix) >= len(fqdn) || !strings.HasSuffix(suffix, "."+icannSuffix) {
		return ""
	}
	owner := suffix[:len(suffix)-len(icannSuffix)-1]
	if i := strings.LastIndexByte(owner, '.'); i >= 0 {
		owner = owner[i+1:]
	}
	if ProviderNamed[owner+"."+icannSuffix] {
		return ""
	}
	return suffix
}

// errEmpty is the error of an empty name.
var errEmpty = errors.New("dns name: empty")

// check validates fqdn (qname without its trailing dot); errors quote qname
// shortened, as names come from outside and may be long.
func check(fqdn, qname string) error {
	if fqdn == "" {
		return errEmpty
	}
	if len(fqdn) > MaxNameLength {
		return fmt.Errorf("dns name %s: %d characters, more than %d", quote(qname), len(fqdn), MaxNameLength)
	}
	label, start := 0, 0
	for i := 0; i <= len(fqdn); i++ {
		if i < len(fqdn) && fqdn[i] != '.' {
			if !nameByte(fqdn[i]) {
				return fmt.Errorf("dns name %s: character %q at %d is not a letter, digit, '-' or '_'", quote(qname), fqdn[i], i)
			}
			continue
		}
		label++
		switch n := i - start; {
		case n == 0:
			return fmt.Errorf("dns name %s: label %d is empty", quote(qname), label)
		case n > MaxLabelLength:
			return fmt.Errorf("dns name %s: label %d has %d characters, more than %d", quote(qname), label, n, MaxLabelLength)
		}
		start = i + 1
	}
	return nil
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// quote shortens s for an error message.
func quote(s string) string {
	const maxQuoted = 80
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q…", s[:maxQuoted])
	}
	return fmt.Sprintf("%q", s)
}
