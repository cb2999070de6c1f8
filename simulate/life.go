package simulate

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// Normal life (Options.Life): what a real cluster does besides its daily
// curve. All of it is off unless Options.Life is set.
const (
	// WeekendShare is the share of a weekday's user traffic that Saturdays
	// and Sundays (UTC) carry.
	WeekendShare = 0.55
	// MondayPeak is how much higher than other weekdays user traffic
	// is on Monday morning, at its highest (10:00 UTC).
	MondayPeak = 0.15
	// AppRolloutDays is the block of days in which each application
	// deployment (every namespace but kube-system and monitoring) rolls
	// out once, on one of its first two days (so every 2 to 4 days),
	// at a working hour; a rollout that would fall on a weekend is
	// skipped. Platform deployments roll out once per PlatformRolloutDays.
	AppRolloutDays      = 3
	PlatformRolloutDays = 14
	// RestartDays is the mean days between two restarts of one pod
	// (deleted and recreated by its ReplicaSet: a new name, the same
	// pod-template hash, a new address).
	RestartDays = 10
	// lifeLookback is how many rollout blocks back the current revision
	// of a deployment is looked for.
	lifeLookback = 8
	// firstLifeHost is the first host number of the addresses of pods
	// that only exist with Life (the weekly job); recreated pods stay below.
	firstLifeHost = 190
)

// Normal bursts of Options.Life: the nightly backup, the morning load and
// the weekly batch job.
const (
	BackupPeer     = "198.51.100.20" // object storage the backup goes to
	BatchLoadPeer  = "198.51.100.30" // the partner that pushes the morning file
	WeeklyJob      = "weekly-report" // the CronJob's name, in namespace shop
	WeeklyJobSpan  = 30 * time.Minute
	backupAt       = 2 * time.Hour
	backupSpan     = 15 * time.Minute
	batchLoadAt    = 7 * time.Hour
	batchLoadSpan  = 10 * time.Minute
	weeklyJobAt    = 3 * time.Hour // on Sundays
	weeklyJobPeers = 24            // the most pods the job reaches
)

// WeekCurve is the share of a weekday's user traffic carried at t by the
// day of the week: WeekendShare on Saturdays and Sundays, a little more
// than 1 on Monday morning (everyone catching up), 1 otherwise.
func WeekCurve(t time.Time) float64 {
	t = t.UTC()
	switch t.Weekday() {
	case time.Saturday, time.Sunday:
		return WeekendShare
	case time.Monday:
		h := float64(t.Hour()) + float64(t.Minute())/60
		x := (h - 10) / 2.5
		return 1 + MondayPeak*math.Exp(-x*x/2)
	}
	return 1
}

// UserLevel is the share of the peak that user traffic reaches at t:
// DayCurve, times WeekCurve when Options.Life is set.
func (c *Cluster) UserLevel(t time.Time) float64 {
	if c.opts.Life {
		return DayCurve(t) * WeekCurve(t)
	}
	return DayCurve(t)
}

// Rollout is a deployment replacing its ReplicaSet: every pod gets a new
// name under the new pod-template hash, and a new address.
type Rollout struct {
	At                  time.Time
	Namespace, Workload string
	// From and To are the ReplicaSets before and after (name_aggr is the
	// ReplicaSet followed by "-*").
	From, To string
}

func platformNamespace(ns string) bool { return ns == "kube-system" || ns == "monitoring" }

func rolloutBlock(w *Workload) time.Duration {
	if platformNamespace(w.Namespace) {
		return PlatformRolloutDays * 24 * time.Hour
	}
	return AppRolloutDays * 24 * time.Hour
}

// rolloutPhase is where w's blocks start: a whole number of days after
// the Unix epoch that depends on the seed and w, so that deployments do
// not all roll out on the same days.
func (c *Cluster) rolloutPhase(w *Workload) time.Duration {
	days := int(rolloutBlock(w) / (24 * time.Hour))
	return time.Duration(c.Rand(time.Unix(0, 0), "rollout-phase|"+w.Namespace+"/"+w.Name).IntN(days)) * 24 * time.Hour
}

// rolloutBlockOf is the block of w that holds t.
func (c *Cluster) rolloutBlockOf(w *Workload, t time.Time) int64 {
	return int64(math.Floor(t.Sub(time.Unix(0, 0).Add(c.rolloutPhase(w))).Seconds() / rolloutBlock(w).Seconds()))
}

// rolloutIn is when w rolls out in its block k (blocks counted from the
// Unix epoch plus w's phase), if it does.
func (c *Cluster) rolloutIn(w *Workload, k int64) (time.Time, bool) {
	block := rolloutBlock(w)
	start := time.Unix(0, 0).UTC().Add(c.rolloutPhase(w) + time.Duration(k)*block)
	r := c.Rand(start, "rollout|"+w.Namespace+"/"+w.Name)
	days := int(block / (24 * time.Hour))
	day := start.Add(time.Duration(r.IntN(max(1, days-1))) * 24 * time.Hour)
	at := day.Add(9*time.Hour + time.Duration(r.IntN(8*60))*time.Minute)
	if wd := at.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return time.Time{}, false
	}
	return at, true
}

// lastRollout is w's latest rollout at or before t: its time and block,
// ok false when none in lifeLookback blocks (w keeps the ReplicaSet it was
// built with).
func (c *Cluster) lastRollout(w *Workload, t time.Time) (at time.Time, block int64, ok bool) {
	k := c.rolloutBlockOf(w, t)
	for i := k; i > k-lifeLookback; i-- {
		if at, ok := c.rolloutIn(w, i); ok && !at.After(t) {
			return at, i, true
		}
	}
	return time.Time{}, 0, false
}

// replicaSet is w's ReplicaSet after a rollout at `at`.
func (c *Cluster) replicaSet(w *Workload, at time.Time) string {
	return w.Name + "-" + randomName(c.Rand(at, "rollout-hash|"+w.Namespace+"/"+w.Name), 10)
}

// restartOn is when pod slot i of w restarts on the day starting at day,
// if it does.
func (c *Cluster) restartOn(w *Workload, i int, day time.Time) (time.Time, bool) {
	r := c.Rand(day, "restart|"+w.Namespace+"/"+w.Name+"|"+strconv.Itoa(i))
	if r.IntN(RestartDays) != 0 {
		return time.Time{}, false
	}
	return day.Add(time.Duration(r.IntN(24*60)) * time.Minute), true
}

// Rollouts lists the rollouts in [from, to), oldest first (Options.Life;
// none without it).
func (c *Cluster) Rollouts(from, to time.Time) []Rollout {
	if !c.opts.Life {
		return nil
	}
	var out []Rollout
	for _, w := range c.workloads {
		if w == c.prober {
			continue
		}
		first, last := c.rolloutBlockOf(w, from)-1, c.rolloutBlockOf(w, to)
		for k := first; k <= last; k++ {
			at, ok := c.rolloutIn(w, k)
			if !ok || at.Before(from) || !at.Before(to) {
				continue
			}
			prev := w.ReplicaSet
			if pat, _, ok := c.lastRollout(w, at.Add(-time.Second)); ok {
				prev = c.replicaSet(w, pat)
			}
			out = append(out, Rollout{At: at, Namespace: w.Namespace, Workload: w.Name, From: prev, To: c.replicaSet(w, at)})
		}
	}
	slices.SortStableFunc(out, func(a, b Rollout) int { return a.At.Compare(b.At) })
	return out
}

// At returns the cluster as it runs at t: with Options.Life, each
// deployment with the ReplicaSet of its latest rollout and the pods of its
// latest restarts; c itself without it. The view shares everything else
// with c.
func (c *Cluster) At(t time.Time) *Cluster {
	if !c.opts.Life {
		return c
	}
	v := *c
	v.workloads = make([]*Workload, len(c.workloads))
	v.byName = make(map[string]*Workload, len(c.byName))
	v.byIP = make(map[netip.Addr]*Pod, len(c.byIP))
	ws := make(map[*Workload]*Workload, len(c.workloads))
	pods := map[*Pod]*Pod{}
	for i, w := range c.workloads {
		nw := w
		if w != c.prober {
			nw = c.workloadAt(w, t)
		}
		for j, p := range nw.Pods {
			pods[w.Pods[j]] = p
			if a, err := netip.ParseAddr(p.IP); err == nil {
				v.byIP[a] = p
			}
		}
		v.workloads[i], ws[w] = nw, nw
		v.byName[nw.Namespace+"/"+nw.Name] = nw
	}
	v.edges = slices.Clone(c.edges)
	for i := range v.edges {
		v.edges[i].from, v.edges[i].to = ws[c.edges[i].from], ws[c.edges[i].to]
	}
	v.egresses = slices.Clone(c.egresses)
	for i := range v.egresses {
		v.egresses[i].from = ws[c.egresses[i].from]
	}
	v.scrapes = make([]*Pod, len(c.scrapes))
	for i, p := range c.scrapes {
		v.scrapes[i] = pods[p]
	}
	v.queries = make(map[*Workload][]query, len(c.queries))
	for w, qs := range c.queries {
		v.queries[ws[w]] = qs
	}
	v.ingress, v.coredns, v.scraper, v.prober = ws[c.ingress], ws[c.coredns], ws[c.scraper], ws[c.prober]
	return &v
}

// workloadAt is w as it runs at t: its latest ReplicaSet and pods.
func (c *Cluster) workloadAt(w *Workload, t time.Time) *Workload {
	nw := *w
	rolled, block, ok := c.lastRollout(w, t)
	if ok {
		nw.ReplicaSet = c.replicaSet(w, rolled)
	}
	nw.Pods = make([]*Pod, len(w.Pods))
	for i, p := range w.Pods {
		// Restarts since the rollout (none without one in reach).
		changed, restarts := rolled, 0
		for day := rolled.Truncate(24 * time.Hour); ok && !day.After(t); day = day.Add(24 * time.Hour) {
			if at, ok := c.restartOn(w, i, day); ok && at.After(rolled) && !at.After(t) {
				changed, restarts = at, restarts+1
			}
		}
		if changed.IsZero() {
			np := *p
			np.Workload = &nw
			nw.Pods[i] = &np
			continue
		}
		r := c.Rand(changed, "pod|"+w.Namespace+"/"+w.Name+"|"+strconv.Itoa(i))
		gen := restarts
		if ok {
			gen += int(block%1024)*8 + 1
		}
		nw.Pods[i] = &Pod{
			Name:     nw.ReplicaSet + "-" + randomName(r, 5),
			IP:       c.recreatedIP(p, gen),
			Node:     p.Node,
			PID:      1 + r.IntN(30000),
			Workload: &nw,
		}
	}
	return &nw
}

// recreatedIP is the address of the gen-th pod to take the place of p on
// its node: host numbers that step by the node's stride (one more than its
// highest built host number), so the pods that replace different pods of
// a node never share an address; p's own when the node is too full.
func (c *Cluster) recreatedIP(p *Pod, gen int) string {
	a, err := netip.ParseAddr(p.IP)
	if err != nil || p.Node.stride <= 0 {
		return p.IP
	}
	slots := firstLifeHost / p.Node.stride
	if slots < 2 {
		return p.IP
	}
	b := a.As4()
	b[3] = byte(int(b[3]) + p.Node.stride*(1+gen%(slots-1)))
	return netip.AddrFrom4(b).String()
}

// life adds bucket b's normal bursts and background: the nightly backup,
// the morning load, the weekly batch job, HTTP calls and recycled worker
// processes. None carries labels.
func (c *Cluster) life(b source.Window, out *Batch) {
	day := b.Start.Truncate(24 * time.Hour)
	r := c.Rand(day, "life|bursts")
	backup := BytesBurst{At: day.Add(backupAt), Duration: backupSpan, Namespace: "payments", Workload: "postgres",
		PeerIP: BackupPeer, Port: 443, Bytes: int64(250e6 + 250e6*r.Float64()), Normal: true}
	load := BytesBurst{At: day.Add(batchLoadAt), Duration: batchLoadSpan, Namespace: "payments", Workload: "ledger",
		PeerIP: BatchLoadPeer, Bytes: int64(120e6 + 80e6*r.Float64()), Inbound: true, Normal: true}
	for _, s := range []Scenario{backup, load} {
		if c.Workload(s.(BytesBurst).Namespace, s.(BytesBurst).Workload) != nil {
			s.Apply(c, b, out)
		}
	}
	c.weeklyJob(b, out)
	HTTPBackground{}.Apply(c, b, out)
	for _, s := range []ProcessRecycling{
		{Namespace: "payments", Workload: "fraud-check", Every: 10 * time.Minute},
		{Namespace: "team-1", Workload: "worker", Every: 25 * time.Minute},
	} {
		s.Apply(c, b, out)
	}
}

// WeeklyJobRun returns the start of the weekly batch job's run that
// covers t (Sundays from 03:00 UTC for WeeklyJobSpan), if any.
func WeeklyJobRun(t time.Time) (time.Time, bool) {
	t = t.UTC()
	start := t.Truncate(24 * time.Hour).Add(weeklyJobAt)
	if t.Weekday() != time.Sunday || t.Before(start) || !t.Before(start.Add(WeeklyJobSpan)) {
		return time.Time{}, false
	}
	return start, true
}

// weeklyJob is a CronJob's pod (shop/weekly-report-<scheduled minute>)
// that exists only during its run and reads from the services of every
// application namespace, up to weeklyJobPeers pods.
func (c *Cluster) weeklyJob(b source.Window, out *Batch) {
	run, ok := WeeklyJobRun(b.Start)
	if !ok {
		return
	}
	jr := c.Rand(run, "weekly-job")
	job := fmt.Sprintf("%s-%d", WeeklyJob, run.Unix()/60)
	w := &Workload{Namespace: "shop", Name: WeeklyJob, ReplicaSet: job, Service: WeeklyJob, Process: "/app/report"}
	n := c.nodes[jr.IntN(len(c.nodes))]
	a := n.PodCIDR.Addr().As4()
	a[3] = byte(firstLifeHost + jr.IntN(10))
	pod := &Pod{Name: job + "-" + randomName(jr, 5), IP: netip.AddrFrom4(a).String(), Node: n, PID: 1 + jr.IntN(30000), Workload: w}
	w.Pods = []*Pod{pod}
	r := c.Rand(b.Start, "weekly-job")
	reached := 0
	for _, t := range c.workloads {
		if platformNamespace(t.Namespace) || t == c.prober || len(t.Ports) == 0 {
			continue
		}
		port := t.Ports[0]
		for _, p := range t.Pods {
			if reached >= weeklyJobPeers {
				return
			}
			reached++
			conns := int64(1 + r.IntN(4))
			f := Flow{
				Src: PodEndpoint(pod), Dst: PodEndpoint(p), DstPort: port.Number, Proto: port.Proto,
				Service: t, ServicePort: port, Action: "allow",
				Flows: conns, Started: conns, Completed: conns,
				ReqBytes:  conns * int64(800+r.IntN(1200)),
				RespBytes: int64(float64(conns) * 3e6 * noise(r, 0.5)),
				SrcPolicy: "default|shop/default." + WeeklyJob + "-egress",
				DstPolicy: "default|" + t.Namespace + "/default." + t.Name + "-ingress",
			}
			c.emit(b, r, f, out, "src", "dst")
		}
	}
}
