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
	// Registered is the registered domain: the ICANN public suffix and one
	// label more ("google.com", "bbc.co.uk"). Suffixes of the private part
	// of the Public Suffix List (cloudfront.net, s3.amazonaws.com) are not
	// registries: "d111.cloudfront.net" is registered under cloudfront.net.
	// Empty when the name is a public suffix itself.
	Registered string
	// Suffix is the public suffix ("com", "co.uk"), or the last label of a
	// name outside the public DNS ("local").
	Suffix string
	// Label is the registered domain's own label: "google" of google.com.
	Label string
	// Sub is the labels under the registered domain ("www.maps"), empty
	// when none.
	Sub string
	// Internal says the name does not resolve on the internet: a cluster or
	// private zone (cluster.local, .internal, .local, any name whose last
	// label is not an ICANN top-level domain) or a reverse lookup
	// (in-addr.arpa, ip6.arpa).
	Internal bool
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
	suffix, icann := icannSuffix(fqdn)
	n.Suffix = suffix
	n.Internal = !icann
	for _, z := range internalZones {
		if fqdn == z || strings.HasSuffix(fqdn, "."+z) {
			n.Internal = true
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

// icannSuffix returns the longest ICANN public suffix of name, or its last
// label and false when it has none (a top-level domain no registry runs).
func icannSuffix(name string) (string, bool) {
	suffix, icann := publicsuffix.PublicSuffix(name)
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
