package detect

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/dnsname"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func init() {
	Register(Info{
		Name:   "dns_tunnel",
		Family: Both,
		Mitre: &Mitre{AttackVector: "network", Tactic: "command and control", IDs: []string{"T1071.004"},
			Mitigations: []string{"block the registered domain", "restrict the workload's DNS egress"}},
		Logs:           []string{"dns"},
		Unit:           UnitNames,
		DefaultEnabled: true,
		Help: "A client carrying data in DNS names: many unique, long, encoded subdomains under one " +
			"registered domain.",
		Params: []Param{
			{Key: "threshold", Default: "0.5",
				Help: "score 0..1 at or above which a client alerts; higher means fewer alerts"},
			{Key: "chars", Default: "2000",
				Help: "characters of unique encoded subdomains under one registered domain in one window " +
					"at which a client's score reaches 0.5 (about 1.2 kB of data in base32)"},
		},
		Scope: NamespaceScope,
		New:   newDNSTunnel,
	})
}

// A subdomain looks encoded when it is long, packed into long labels (as
// tunnels fill them for throughput; one-character labels are nibbles of a
// reversed IPv6 address, as mail servers' blocklist lookups make), far less
// likely than the words names are made of, character by character, and
// varied.
const (
	tunnelMinChars     = 16  // characters of the subdomain, dots left out
	tunnelMinLabel     = 12  // characters of its longest label
	tunnelMeanSurprise = 1.0 // see dnsname.Features.MeanSurprise
	tunnelMinEntropy   = 3.0 // bits per character
	tunnelExamples     = 5
)

type dnsTunnel struct {
	cluster   string
	threshold float64
	chars     float64
	model     *dnsname.Model
	text      text      // scratch for summaries
	window    dnsWindow // scratch of dnsClients
}

func newDNSTunnel(o Options) (Detector, error) {
	info, _ := Lookup("dns_tunnel")
	t, err := o.Float(info, "threshold")
	if err != nil {
		return nil, err
	}
	if t <= 0 || t > 1 {
		return nil, fmt.Errorf("detector dns_tunnel: threshold %v must be in (0, 1]", t)
	}
	c, err := o.Float(info, "chars")
	if err != nil {
		return nil, err
	}
	if c < 1 {
		return nil, fmt.Errorf("detector dns_tunnel: chars %v must be at least 1", c)
	}
	return &dnsTunnel{cluster: o.Cluster, threshold: t, chars: c, model: dnsname.Default()}, nil
}

func (d *dnsTunnel) Name() string            { return "dns_tunnel" }
func (d *dnsTunnel) Threshold() float64      { return d.threshold }
func (d *dnsTunnel) Ready() bool             { return true }
func (d *dnsTunnel) Queries() []source.Query { return []source.Query{dnsNameQuery("dns_tunnel")} }

// Encoded reports whether sub, the labels under a registered domain, looks
// like encoded data, and how many characters it carries.
func (d *dnsTunnel) encoded(sub string) (int, bool) {
	s := strings.ReplaceAll(sub, ".", "")
	if len(s) < tunnelMinChars {
		return len(s), false
	}
	longest := 0
	for l := range strings.SplitSeq(sub, ".") {
		longest = max(longest, len(l))
	}
	if longest < tunnelMinLabel {
		return len(s), false
	}
	f := d.model.Measure(s)
	return len(s), f.MeanSurprise >= tunnelMeanSurprise && f.Entropy >= tunnelMinEntropy
}

// tunnelDomain is what one client sent under one registered domain.
type tunnelDomain struct {
	registered string
	names      int     // distinct names
	encoded    int     // distinct names with encoded subdomains
	chars      float64 // characters of those subdomains
	queries    float64 // queries of every name under the domain
	examples   []string
}

// tunnelSummary is "<workload> in namespace <ns> sent <n> unique encoded
// subdomains (<c> characters) under <domain> in <window>, of <names> names
// and <q> queries to it (<half> characters score 0.5)".
func tunnelSummary(t *text, e Entity, top *tunnelDomain, window time.Duration, half float64) string {
	return t.reset().str(e.Workload).str(" in namespace ").str(e.Namespace).str(" sent ").integer(top.encoded).
		str(" unique encoded subdomains (").fixed(top.chars, 0).str(" characters) under ").str(top.registered).
		str(" in ").duration(window).str(", of ").integer(top.names).str(" names and ").fixed(top.queries, 0).
		str(" queries to it (").fixed(half, 0).str(" characters score 0.5)").String()
}

func (d *dnsTunnel) Judge(w source.Window, rows [][]source.Row) []Verdict {
	if len(rows) == 0 {
		return nil
	}
	clients := dnsClients(&d.window, rows[0])
	out := make([]Verdict, 0, len(clients))
	for _, c := range clients {
		byDomain := map[string]*tunnelDomain{}
		var top *tunnelDomain
		for _, q := range c.names {
			if q.name.Internal || q.name.Registered == "" {
				continue
			}
			dom := byDomain[q.name.Registered]
			if dom == nil {
				dom = &tunnelDomain{registered: q.name.Registered}
				byDomain[q.name.Registered] = dom
			}
			dom.names++
			dom.queries += q.queries
			if n, ok := d.encoded(q.name.Sub); ok {
				dom.encoded++
				dom.chars += float64(n)
				if len(dom.examples) < tunnelExamples {
					dom.examples = append(dom.examples, q.raw)
				}
			}
			if top == nil || dom.chars > top.chars || dom.chars == top.chars && dom.registered < top.registered {
				top = dom
			}
		}
		e, _ := dnsClientEntity(d.cluster, c.key)
		v := Verdict{Detector: "dns_tunnel", Entity: e, Window: w, Threshold: d.threshold, Expected: d.chars}
		if top == nil || top.chars == 0 {
			v.Summary = d.text.reset().str(e.Workload).str(" in namespace ").str(e.Namespace).
				str(" sent no encoded subdomains in ").duration(w.End.Sub(w.Start)).str(" (").integer(len(byDomain)).
				str(" registered domains outside the cluster)").String()
			v.EvidenceQuery = dnsEvidence(c.key, nil)
			out = append(out, v)
			continue
		}
		v.Observed = top.chars
		v.Score = top.chars / (top.chars + d.chars)
		v.Summary = tunnelSummary(&d.text, e, top, w.End.Sub(w.Start), d.chars)
		sort.Strings(top.examples)
		v.EvidenceQuery = dnsEvidence(c.key, top.examples)
		out = append(out, v)
	}
	return out
}

var _ EntityBounded = (*dnsTunnel)(nil)

// LiveEntities is 0: the detector judges each window on its own against a
// shared name model and keeps nothing per client.
func (d *dnsTunnel) LiveEntities() int { return 0 }

// ForgetLeastRecent has nothing to forget.
func (d *dnsTunnel) ForgetLeastRecent(int) int { return 0 }
