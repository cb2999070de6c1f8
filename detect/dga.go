package detect

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/dnsname"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func init() {
	Register(Info{
		Name:           "dga",
		Family:         Security,
		Logs:           []string{"dns"},
		DefaultEnabled: true,
		Help: "A client resolving many registered domains that look machine-generated, most of them " +
			"answered NXDomain: malware looking for its command server (MITRE T1568.002).",
		Params: []Param{
			{Key: "threshold", Env: "AD_DGA_SCORE_THRESHOLD", Default: "0.5",
				Help: "score 0..1 at or above which a client alerts; higher means fewer alerts"},
			{Key: "names", Default: "5",
				Help: "suspicious registered domains (each weighted by its score) a client resolves in one window, " +
					"beyond a tenth of its legitimate ones, at which its score reaches 0.5"},
		},
		New: newDGA,
	})
}

const (
	// dgaNameThreshold is the weight at or above which a registered
	// domain counts as suspicious.
	dgaNameThreshold = 0.5
	// dgaNXWeight is how much of the remaining doubt an NXDomain answer
	// removes: a name that does not exist is half-way to suspicious
	// whatever it looks like, as dictionary-word generators make names
	// that look legitimate but were never registered.
	dgaNXWeight = 0.5
	// dgaLegitimateWeight is how much each legitimate registered domain a
	// client resolves raises its bar: a proxy or a crawler resolving
	// hundreds of names may meet a few odd ones.
	dgaLegitimateWeight = 0.1
	// dgaExamples is how many names a verdict quotes and fetches as evidence.
	dgaExamples = 5
	// dgaMaxLearned bounds the names the model learns from the cluster.
	dgaMaxLearned = 20000
)

type dga struct {
	cluster   string
	threshold float64
	names     float64
	model     *dnsname.Model
	// learned holds the names already learned, each learned once.
	learned map[string]bool
	text    text      // scratch for summaries
	window  dnsWindow // scratch of dnsClients
}

func newDGA(o Options) (Detector, error) {
	info, _ := Lookup("dga")
	t, err := o.Float(info, "threshold")
	if err != nil {
		return nil, err
	}
	if t <= 0 || t > 1 {
		return nil, fmt.Errorf("detector dga: AD_DGA_SCORE_THRESHOLD=%v must be in (0, 1]", t)
	}
	n, err := o.Float(info, "names")
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("detector dga: names %v must be at least 1", n)
	}
	return &dga{cluster: o.Cluster, threshold: t, names: n, model: dnsname.Default(), learned: map[string]bool{}}, nil
}

func (d *dga) Name() string            { return "dga" }
func (d *dga) Threshold() float64      { return d.threshold }
func (d *dga) Ready() bool             { return true } // the shipped model knows legitimate names
func (d *dga) Queries() []source.Query { return []source.Query{dnsNameQuery("dga")} }

// dgaDomain is one registered domain a client resolved.
type dgaDomain struct {
	registered string
	score      float64 // how machine-generated its label looks
	weight     float64 // score with the NXDomain evidence
	queries    float64
	nx         float64
	answered   float64
	examples   []string // qnames as logged
}

// dgaJudgement is one client's window.
type dgaJudgement struct {
	client     *dnsClient
	suspicious []*dgaDomain
	legitimate int
	weight     float64 // sum of the suspicious domains' weights
	queries    float64
	nx         float64
	answered   float64
}

// judgeClient weighs a client's registered domains.
func (d *dga) judgeClient(c *dnsClient) dgaJudgement {
	j := dgaJudgement{client: c}
	byDomain := map[string]*dgaDomain{}
	var domains []*dgaDomain
	for _, q := range c.names {
		if q.name.Internal || q.name.Registered == "" {
			continue
		}
		dom := byDomain[q.name.Registered]
		if dom == nil {
			dom = &dgaDomain{registered: q.name.Registered, score: d.model.Score(q.name)}
			byDomain[q.name.Registered] = dom
			domains = append(domains, dom)
		}
		dom.queries += q.queries
		dom.nx += q.nx
		dom.answered += q.answered
		if len(dom.examples) < dgaExamples {
			dom.examples = append(dom.examples, q.raw)
		}
	}
	for _, dom := range domains {
		nxShare := 0.0
		if dom.answered > 0 {
			nxShare = dom.nx / dom.answered
		}
		dom.weight = dom.score + (1-dom.score)*dgaNXWeight*nxShare
		j.queries += dom.queries
		j.nx += dom.nx
		j.answered += dom.answered
		if dom.weight >= dgaNameThreshold {
			j.suspicious = append(j.suspicious, dom)
			j.weight += dom.weight
		} else {
			j.legitimate++
		}
	}
	// Registered domains are unique, so the order is total.
	slices.SortFunc(j.suspicious, func(a, b *dgaDomain) int {
		return cmp.Or(cmp.Compare(b.weight, a.weight), strings.Compare(a.registered, b.registered))
	})
	return j
}

// bar is the weight of suspicious domains at which the client scores 0.5.
func (d *dga) bar(j dgaJudgement) float64 {
	return d.names + dgaLegitimateWeight*float64(j.legitimate)
}

func (d *dga) Judge(w source.Window, rows [][]source.Row) []Verdict {
	if len(rows) == 0 {
		return nil
	}
	clients := dnsClients(&d.window, rows[0])
	out := make([]Verdict, 0, len(clients))
	var learn []*dnsClient
	for _, c := range clients {
		j := d.judgeClient(c)
		bar := d.bar(j)
		e, _ := dnsClientEntity(d.cluster, c.key)
		v := Verdict{
			Detector: "dga", Entity: e, Window: w,
			Score: j.weight / (j.weight + bar), Threshold: d.threshold,
			Observed: j.weight, Expected: bar,
		}
		v.Summary = d.summary(e, j, w)
		var qnames []string
		for _, dom := range j.suspicious {
			if len(qnames) < dgaExamples {
				qnames = append(qnames, dom.examples[0])
			}
		}
		v.EvidenceQuery = dnsEvidence(c.key, qnames)
		out = append(out, v)
		if !v.Anomalous() {
			learn = append(learn, c)
		}
	}
	// Learned after judging, so a window's clients are judged alike.
	for _, c := range learn {
		d.learn(c)
	}
	return out
}

func (d *dga) summary(e Entity, j dgaJudgement, w source.Window) string {
	t := d.text.reset().str(e.Workload).str(" in namespace ").str(e.Namespace).str(" resolved ").integer(len(j.suspicious)).
		str(" registered domains that look machine-generated or do not exist")
	if len(j.suspicious) > 0 {
		t.str(" (")
		for i, dom := range j.suspicious[:min(len(j.suspicious), dgaExamples)] {
			if i > 0 {
				t.str(", ")
			}
			t.str(dom.registered).str(" ").fixed(dom.score, 2)
		}
		t.str(")")
	}
	t.str(" and ").integer(j.legitimate).str(" legitimate ones in ").duration(w.End.Sub(w.Start))
	if j.answered > 0 {
		t.str("; ").fixed(j.nx, 0).str(" of ").fixed(j.answered, 0).str(" answers NXDomain")
	}
	return t.str(" (weight ").fixed(j.weight, 1).str(" against ").fixed(d.bar(j), 1).str(")").String()
}

// learn teaches the model the names a client that is not anomalous
// resolved successfully, each name once.
func (d *dga) learn(c *dnsClient) {
	for _, q := range c.names {
		if len(d.learned) >= dgaMaxLearned {
			return
		}
		if q.name.Internal || q.name.Registered == "" || q.answered == 0 || q.nx > 0 || d.learned[q.name.FQDN] {
			continue
		}
		d.learned[q.name.FQDN] = true
		d.model.Learn(q.name)
	}
}

// Learn teaches the model a window's names from clients that do not look
// like they run a domain generator.
func (d *dga) Learn(w source.Window, rows [][]source.Row) {
	if len(rows) == 0 {
		return
	}
	for _, c := range dnsClients(&d.window, rows[0]) {
		j := d.judgeClient(c)
		if j.weight/(j.weight+d.bar(j)) < d.threshold {
			d.learn(c)
		}
	}
}

// SaveModel writes the names learned from the cluster.
func (d *dga) SaveModel(w io.Writer) error {
	names := make([]string, 0, len(d.learned))
	for n := range d.learned {
		names = append(names, n)
	}
	sort.Strings(names)
	if _, err := fmt.Fprintln(w, dgaModelHeader); err != nil {
		return err
	}
	for _, n := range names {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return err
		}
	}
	return nil
}

const dgaModelHeader = "dga learned names v1"

// LoadModel replaces the learned names with saved ones and teaches them to
// a fresh shipped model; on error the model is unchanged.
func (d *dga) LoadModel(r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return fmt.Errorf("dga model: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if lines[0] != dgaModelHeader {
		return fmt.Errorf("dga model: header %q, want %q", dnsnameQuote(lines[0]), dgaModelHeader)
	}
	model, learned := dnsname.Default(), map[string]bool{}
	for i, l := range lines[1:] {
		n, err := dnsname.Parse(l)
		if err != nil {
			return fmt.Errorf("dga model: line %d: %w", i+2, err)
		}
		if len(learned) < dgaMaxLearned && !learned[n.FQDN] {
			learned[n.FQDN] = true
			model.Learn(n)
		}
	}
	d.model, d.learned = model, learned
	return nil
}

func dnsnameQuote(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
