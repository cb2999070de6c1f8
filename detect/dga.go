package detect

import (
	"bufio"
	"cmp"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect/dnsname"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func init() {
	Register(Info{
		Name:   "dga",
		Family: Security,
		Mitre: &Mitre{AttackVector: "network", Tactic: "command and control", IDs: []string{"T1568.002"},
			Mitigations: []string{"block the queried domains", "inspect the workload for malware"}},
		Logs:           []string{"dns"},
		Unit:           UnitNames,
		DefaultEnabled: true,
		Help: "A client resolving registered domains the cluster never resolved, that look machine-generated, fail " +
			"(NXDomain), sit under a top-level domain no registry runs or read as joined words, beyond its own usual rate " +
			"of such names: in one window, over the last hour or over the last day, so a patient generator is found too; " +
			"malware looking for its command server.",
		Params: []Param{
			{Key: "threshold", Env: "AD_DGA_SCORE_THRESHOLD", Default: "0.5",
				Help: "score 0..1 at or above which a client alerts; higher means fewer alerts"},
			{Key: "names", Default: "5",
				Help: "suspicious registered domains (each weighted by its score) a client resolves in one window, " +
					"beyond a tenth of its legitimate ones and twice its usual, at which its score reaches 0.5"},
			{Key: "hour_names", Default: "8",
				Help: "the same over the last hour, each domain counted once"},
			{Key: "day_names", Default: "8",
				Help: "the same over the last day, each domain counted once"},
		},
		// The registered domains the whole cluster resolved, and the zones
		// several clients use, decide what is new: a verdict depends on
		// other namespaces' queries.
		Scope: ClusterScope,
		New:   newDGA,
	})
}

const (
	// dgaNameThreshold is the weight at or above which a registered
	// domain is called suspicious in summaries.
	dgaNameThreshold = 0.5
	// dgaCountFloor is the weight at or above which a domain the cluster
	// never resolved counts against its client, by its weight.
	dgaCountFloor = 0.3
	// dgaNXWeight is how much of the remaining doubt an NXDomain answer
	// removes: a name that does not exist is half-way to suspicious
	// whatever it looks like, as dictionary-word generators make names
	// that look legitimate but were never registered.
	dgaNXWeight = 0.5
	// dgaUnknownTLDWeight is the doubt a top-level domain no registry runs
	// removes (EmerDNS's .bazar): names there are resolved by malware's own
	// resolvers, or fail.
	dgaUnknownTLDWeight = 0.4
	// dgaWordWeight is the doubt a new word-like label removes (see
	// dnsname.Model.WordLike): too little to count alone, enough with
	// novelty, failure or many of them.
	dgaWordWeight = 0.3
	// dgaLegitimateWeight is how much each legitimate registered domain a
	// client resolves raises its bar: a proxy or a crawler resolving
	// hundreds of names may meet a few odd ones.
	dgaLegitimateWeight = 0.1
	// dgaUsualFactor is how many times its own usual weight a client's
	// bar holds over a window or an hour, beside twice its square root: an
	// ad bidder or a mail filter that always meets odd new names alerts on
	// twice its usual (its busy hours are busier than its usual), not on
	// its usual.
	dgaUsualFactor = 2
	// dgaDayUsualFactor is the same over a day, which holds the client's
	// whole daily cycle: its usual day, with three square roots of it.
	dgaDayUsualFactor = 1.25
	// dgaPeakShare is the share of its recent peak a client's usual weight
	// over a window or an hour is at least: a client whose odd names come
	// in bursts is judged against its bursts.
	dgaPeakShare = 0.75
	// dgaUsualSlack is the weight beyond its usual at which a client no
	// longer teaches the names it resolves.
	dgaUsualSlack = 0.5
	// dgaLearnBelow is the score under which the names of a client whose
	// usual is not known yet are learned as the cluster's.
	dgaLearnBelow = 0.3
	// dgaExamples is how many names a verdict quotes and fetches as evidence.
	dgaExamples = 5
	// dgaMaxLearned bounds the registered domains learned from the
	// cluster; past it the oldest are forgotten.
	dgaMaxLearned = 50000
	// dgaMaxSeen bounds the suspicious domains remembered per client, so
	// each counts once a day in the hour and day spans.
	dgaMaxSeen = 256
	// dgaOwnTLD is how many clients resolving answered names under a
	// top-level domain no registry runs make it the cluster's own zone: a
	// generator runs in one workload, a zone serves many.
	dgaOwnTLD = 3
	// dgaForgetClient is how long a client that resolves nothing is kept.
	dgaForgetClient = 48 * time.Hour
)

// Spans a client is judged over.
const (
	spanWindow = iota
	spanHour
	spanDay
	spans
)

var spanNames = [spans]string{"in the last window", "over the last hour", "over the last day"}

// Signals that make a name suspicious, counted for summaries.
const (
	sigGenerated = iota // the character model
	sigNX               // NXDomain
	sigTLD              // a top-level domain no registry runs
	sigWords            // joined words
	sigProvider         // a name picked under a dynamic-DNS or hosting provider
	signals
)

var signalNames = [signals]string{"look generated", "NXDomain", "under an unknown top-level domain", "read as joined words",
	"under a dynamic-DNS or hosting provider"}

type dga struct {
	cluster   string
	threshold float64
	bars      [spans]float64 // names, hour_names, day_names
	bucket    time.Duration
	model     *dnsname.Model
	// learned holds the registered domains learned from the cluster, in
	// the order learned (the oldest are forgotten first).
	learned    map[string]bool
	learnOrder []string
	// ownTLDs holds, per top-level domain no registry runs, the clients
	// (up to dgaOwnTLD) that resolved names under it; at dgaOwnTLD the
	// zone is the cluster's own.
	ownTLDs map[string][][2]string
	clients map[[2]string]*dgaClient
	seed    maphash.Seed
	lastDay int64
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
	d := &dga{cluster: o.Cluster, threshold: t, bucket: o.Bucket, seed: maphash.MakeSeed()}
	for i, key := range []string{"names", "hour_names", "day_names"} {
		n, err := o.Float(info, key)
		if err != nil {
			return nil, err
		}
		if n < 1 {
			return nil, fmt.Errorf("detector dga: %s %v must be at least 1", key, n)
		}
		d.bars[i] = n
	}
	if d.bucket <= 0 {
		d.bucket = 5 * time.Minute
	}
	d.reset(dnsname.Default())
	return d, nil
}

func (d *dga) reset(m *dnsname.Model) {
	d.model, d.learned, d.learnOrder, d.ownTLDs = m, map[string]bool{}, nil, map[string][][2]string{}
	d.clients = map[[2]string]*dgaClient{}
}

func (d *dga) Name() string            { return "dga" }
func (d *dga) Threshold() float64      { return d.threshold }
func (d *dga) Ready() bool             { return true } // the shipped model knows legitimate names
func (d *dga) Queries() []source.Query { return []source.Query{dnsNameQuery("dga")} }

// WantsHistory is true while no client's usual rate is known: the engine
// then teaches the detector the history it reads at start.
func (d *dga) WantsHistory() bool { return len(d.clients) == 0 }

// dgaDomain is one registered domain a client resolved in a window.
type dgaDomain struct {
	registered string
	score      float64 // how machine-generated its label looks
	weight     float64 // score with the other signals
	signals    uint8   // bit per signal
	queries    float64
	nx         float64
	answered   float64
	example    string // a qname as logged
}

// dgaExample is a suspicious name a span remembers.
type dgaExample struct {
	qname  string
	weight float64
}

// dgaSlot is what one window (or one hour) added to a client's spans: the
// weight of the domains first met in it (a domain counts once a day in the
// hour and day spans), their signals and heaviest names, and the most
// legitimate domains of a window in it.
type dgaSlot struct {
	index    int64 // the window (hour) number it holds
	domains  int
	weight   float64
	failing  float64 // of the domains answered NXDomain
	legit    int
	signals  [signals]int
	examples []dgaExample // the heaviest, at most dgaExamples
}

func (s *dgaSlot) add(dom *dgaDomain) {
	s.domains++
	s.weight += dom.weight
	if dom.signals&(1<<sigNX) != 0 {
		s.failing += dom.weight
	}
	for i := range signals {
		if dom.signals&(1<<i) != 0 {
			s.signals[i]++
		}
	}
	s.examples = addExample(s.examples, dgaExample{dom.example, dom.weight})
}

// addExample keeps the dgaExamples heaviest examples, heaviest first,
// each name once.
func addExample(ex []dgaExample, e dgaExample) []dgaExample {
	for _, x := range ex {
		if x.qname == e.qname {
			return ex
		}
	}
	i, _ := slices.BinarySearchFunc(ex, e, func(a, b dgaExample) int {
		return cmp.Or(cmp.Compare(b.weight, a.weight), strings.Compare(a.qname, b.qname))
	})
	if i >= dgaExamples {
		return ex
	}
	ex = slices.Insert(ex, i, e)
	return ex[:min(len(ex), dgaExamples)]
}

// dgaClient is what the detector remembers of one client, bounded: the
// windows of the last hour, the hours of the last day, its usual weight
// per span, and the suspicious domains it met in the last day.
type dgaClient struct {
	// windows (a ring by window number: the last hour), hours (the last
	// day) and seen are made when the client first meets a suspicious
	// domain: most clients never do.
	windows []dgaSlot
	hours   []dgaSlot
	// usual is the client's usual weight per span (a window, a clock
	// hour, a day), learned while it does not look infected; known says
	// whether it was learned at all.
	usual [spans]float64
	known [spans]bool
	// peak is the client's busiest window (hour, day) lately, halving in
	// a day: a client whose odd names come in bursts is judged against
	// its bursts.
	peak [spans]float64
	// alerted says the span alerted during the hour (day) being summed,
	// which then teaches nothing.
	alerted [spans]bool
	hour    int64 // the clock hour being summed
	day     int64 // the day being summed
	dayW    float64
	// dayFailing, usualDayFailing and knownDayFailing are the same for
	// the names that fail: a generator's mostly do, a busy client's
	// mostly do not, so over a day they are judged on their own.
	dayFailing      float64
	usualDayFailing float64
	knownDayFailing bool
	last            int64 // the last window seen
	seen            map[uint64]int64
	order           []uint64 // seen, oldest first
}

// Rates at which a client's usual weight follows what it does: a window's
// over about an hour, an hour's over about six, a day's over about three.
const (
	dgaLearnWindow = 1.0 / 12
	dgaLearnHour   = 1.0 / 6
	dgaLearnDay    = 1.0 / 3
)

func learnUsual(usual, observed float64, known bool, rate float64) float64 {
	if !known {
		return observed
	}
	return usual + rate*(observed-usual)
}

// learn teaches span s of the client one observed weight; perDay is how
// many of the span fit in a day.
func (st *dgaClient) learn(s int, observed float64, rate, perDay float64) {
	st.usual[s] = learnUsual(st.usual[s], observed, st.known[s], rate)
	st.peak[s] = max(st.peak[s]*math.Pow(0.5, 1/perDay), observed)
	st.known[s] = true
}

// expected is the client's usual weight over span s: learned (and at
// least dgaPeakShare of its recent peak), or else scaled from a shorter
// span's.
func (st *dgaClient) expected(s, perHour int) float64 {
	switch {
	case st.known[s] && s == spanDay:
		return st.usual[s]
	case st.known[s]:
		return max(st.usual[s], dgaPeakShare*st.peak[s])
	case s == spanDay && st.known[spanHour]:
		return 24 * st.expected(spanHour, perHour)
	case s == spanHour && st.known[spanWindow]:
		return float64(perHour) * st.expected(spanWindow, perHour)
	case s == spanDay && st.known[spanWindow]:
		return float64(24*perHour) * st.expected(spanWindow, perHour)
	}
	return 0
}

// perHour is how many windows make an hour.
func (d *dga) perHour() int { return max(1, int(time.Hour/d.bucket)) }

func (d *dga) client(key []string) *dgaClient {
	k := [2]string{key[0], key[1]}
	c := d.clients[k]
	if c == nil {
		c = &dgaClient{}
		d.clients[k] = c
	}
	return c
}

// remember notes a suspicious domain, forgetting the oldest past dgaMaxSeen.
func (st *dgaClient) remember(h uint64, win int64) {
	if _, ok := st.seen[h]; !ok {
		if len(st.order) >= dgaMaxSeen {
			delete(st.seen, st.order[0])
			st.order = st.order[1:]
		}
		st.order = append(st.order, h)
	}
	st.seen[h] = win
}

// dgaJudgement is one client's window.
type dgaJudgement struct {
	client     *dnsClient
	state      *dgaClient
	domains    []*dgaDomain // counted ones of the window, heaviest first
	legitimate int
	queries    float64
	nx         float64
	answered   float64
	weight     [spans]float64
	bar        [spans]float64
	score      [spans]float64
	top        int  // the span of the highest score
	perHour    int  // windows in an hour
	failingDay bool // the day's score is that of its failing names
}

// weigh scores one registered domain: 0 when the cluster knows it.
// history says whether the client's usual weight is known.
func (d *dga) weigh(dom *dgaDomain, n dnsname.Name, history bool) {
	if d.model.Known(n.Registered) {
		return
	}
	var words bool
	dom.score, words = d.model.ScoreWords(n)
	nxShare := 0.0
	if dom.answered > 0 {
		nxShare = dom.nx / dom.answered
	}
	doubt := (1 - dom.score) * (1 - dgaNXWeight*nxShare)
	if dom.score >= dgaNameThreshold {
		dom.signals |= 1 << sigGenerated
	}
	if nxShare > 0 {
		dom.signals |= 1 << sigNX
	}
	if n.UnknownTLD {
		doubt *= 1 - dgaUnknownTLDWeight
		dom.signals |= 1 << sigTLD
	}
	// Joined words count when they fail, or when the client has a usual
	// rate of new names to be measured against: a fresh crawler resolving
	// hundreds of product names is not a generator.
	if (nxShare > 0 || history) && words {
		doubt *= 1 - dgaWordWeight
		dom.signals |= 1 << sigWords
	}
	if n.Provider != "" {
		dom.signals |= 1 << sigProvider
	}
	dom.weight = 1 - doubt
}

// judgeClient weighs a client's registered domains, brings its spans up
// to the window and scores each span.
func (d *dga) judgeClient(w source.Window, c *dnsClient) dgaJudgement {
	j := dgaJudgement{client: c, state: d.client(c.key)}
	byDomain := map[string]*dgaDomain{}
	var domains []*dgaDomain
	parsed := map[string]dnsname.Name{}
	for _, q := range c.names {
		n := q.name
		if n.Internal || n.Registered == "" || n.UnknownTLD && len(d.ownTLDs[n.Suffix]) >= dgaOwnTLD {
			continue
		}
		dom := byDomain[n.Registered]
		if dom == nil {
			dom = &dgaDomain{registered: n.Registered, example: q.raw}
			byDomain[n.Registered] = dom
			domains = append(domains, dom)
			parsed[n.Registered] = n
		}
		dom.queries += q.queries
		dom.nx += q.nx
		dom.answered += q.answered
	}
	st := j.state
	perHour := d.perHour()
	j.perHour = perHour
	win := w.Start.Unix() / int64(d.bucket/time.Second)
	hour := w.Start.Unix() / 3600
	day := w.Start.Unix() / 86400
	if st.last != 0 && hour != st.hour {
		// The clock hour summed so far ended: unless it alerted, it
		// teaches the client's usual hour.
		if !st.alerted[spanHour] && !st.alerted[spanDay] {
			ended := 0.0
			if st.hours != nil && st.hours[st.hour%24].index == st.hour {
				ended = st.hours[st.hour%24].weight
			}
			st.learn(spanHour, ended, dgaLearnHour, 24)
		}
		st.alerted[spanHour] = false
	}
	if st.last != 0 && day != st.day {
		if !st.alerted[spanDay] {
			st.learn(spanDay, st.dayW, dgaLearnDay, 1)
			st.usualDayFailing = learnUsual(st.usualDayFailing, st.dayFailing, st.knownDayFailing, dgaLearnDay)
			st.knownDayFailing = true
		}
		st.dayW, st.dayFailing, st.alerted[spanDay] = 0, 0, false
	}
	st.hour, st.day, st.last = hour, day, win
	for _, dom := range domains {
		d.weigh(dom, parsed[dom.registered], st.known[spanWindow])
		j.queries += dom.queries
		j.nx += dom.nx
		j.answered += dom.answered
		if dom.weight < dgaCountFloor {
			j.legitimate++
			continue
		}
		j.domains = append(j.domains, dom)
		j.weight[spanWindow] += dom.weight
	}
	if len(j.domains) > 0 && st.windows == nil {
		st.windows, st.hours, st.seen = make([]dgaSlot, perHour), make([]dgaSlot, 24), map[uint64]int64{}
	}
	fresh := st.windows != nil && d.addToSpans(st, j, win, hour)
	slices.SortFunc(j.domains, func(a, b *dgaDomain) int {
		return cmp.Or(cmp.Compare(b.weight, a.weight), strings.Compare(a.registered, b.registered))
	})
	legit := [spans]int{j.legitimate, j.legitimate, j.legitimate}
	for i := range st.windows {
		if s := &st.windows[i]; s.index > win-int64(perHour) {
			j.weight[spanHour] += s.weight
			legit[spanHour] = max(legit[spanHour], s.legit)
		}
	}
	failing := 0.0
	for i := range st.hours {
		if s := &st.hours[i]; s.index > hour-24 {
			j.weight[spanDay] += s.weight
			failing += s.failing
			legit[spanDay] = max(legit[spanDay], s.legit)
		}
	}
	for s := range spans {
		usual := st.expected(s, perHour)
		j.bar[s] = d.bars[s] + dgaLegitimateWeight*float64(legit[s]) + dgaUsualFactor*usual + 2*math.Sqrt(usual)
		if s == spanDay {
			j.bar[s] = d.bars[s] + dgaLegitimateWeight*float64(legit[s]) + dgaDayUsualFactor*usual + 3*math.Sqrt(usual)
		}
		// The hour and the day speak only in windows that add to them: a
		// burst that ended alerts no more.
		if s != spanWindow && !fresh {
			continue
		}
		j.score[s] = j.weight[s] / (j.weight[s] + j.bar[s])
		if s == spanDay {
			// The day's failing names against the client's usual failing day.
			usual := st.expected(s, perHour)
			if st.knownDayFailing {
				usual = st.usualDayFailing
			}
			bar := d.bars[s] + dgaLegitimateWeight*float64(legit[s]) + dgaDayUsualFactor*usual + 3*math.Sqrt(usual)
			if score := failing / (failing + bar); score > j.score[s] {
				j.score[s], j.weight[s], j.bar[s], j.failingDay = score, failing, bar, true
			}
		}
		if j.score[s] > j.score[j.top] {
			j.top = s
		}
	}
	return j
}

// addToSpans adds the window's counted domains to the client's window and
// hour slots, each domain once a day, and reports whether any was added.
func (d *dga) addToSpans(st *dgaClient, j dgaJudgement, win, hour int64) bool {
	perHour := int64(len(st.windows))
	ws := &st.windows[int(win%perHour)]
	if ws.index != win {
		*ws = dgaSlot{index: win, examples: ws.examples[:0]}
	}
	hs := &st.hours[hour%24]
	if hs.index != hour {
		*hs = dgaSlot{index: hour, examples: hs.examples[:0]}
	}
	for _, dom := range j.domains {
		// The hour and the day count each domain once a day.
		h := maphash.String(d.seed, dom.registered)
		if at, ok := st.seen[h]; ok && win-at < 24*perHour {
			continue
		}
		st.remember(h, win)
		ws.add(dom)
		hs.add(dom)
		st.dayW += dom.weight
		if dom.signals&(1<<sigNX) != 0 {
			st.dayFailing += dom.weight
		}
	}
	ws.legit = max(ws.legit, j.legitimate)
	hs.legit = max(hs.legit, j.legitimate)
	return ws.weight > 0
}

// usual reports whether the client's weight in every span is within its
// usual and half a suspicious name: a busy client doing what it always
// does, or a quiet one meeting one odd name.
func (j *dgaJudgement) usual() bool {
	for s := range spans {
		if j.weight[s] > j.state.expected(s, j.perHour)+dgaUsualSlack {
			return false
		}
	}
	return true
}

// settle learns from a judged client what it may: its usual weight per
// window unless a span alerts, which spans alerted, and, when it does not
// look infected at all, the names it resolved: a client with a usual
// teaches them while its weights are within it, a new client while its
// score is under dgaLearnBelow.
func (d *dga) settle(j *dgaJudgement, history bool) {
	st := j.state
	hadUsual := st.known[spanWindow]
	d.learnZones(j.client)
	alerting := false
	for s := range spans {
		// History is what the cluster usually does: every client learns
		// its usual from it.
		if j.score[s] >= d.threshold && !history {
			st.alerted[s] = true
			alerting = true
		}
	}
	if !alerting {
		st.learn(spanWindow, j.weight[spanWindow], dgaLearnWindow, float64(24*j.perHour))
	}
	if hadUsual && j.usual() || !hadUsual && j.score[j.top] < dgaLearnBelow {
		d.learn(j.client)
	}
}

func (d *dga) Judge(w source.Window, rows [][]source.Row) []Verdict {
	if len(rows) == 0 {
		return nil
	}
	clients := dnsClients(&d.window, rows[0])
	out := make([]Verdict, 0, len(clients))
	judged := make([]dgaJudgement, 0, len(clients))
	for _, c := range clients {
		j := d.judgeClient(w, c)
		judged = append(judged, j)
		e, _ := dnsClientEntity(d.cluster, c.key)
		v := Verdict{
			Detector: "dga", Entity: e, Window: w,
			Score: j.score[j.top], Threshold: d.threshold,
			Observed: j.weight[j.top], Expected: j.bar[j.top],
		}
		v.Summary = d.summary(e, &j)
		v.EvidenceQuery = dnsEvidence(c.key, j.evidence())
		out = append(out, v)
	}
	// Learned after judging, so a window's clients are judged alike.
	for i := range judged {
		d.settle(&judged[i], false)
	}
	d.forget(w)
	return out
}

// Learn teaches the model a window's names from clients that do not look
// like they run a domain generator, and every client its usual weights:
// the engine calls it with the history it reads at start.
func (d *dga) Learn(w source.Window, rows [][]source.Row) {
	if len(rows) == 0 {
		return
	}
	clients := dnsClients(&d.window, rows[0])
	for _, c := range clients {
		j := d.judgeClient(w, c)
		d.settle(&j, true)
	}
	d.forget(w)
}

// forget drops, once a day, the clients that resolved nothing for
// dgaForgetClient.
func (d *dga) forget(w source.Window) {
	day := w.Start.Unix() / 86400
	if day == d.lastDay {
		return
	}
	d.lastDay = day
	oldest := w.Start.Add(-dgaForgetClient).Unix() / int64(d.bucket/time.Second)
	for k, c := range d.clients {
		if c.last < oldest {
			delete(d.clients, k)
		}
	}
}

// spanExamples are the heaviest names of the span that scored highest.
func (j *dgaJudgement) spanExamples() ([]dgaExample, [signals]int, int) {
	var ex []dgaExample
	var sig [signals]int
	count := 0
	st := j.state
	switch j.top {
	case spanWindow:
		count = len(j.domains)
		for _, dom := range j.domains {
			ex = addExample(ex, dgaExample{dom.example, dom.weight})
			for i := range signals {
				if dom.signals&(1<<i) != 0 {
					sig[i]++
				}
			}
		}
	case spanHour, spanDay:
		slots := st.windows
		if j.top == spanDay {
			slots = st.hours
		}
		if len(slots) == 0 {
			break
		}
		newest := slots[0].index
		for i := range slots {
			newest = max(newest, slots[i].index)
		}
		n := int64(len(slots))
		for i := range slots {
			if s := &slots[i]; s.index > newest-n {
				count += s.domains
				for _, e := range s.examples {
					ex = addExample(ex, e)
				}
				for k := range signals {
					sig[k] += s.signals[k]
				}
			}
		}
	}
	return ex, sig, count
}

// evidence is the qnames of the heaviest names of the span that scored
// highest.
func (j *dgaJudgement) evidence() []string {
	ex, _, _ := j.spanExamples()
	if len(ex) == 0 {
		return nil
	}
	out := make([]string, len(ex))
	for i, e := range ex {
		out[i] = e.qname
	}
	return out
}

// summary: "<workload> in namespace <ns> resolved <n> registered domains
// the cluster never resolved that look machine-generated, fail or read as
// words <span> (<names and weights>): <k> look generated, ...; weight <W>
// against <bar> (its usual <u>), <legit> legitimate ones in the window".
func (d *dga) summary(e Entity, j *dgaJudgement) string {
	ex, sig, count := j.spanExamples()
	t := d.text.reset().str(e.Workload).str(" in namespace ").str(e.Namespace).str(" resolved ").integer(len(j.domains)).
		str(" suspicious registered domains the cluster never resolved in the window")
	if j.top != spanWindow {
		t.str(", ").integer(count).str(" new ones ").str(spanNames[j.top])
	}
	if len(ex) > 0 {
		t.str(" (")
		for i, x := range ex {
			if i > 0 {
				t.str(", ")
			}
			t.str(x.qname).str(" ").fixed(x.weight, 2)
		}
		t.str(")")
	}
	first := true
	for i, n := range sig {
		if n == 0 {
			continue
		}
		if first {
			t.str(": ")
			first = false
		} else {
			t.str(", ")
		}
		t.integer(n).str(" ").str(signalNames[i])
	}
	t.str("; weight ").fixed(j.weight[j.top], 1).str(" ").str(spanNames[j.top])
	if j.top == spanDay && j.failingDay {
		t.str(" of names that fail")
	}
	t.str(" against ").fixed(j.bar[j.top], 1)
	t.str(" (its usual ").fixed(j.state.expected(j.top, j.perHour), 1).str("); ").integer(j.legitimate).
		str(" legitimate domains in the window")
	if j.answered > 0 {
		t.str(", ").fixed(j.nx, 0).str(" of ").fixed(j.answered, 0).str(" answers NXDomain")
	}
	return t.String()
}

// learnZones notes the clients resolving answered names under top-level
// domains no registry runs.
func (d *dga) learnZones(c *dnsClient) {
	for _, q := range c.names {
		n := q.name
		if !n.UnknownTLD || q.answered == 0 || q.nx > 0 {
			continue
		}
		k := [2]string{c.key[0], c.key[1]}
		if zone := d.ownTLDs[n.Suffix]; len(zone) < dgaOwnTLD && !slices.Contains(zone, k) {
			d.ownTLDs[n.Suffix] = append(zone, k)
		}
	}
}

// learn teaches the model the names a client that does not look infected
// resolved successfully: their registered domains become known (the
// oldest forgotten past dgaMaxLearned), and the labels of those that look
// legitimate anyway teach the character model (a generator's names never
// do).
func (d *dga) learn(c *dnsClient) {
	for _, q := range c.names {
		n := q.name
		if n.Internal || n.Registered == "" || q.answered == 0 || q.nx > 0 || d.model.Known(n.Registered) {
			continue
		}
		d.learnName(n)
	}
}

func (d *dga) learnName(n dnsname.Name) {
	if len(d.learnOrder) >= dgaMaxLearned {
		old := d.learnOrder[0]
		d.learnOrder = d.learnOrder[1:]
		delete(d.learned, old)
		d.model.Forget(old)
	}
	d.learned[n.Registered] = true
	d.learnOrder = append(d.learnOrder, n.Registered)
	if d.model.ScoreLabel(n.Label) < dgaNameThreshold {
		d.model.Learn(n)
	} else {
		d.model.Know(n.Registered)
	}
}

// The saved model: a header line with the format version, then one line
// per learned registered domain ("name\t<domain>") in the order learned,
// one per top-level domain learned as the cluster's own ("zone\t<tld>"),
// then one per client ("client\t<namespace>\t<name>" and, for the window,
// the hour and the day, "\t<usual>\t<peak>", or "\t-\t-" when not learned,
// then "\t<usual failing day>" or "\t-").
// Version 1 files (the header "dga learned names v1" and one learned name
// a line) load their names; their clients learn afresh.
const (
	dgaModelHeader   = "dga model v2"
	dgaModelHeaderV1 = "dga learned names v1"
)

// SaveModel writes the names learned from the cluster and each client's
// usual weights.
func (d *dga) SaveModel(w io.Writer) error {
	b := bufio.NewWriter(w)
	b.WriteString(dgaModelHeader + "\n")
	for _, n := range d.learnOrder {
		b.WriteString("name\t" + n + "\n")
	}
	zones := make([]string, 0, len(d.ownTLDs))
	for z, clients := range d.ownTLDs {
		if len(clients) >= dgaOwnTLD {
			zones = append(zones, z)
		}
	}
	slices.Sort(zones)
	for _, z := range zones {
		b.WriteString("zone\t" + z + "\n")
	}
	keys := make([][2]string, 0, len(d.clients))
	for k := range d.clients {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1])) })
	for _, k := range keys {
		c := d.clients[k]
		b.WriteString("client\t" + strconv.Quote(k[0]) + "\t" + strconv.Quote(k[1]))
		for s := range spans {
			if c.known[s] {
				b.WriteString("\t" + strconv.FormatFloat(c.usual[s], 'g', -1, 64) + "\t" + strconv.FormatFloat(c.peak[s], 'g', -1, 64))
			} else {
				b.WriteString("\t-\t-")
			}
		}
		if c.knownDayFailing {
			b.WriteString("\t" + strconv.FormatFloat(c.usualDayFailing, 'g', -1, 64))
		} else {
			b.WriteString("\t-")
		}
		b.WriteString("\n")
	}
	return b.Flush()
}

// LoadModel replaces the learned names and clients with saved ones, on a
// fresh shipped model; on error the model is unchanged.
func (d *dga) LoadModel(r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return fmt.Errorf("dga model: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	v1 := lines[0] == dgaModelHeaderV1
	if lines[0] != dgaModelHeader && !v1 {
		return fmt.Errorf("dga model: header %q, want %q or %q", dnsnameQuote(lines[0]), dgaModelHeader, dgaModelHeaderV1)
	}
	fresh := &dga{cluster: d.cluster, threshold: d.threshold, bars: d.bars, bucket: d.bucket, seed: d.seed}
	fresh.reset(dnsname.Default())
	for i, l := range lines[1:] {
		if v1 {
			l = "name\t" + l
		}
		fields := strings.Split(l, "\t")
		switch {
		case fields[0] == "name" && len(fields) == 2:
			n, err := dnsname.Parse(fields[1])
			if err != nil {
				return fmt.Errorf("dga model: line %d: %w", i+2, err)
			}
			if n.Registered != "" && !n.Internal && !fresh.learned[n.Registered] {
				fresh.learnName(n)
			}
		case fields[0] == "zone" && len(fields) == 2:
			n, err := dnsname.Parse("x." + fields[1])
			if err != nil || !n.UnknownTLD || n.Suffix != fields[1] {
				return fmt.Errorf("dga model: line %d: %q is not a top-level domain outside ICANN's", i+2, dnsnameQuote(fields[1]))
			}
			fresh.ownTLDs[n.Suffix] = make([][2]string, dgaOwnTLD)
		case fields[0] == "client" && len(fields) == 4+2*spans:
			ns, err1 := strconv.Unquote(fields[1])
			name, err2 := strconv.Unquote(fields[2])
			if err1 != nil || err2 != nil {
				return fmt.Errorf("dga model: line %d: client name not quoted", i+2)
			}
			c := fresh.client([]string{ns, name})
			for s := range spans {
				if fields[3+2*s] == "-" && fields[4+2*s] == "-" {
					continue
				}
				var v [2]float64
				for k := range v {
					f := fields[3+2*s+k]
					var err error
					if v[k], err = strconv.ParseFloat(f, 64); err != nil || !(v[k] >= 0) || math.IsInf(v[k], 0) {
						return fmt.Errorf("dga model: line %d: weight %q is not a number of 0 or more", i+2, dnsnameQuote(f))
					}
				}
				c.usual[s], c.peak[s], c.known[s] = v[0], v[1], true
			}
			if f := fields[3+2*spans]; f != "-" {
				v, err := strconv.ParseFloat(f, 64)
				if err != nil || !(v >= 0) || math.IsInf(v, 0) {
					return fmt.Errorf("dga model: line %d: weight %q is not a number of 0 or more", i+2, dnsnameQuote(f))
				}
				c.usualDayFailing, c.knownDayFailing = v, true
			}
		default:
			return fmt.Errorf("dga model: line %d: %q is neither a name nor a client", i+2, dnsnameQuote(l))
		}
	}
	d.model, d.learned, d.learnOrder, d.ownTLDs, d.clients = fresh.model, fresh.learned, fresh.learnOrder, fresh.ownTLDs, fresh.clients
	return nil
}

func dnsnameQuote(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

var _ EntityBounded = (*dga)(nil)

// LiveEntities is the clients the detector remembers.
func (d *dga) LiveEntities() int { return len(d.clients) }

// ForgetLeastRecent drops the clients seen least recently until keep
// remain.
func (d *dga) ForgetLeastRecent(keep int) int {
	if len(d.clients) <= max(keep, 0) {
		return 0
	}
	last := make(map[string]int64, len(d.clients))
	byKey := make(map[string][2]string, len(d.clients))
	for k, c := range d.clients {
		s := k[0] + "\x00" + k[1]
		last[s], byKey[s] = c.last, k
	}
	gone := leastRecent(last, keep)
	for _, s := range gone {
		delete(d.clients, byKey[s])
	}
	return len(gone)
}
