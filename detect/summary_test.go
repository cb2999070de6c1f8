package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// summaryValues are the values summaries print: edge cases of fmt's float
// formatting (signs, zeros, infinities, rounding at the precision, the
// switch to exponents) and a spread of magnitudes.
func summaryValues() []float64 {
	vs := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 0.05, -0.05, 0.15, 0.25, 2.5, 3.5, -2.5,
		0.04999999, 0.9999, 0.99995, 9.9995, 99995, 999950, 1e-5, 1e-7, 123456789, 1e21, -1e21,
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1),
		0.1 + 0.2, 1.0 / 3, -2.0 / 3, 12.34, 1234.5, 12345.5, 0.00012345, -0.0004}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		mag := math.Pow(10, float64(rng.IntN(24)-10))
		v := rng.Float64() * mag
		if rng.IntN(3) == 0 {
			v = -v
		}
		if rng.IntN(4) == 0 {
			v = math.Round(v*10) / 10 // ties at the printed precision
		}
		vs = append(vs, v)
	}
	return vs
}

func TestTextWritesWhatFmtWrites(t *testing.T) {
	type verb struct {
		format string
		write  func(*text, float64)
	}
	verbs := []verb{
		{"%.0f", func(t *text, v float64) { t.fixed(v, 0) }},
		{"%.1f", func(t *text, v float64) { t.fixed(v, 1) }},
		{"%.2f", func(t *text, v float64) { t.fixed(v, 2) }},
		{"%.3f", func(t *text, v float64) { t.fixed(v, 3) }},
		{"%.4f", func(t *text, v float64) { t.fixed(v, 4) }},
		{"%+.1f", func(t *text, v float64) { t.plusFixed(v, 1) }},
		{"%+.3f", func(t *text, v float64) { t.plusFixed(v, 3) }},
		{"%.3g", func(t *text, v float64) { t.general(v, 3) }},
		{"%.4g", func(t *text, v float64) { t.general(v, 4) }},
		{"%g", func(t *text, v float64) { t.general(v, -1) }},
	}
	var tx text
	for _, vb := range verbs {
		for _, v := range summaryValues() {
			want := fmt.Sprintf("<"+vb.format+">", v)
			tx.reset().str("<")
			vb.write(&tx, v)
			if got := tx.str(">").String(); got != want {
				t.Errorf("%s of %v: got %q, fmt writes %q", vb.format, v, got, want)
			}
		}
	}
	for _, n := range []int{0, 1, -1, 42, -7, math.MaxInt, math.MinInt} {
		if got, want := tx.reset().integer(n).String(), fmt.Sprintf("%d", n); got != want {
			t.Errorf("%%d of %d: got %q, fmt writes %q", n, got, want)
		}
	}
	for _, d := range []time.Duration{0, time.Nanosecond, 5 * time.Minute, 90 * time.Minute, 36 * time.Hour, -time.Second} {
		if got, want := tx.reset().duration(d).String(), d.String(); got != want {
			t.Errorf("%%s of %v: got %q, fmt writes %q", d, got, want)
		}
	}
}

// summaryCase builds one summary from drawn values with its builder (got)
// and with the fmt format it replaced (want).
type summaryCase struct {
	name  string
	build func(t *text, e Entity, f func() float64) (got, want string)
}

// TestSummariesMatchTheirFormats checks each summary builder writes what
// fmt.Sprintf wrote with the format it replaced, for drawn values and
// entities.
func TestSummariesMatchTheirFormats(t *testing.T) {
	cases := []summaryCase{
		{"field baselines", func(t *text, e Entity, f func() float64) (string, string) {
			obs, exp, z, thr := f(), f(), f(), f()
			return baselineSummary(t, e, "bytes_out", obs, exp, z, thr),
				fmt.Sprintf("%s in namespace %s: %s %.4g where %.4g is usual at this hour (%+.1f spreads, alert at %.1f)",
					e.Workload, e.Namespace, "bytes_out", obs, exp, z, thr)
		}},
		{"replica set total", func(t *text, e Entity, f func() float64) (string, string) {
			obs, exp, z, thr := f(), f(), f(), f()
			return replicaSummary(t, e, "", "sent", obs, exp, z, thr),
				fmt.Sprintf("%s in namespace %s %s %.4g bytes where %.4g is usual at this hour (%+.1f spreads, alert at %.1f)",
					e.Workload, e.Namespace, "sent", obs, exp, z, thr)
		}},
		{"replica set's busiest pod", func(t *text, e Entity, f func() float64) (string, string) {
			obs, exp, z, thr := f(), f(), f(), f()
			return replicaSummary(t, e, "frontend-7d4f8b-x2x9z", "received", obs, exp, z, thr),
				fmt.Sprintf("pod %s of %s in namespace %s %s %.4g bytes where %.4g is usual for its replicas (%+.1f spreads, alert at %.1f)",
					"frontend-7d4f8b-x2x9z", e.Workload, e.Namespace, "received", obs, exp, z, thr)
		}},
		{"distinct count", func(t *text, e Entity, f func() float64) (string, string) {
			d := &distinctScan{noun: "destination ports", slowWindows: 12, margin: f()}
			j := scanJudgement{fast: f(), slow: f(), fresh: f(), fastLimit: f(), slowLimit: f(), fastScore: f(), slowScore: f(),
				learned: f() > 0, usualFast: f(), usualSlow: f()}
			anomalous := f() > 0
			sources := []sourceCount{{ip: "192.0.2.7", count: f()}, {ip: nullIP, count: f()}}
			got := d.scanSummary(e, 5*time.Minute, j, anomalous)
			if e.Type == "net" {
				got.str("; top sources: ")
				describeSources(got, sources)
			}
			return got.String(), scanSummaryFmt(d, e, 5*time.Minute, j, anomalous, sources)
		}},
		{"dga", func(t *text, e Entity, f func() float64) (string, string) {
			d := &dga{bucket: 5 * time.Minute}
			st := &dgaClient{windows: make([]dgaSlot, 12), hours: make([]dgaSlot, 24)}
			j := dgaJudgement{state: st, legitimate: int(f()) % 1000, nx: f(), answered: f(), perHour: 12, failingDay: f() > 0}
			if v := f(); v > 1 {
				j.top = spanHour
			} else if v < -1 {
				j.top = spanDay
			}
			for s := range spans {
				j.weight[s], j.bar[s] = f(), f()
				st.usual[s], st.known[s] = math.Abs(f()), f() > 0
			}
			for k := range int(math.Abs(f())) % 7 {
				dom := &dgaDomain{registered: fmt.Sprintf("x%dq.example", k), example: fmt.Sprintf("www.x%dq.example", k),
					weight: f(), signals: uint8(int(math.Abs(f())) % (1 << signals))}
				j.domains = append(j.domains, dom)
				st.windows[k%3].index = int64(k % 3)
				st.windows[k%3].add(dom)
				st.hours[k%5].index = int64(k % 5)
				st.hours[k%5].add(dom)
			}
			return d.summary(e, &j), dgaSummaryFmt(e, &j)
		}},
		{"dns tunnel", func(t *text, e Entity, f func() float64) (string, string) {
			top := &tunnelDomain{registered: "example.com", encoded: int(f()) % 1000, chars: f(), names: int(f()) % 100, queries: f()}
			half := f()
			return tunnelSummary(t, e, top, 5*time.Minute, half),
				fmt.Sprintf("%s in namespace %s sent %d unique encoded subdomains (%.0f characters) under %s "+
					"in %s, of %d names and %.0f queries to it (%.0f characters score 0.5)",
					e.Workload, e.Namespace, top.encoded, top.chars, top.registered, 5*time.Minute, top.names, top.queries, half)
		}},
		{"http requests", func(t *text, e Entity, f func() float64) (string, string) {
			n, exp, z, thr := f(), f(), f(), f()
			return requestsSummary(t, e, n, exp, z, thr),
				fmt.Sprintf("%s in namespace %s answered %.0f HTTP requests where %.0f is usual at this hour (%+.1f spreads, alert at %.1f)",
					e.Workload, e.Namespace, n, exp, z, thr)
		}},
		{"http response codes", func(t *text, e Entity, f func() float64) (string, string) {
			errs, n, share, usual, score, thr := f(), f(), f(), f(), f(), f()
			return codesSummary(t, e, errs, n, "5xx", share, usual, score, thr),
				fmt.Sprintf("%s in namespace %s answered %.0f of %.0f HTTP requests with %s (%.1f%%) where %.2f%% is usual (score %.3f, alert at %.3g)",
					e.Workload, e.Namespace, errs, n, "5xx", 100*share, 100*usual, score, thr)
		}},
		{"http verbs", func(t *text, e Entity, f func() float64) (string, string) {
			d := &httpVerbs{threshold: math.Abs(f())}
			mw := &methodWindow{entity: e}
			h := &methodHistory{Windows: math.Abs(f())}
			methods := []string{"GET", "", "PROPFIND-VERY-LONG-METHOD-NAME", "P\"O\nST", "DELETE"}
			for c := range mw.counts {
				if f() > 0 {
					mw.counts[c] = math.Abs(f())
					mw.logged[c] = methods[c%len(methods)]
				}
				h.Counts[c], h.Present[c] = math.Abs(f()), math.Abs(f())
			}
			observed, p, score := f(), f(), f()
			return d.summary(e, mw, h, mw.logged[0], observed, p, score), verbsSummaryFmt(d, e, mw, h, mw.logged[0], observed, p, score)
		}},
		{"process restarts", func(t *text, e Entity, f func() float64) (string, string) {
			d := &processRestarts{span: time.Hour}
			usual, bound := f(), f()
			if f() > 0 {
				return d.summary(e, nil, usual, bound), fmt.Sprintf("%s in namespace %s: no process restarted in this window", e.Workload, e.Namespace)
			}
			p := &procWindow{key: procKey{Pod: "frontend-7d4f8b-x2x9z", Process: "/usr/bin/app"}, restarts: f(), spanned: float64(int(f()) % 1000)}
			return d.summary(e, p, usual, bound),
				fmt.Sprintf("pod %s of %s in namespace %s: process %s restarted %.0f times in this window and %.0f times in the last %s (%d ids), where %.2f is usual (alert at %.1f)",
					p.key.Pod, e.Workload, e.Namespace, p.key.Process, p.restarts, p.spanned, d.span, int(p.spanned)+1, usual, bound)
		}},
		{"isolation", func(t *text, e Entity, f func() float64) (string, string) {
			d := &isolationDetector{calicoScore: f(), spec: isolationSpec{what: "flows",
				fields: []numericField{{name: "a"}, {name: "b"}, {name: "c"}}, ratios: [][2]int{{0, 2}, {1, 0}}}}
			feat, values, expected := []float64{f(), f(), f(), f(), f()}, []float64{f(), f(), f()}, []float64{f(), f(), f()}
			v := Verdict{Score: f()}
			near, far := f(), f()
			got := d.summary(e, feat, values, expected, v).str("; not alerting: ").str("a").str(" is ").plusFixed(feat[0], 1).
				str(" spreads from usual, the sensitivity asks ").fixed(far, 1).
				str("; not alerting: its last day had a window like it (").fixed(near, 1).str(" apart, ").fixed(far, 1).str(" from usual)").String()
			want := isolationSummaryFmt(d, e, feat, values, expected, v) +
				fmt.Sprintf("; not alerting: %s is %+.1f spreads from usual, the sensitivity asks %.1f", "a", feat[0], far) +
				fmt.Sprintf("; not alerting: its last day had a window like it (%.1f apart, %.1f from usual)", near, far)
			return got, want
		}},
	}
	entities := []Entity{
		{Cluster: "c", Namespace: "shop", Workload: "frontend-7d4f8b-*", Type: "wep"},
		{Cluster: "c", Namespace: "-", Workload: "pub", Type: "net"},
		{Cluster: "c", Namespace: "ns %s", Workload: "wl %d 100%", Type: "wep"},
		{Cluster: "c", Namespace: "-", Workload: "pvt", Type: "net"},
	}
	for _, c := range cases {
		values := summaryValues()
		next := 0
		draw := func() float64 {
			v := values[next%len(values)]
			next++
			return v
		}
		var tx text
		for i := range 2 * len(values) {
			got, want := c.build(&tx, entities[i%len(entities)], draw)
			if got != want {
				t.Errorf("%s: got %q, fmt wrote %q", c.name, got, want)
				break
			}
		}
	}
}

// isolationSummaryFmt is the isolation detectors' summary as fmt wrote it.
func isolationSummaryFmt(d *isolationDetector, e Entity, feat, values, expected []float64, v Verdict) string {
	order, n := largestDeviations(feat)
	parts := make([]string, 0, n)
	for _, i := range order[:n] {
		if i < len(d.spec.fields) {
			parts = append(parts, fmt.Sprintf("%s %.4g where %.4g is usual (%+.1f spreads)", d.spec.fields[i].name, values[i], expected[i], feat[i]))
			continue
		}
		r := d.spec.ratios[i-len(d.spec.fields)]
		parts = append(parts, fmt.Sprintf("%s per %s %+.1f spreads", d.spec.fields[r[0]].name, d.spec.fields[r[1]].name, feat[i]))
	}
	return fmt.Sprintf("%s in namespace %s: %s unlike usual at this hour: %s; isolation score %.3f (score_samples %.3f, alert at %.3f)",
		e.Workload, e.Namespace, d.spec.what, strings.Join(parts, ", "), v.Score, -v.Score, d.calicoScore)
}

// scanSummaryFmt is the distinct count detectors' summary as fmt wrote it.
func scanSummaryFmt(d *distinctScan, e Entity, length time.Duration, j scanJudgement, anomalous bool, sources []sourceCount) string {
	who := fmt.Sprintf("%s in namespace %s", e.Workload, e.Namespace)
	if e.Type == "net" {
		who = fmt.Sprintf("the network %s outside the cluster", e.Workload)
	}
	kind := func(k string) string {
		if anomalous {
			return k + " scan; "
		}
		return ""
	}
	usualNote := func(learned bool, usual float64) string {
		if !learned {
			return ""
		}
		return fmt.Sprintf(", %g× the %.0f it usually reaches", d.margin, usual)
	}
	var s string
	if j.isSlow() {
		s = fmt.Sprintf("%s reached %.0f distinct %s over the last %s, %.0f in this window, %.0f of them new (%salert at %.0f over %d windows%s)",
			who, j.slow, d.noun, d.span(length), j.fast, j.fresh, kind("slow"), j.slowLimit, d.slowWindows, usualNote(j.learned, j.usualSlow))
	} else {
		s = fmt.Sprintf("%s reached %.0f distinct %s in %s (%salert at %.0f%s)",
			who, j.fast, d.noun, length, kind("fast"), j.fastLimit, usualNote(j.learned, j.usualFast))
	}
	if e.Type == "net" {
		var b []byte
		for i, c := range sources {
			if i > 0 {
				b = append(b, ", "...)
			}
			ip := c.ip
			if ip == nullIP {
				ip = "aggregated addresses"
			}
			b = fmt.Appendf(b, "%s (%.0f)", ip, c.count)
		}
		s += "; top sources: " + string(b)
	}
	return s
}

// dgaSummaryFmt is the dga detector's summary as fmt wrote it.
func dgaSummaryFmt(e Entity, j *dgaJudgement) string {
	var b strings.Builder
	ex, sig, count := j.spanExamples()
	fmt.Fprintf(&b, "%s in namespace %s resolved %d suspicious registered domains the cluster never resolved in the window",
		e.Workload, e.Namespace, len(j.domains))
	if j.top != spanWindow {
		fmt.Fprintf(&b, ", %d new ones %s", count, spanNames[j.top])
	}
	if len(ex) > 0 {
		var names []string
		for _, x := range ex {
			names = append(names, fmt.Sprintf("%s %.2f", x.qname, x.weight))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(names, ", "))
	}
	var sigs []string
	for i, n := range sig {
		if n > 0 {
			sigs = append(sigs, fmt.Sprintf("%d %s", n, signalNames[i]))
		}
	}
	if len(sigs) > 0 {
		fmt.Fprintf(&b, ": %s", strings.Join(sigs, ", "))
	}
	failing := ""
	if j.top == spanDay && j.failingDay {
		failing = " of names that fail"
	}
	fmt.Fprintf(&b, "; weight %.1f %s%s against %.1f (its usual %.1f); %d legitimate domains in the window",
		j.weight[j.top], spanNames[j.top], failing, j.bar[j.top], j.state.expected(j.top, j.perHour), j.legitimate)
	if j.answered > 0 {
		fmt.Fprintf(&b, ", %.0f of %.0f answers NXDomain", j.nx, j.answered)
	}
	return b.String()
}

// verbsSummaryFmt is the http_verbs detector's summary as fmt wrote it.
func verbsSummaryFmt(d *httpVerbs, e Entity, mw *methodWindow, h *methodHistory, method string, observed, p, score float64) string {
	var rare []string
	for c, n := range mw.counts {
		if n > 0 && 1-h.probability(c) >= d.threshold {
			rare = append(rare, fmt.Sprintf("%s×%.0f", truncateMethod(mw.logged[c]), n))
		}
	}
	s := fmt.Sprintf("%s in namespace %s answered %.0f %s requests, a method making %.3f%% of its learned requests or windows at most (score %.4f, alert at %.3g)",
		e.Workload, e.Namespace, observed, truncateMethod(method), 100*p, score, d.threshold)
	if len(rare) > 1 {
		s += "; rare methods this window: " + strings.Join(rare, ", ")
	}
	return s
}

// TestTextSummariesStayWhatTheyWere builds summaries one after another from
// one text, across several shared blocks and with some longer than a
// quarter of one, and checks each still reads what it was built as once
// all of them are built.
func TestTextSummariesStayWhatTheyWere(t *testing.T) {
	var tx text
	var got, want []string
	for i := range 500 {
		tx.reset().str("wl-").integer(i).str(" in namespace ns: bytes_in ").general(float64(i)*1.5, 4)
		if i%97 == 0 {
			tx.str(strings.Repeat("; and more", 150))
		}
		want = append(want, string(tx.b))
		got = append(got, tx.String())
	}
	tx.reset()
	if s := tx.String(); s != "" {
		t.Errorf("an empty text reads %q", s)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("summary %d reads %q, was built as %q", i, got[i], want[i])
		}
	}
}
