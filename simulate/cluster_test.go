package simulate

import (
	"crypto/sha256"
	"encoding/json"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

// jsonDigest is the SHA-256 of the JSON of every bucket of [from, from+d), in order.
func jsonDigest(t *testing.T, c *Cluster, from time.Time, d time.Duration) [sha256.Size]byte {
	t.Helper()
	h := sha256.New()
	enc := json.NewEncoder(h)
	for s := from; s.Before(from.Add(d)); s = s.Add(c.Bucket()) {
		if err := enc.Encode(c.Window(window(s, c.Bucket()))); err != nil {
			t.Fatal(err)
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func TestSameSeedSameRecords(t *testing.T) {
	t.Parallel()
	attacks := DemoAttacks(day0.Add(6*time.Hour), time.Hour, 6)
	day := 24 * time.Hour
	base := jsonDigest(t, New(Options{Seed: 7}, attacks...), day0, day)
	tests := []struct {
		name string
		c    *Cluster
		span time.Duration // compared from day0; a difference shows in an hour
		same bool
	}{
		{"the same seed gives byte-identical records for a day", New(Options{Seed: 7}, attacks...), day, true},
		{"another seed gives other records", New(Options{Seed: 8}, attacks...), time.Hour, false},
		{"another cluster size gives other records", New(Options{Seed: 7, Namespaces: 5}, attacks...), time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := base
			if tt.span != day {
				want = jsonDigest(t, New(Options{Seed: 7}, attacks...), day0, tt.span)
			}
			if same := jsonDigest(t, tt.c, day0, tt.span) == want; same != tt.same {
				t.Errorf("identical = %v, want %v", same, tt.same)
			}
		})
	}
}

func TestWindowIndependence(t *testing.T) {
	t.Parallel()
	c := New(Options{Seed: 3}, DemoAttacks(day0.Add(time.Hour), 20*time.Minute, 3)...)
	b := c.Bucket()
	marshal := func(v any) string {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(j)
	}
	// Generate 24 windows forwards, remembering each.
	forwards := map[time.Time]string{}
	for i := range 24 {
		s := day0.Add(time.Hour + time.Duration(i)*b)
		forwards[s] = marshal(c.Window(window(s, b)))
	}
	tests := []struct {
		name string
		gen  func(s time.Time) string
	}{
		{"a window generated alone by a new cluster", func(s time.Time) string {
			return marshal(New(Options{Seed: 3}, DemoAttacks(day0.Add(time.Hour), 20*time.Minute, 3)...).Window(window(s, b)))
		}},
		{"a window generated again after others", func(s time.Time) string {
			c.Window(window(s.Add(-7*b), b))
			c.Window(window(s.Add(48*time.Hour), b))
			return marshal(c.Window(window(s, b)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 23; i >= 0; i-- { // backwards
				s := day0.Add(time.Hour + time.Duration(i)*b)
				if got := tt.gen(s); got != forwards[s] {
					t.Fatalf("window %s differs from the one generated in order", s)
				}
			}
		})
	}
	t.Run("a longer window is its buckets joined", func(t *testing.T) {
		s := day0.Add(time.Hour)
		long := c.Window(window(s, 3*b))
		var joined Batch
		for i := range 3 {
			joined.append(c.Window(window(s.Add(time.Duration(i)*b), b)))
		}
		if marshal(long) != marshal(joined) {
			t.Error("a 15-minute window differs from its three 5-minute buckets")
		}
	})
	t.Run("an unaligned window holds exactly the records that end in it", func(t *testing.T) {
		w := source.Window{Start: day0.Add(time.Hour + 2*time.Minute), End: day0.Add(time.Hour + 13*time.Minute)}
		got := c.Window(w)
		all := c.Window(window(day0.Add(time.Hour), 15*time.Minute))
		want := all.within(w)
		if marshal(got.Flows) != marshal(want.Flows) || marshal(got.DNS) != marshal(want.DNS) || marshal(got.L7) != marshal(want.L7) {
			t.Error("records differ from those of the aligned buckets that end in the window")
		}
		if len(got.Flows) == 0 || len(got.Flows) == len(all.Flows) {
			t.Errorf("%d of %d flows: the window does not cut the buckets", len(got.Flows), len(all.Flows))
		}
	})
}

var (
	nameAggrRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?-[` + hashAlphabet + `]{10}-\*$`)
	podNameRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?-[` + hashAlphabet + `]{10}-[` + hashAlphabet + `]{5}$`)
)

// checkEndpoint checks one side of a flow against CALICO.md.
func checkEndpoint(typ, ns, name, aggr string, ip *string) string {
	switch typ {
	case calicolog.TypeWorkload:
		switch {
		case ns == "" || ns == "-":
			return "a pod without a namespace"
		case !nameAggrRE.MatchString(aggr):
			return "name_aggr " + aggr + " is not like frontend-7d4f8b9c5d-*"
		case name == "-" && ip != nil:
			return "aggregated name with an IP"
		case name != "-" && ip == nil:
			return "named pod without an IP"
		case name != "-" && (!podNameRE.MatchString(name) || !strings.HasPrefix(name, strings.TrimSuffix(aggr, "*"))):
			return "pod name " + name + " does not match " + aggr
		}
	case calicolog.TypeNetwork:
		if ns != "-" || name != "-" || (aggr != "pub" && aggr != "pvt") {
			return "network endpoint not named -/-/pub|pvt: " + ns + "/" + name + "/" + aggr
		}
		if ip != nil {
			a, err := netip.ParseAddr(*ip)
			if err != nil || (a.IsPrivate() != (aggr == "pvt")) {
				return "network " + *ip + " named " + aggr
			}
		}
	case calicolog.TypeHost:
		if ns != "-" || name == "-" || ip == nil {
			return "host endpoint without a name or IP"
		}
	default:
		return "endpoint type " + typ
	}
	return ""
}

func TestRecordsFollowCalico(t *testing.T) {
	c := New(Options{Seed: 11})
	b := c.Bucket()
	var offsets = map[int64]bool{}
	for _, hour := range []int{3, 9, 15, 21} {
		w := window(day0.Add(time.Duration(hour)*time.Hour), b)
		batch := c.Window(w)
		if len(batch.Flows) < 100 || len(batch.DNS) == 0 || len(batch.L7) == 0 {
			t.Fatalf("%s: %d flows, %d dns, %d l7 records: too few", w, len(batch.Flows), len(batch.DNS), len(batch.L7))
		}
		if n := batch.Len(); n > 1000 {
			t.Errorf("%s: %d records; the default cluster should log hundreds", w, n)
		}
		reporters := map[string]int{}
		for i, f := range batch.Flows {
			j, _ := json.Marshal(f)
			if _, err := calicolog.DecodeFlowLog(j); err != nil {
				t.Fatalf("flow %d: %v\n%s", i, err, j)
			}
			end, start := f.EndTime.Time(), f.StartTime.Time()
			switch {
			case !w.Contains(end):
				t.Fatalf("flow %d ends at %s, outside %s", i, end, w)
			case !start.Before(end) || end.Sub(start) < b || end.Sub(start) > b+15*time.Second:
				t.Fatalf("flow %d lasts %s, want about %s", i, end.Sub(start), b)
			case int64(f.EndTime)%int64(b.Seconds()) == 0 || int64(f.StartTime)%int64(b.Seconds()) == 0:
				t.Fatalf("flow %d is aligned to the wall clock: %d-%d", i, f.StartTime, f.EndTime)
			case f.Timestamp.Time().Unix() != int64(f.EndTime):
				t.Fatalf("flow %d: @timestamp %d is not its end %d", i, f.Timestamp, f.EndTime)
			case f.Action != "allow" || (f.Proto != "tcp" && f.Proto != "udp"):
				t.Fatalf("flow %d: normal traffic is %s %s", i, f.Action, f.Proto)
			case f.NumFlows < 1 || f.NumFlowsStarted > f.NumFlows || f.NumFlowsCompleted > f.NumFlows || f.NumFlowsCompleted < 0:
				t.Fatalf("flow %d: num_flows %d, started %d, completed %d", i, f.NumFlows, f.NumFlowsStarted, f.NumFlowsCompleted)
			case f.Host == "" || f.ProcessName == "" || f.ProcessID == "":
				t.Fatalf("flow %d: no host or process", i)
			case f.Policies == nil || len(strings.Split(f.Policies.AllPolicies[0], "|")) != 5:
				t.Fatalf("flow %d: policies %v", i, f.Policies)
			case (f.DestServiceName == "-") != (f.DestServicePortNum == nil):
				t.Fatalf("flow %d: service %s with port %v", i, f.DestServiceName, f.DestServicePortNum)
			}
			if msg := checkEndpoint(f.SourceType, f.SourceNamespace, f.SourceName, f.SourceNameAggr, f.SourceIP); msg != "" {
				t.Fatalf("flow %d source: %s\n%s", i, msg, j)
			}
			if msg := checkEndpoint(f.DestType, f.DestNamespace, f.DestName, f.DestNameAggr, f.DestIP); msg != "" {
				t.Fatalf("flow %d dest: %s\n%s", i, msg, j)
			}
			reporters[f.Reporter]++
			offsets[int64(f.EndTime)%int64(b.Seconds())] = true
		}
		if reporters["src"] == 0 || reporters["dst"] == 0 {
			t.Errorf("%s: reporters %v, want both", w, reporters)
		}
		for i, d := range batch.DNS {
			j, _ := json.Marshal(d)
			if _, err := calicolog.DecodeDNSLog(j); err != nil {
				t.Fatalf("dns %d: %v", i, err)
			}
			var raw struct{ StartTime, EndTime string }
			raw.StartTime, raw.EndTime = jsonField(j, "start_time"), jsonField(j, "end_time")
			for _, s := range []string{raw.StartTime, raw.EndTime} {
				if _, err := time.Parse(time.RFC3339Nano, s); err != nil || !strings.Contains(s, ".") {
					t.Fatalf("dns %d: time %q is not RFC 3339 with nanoseconds", i, s)
				}
			}
			switch {
			case !w.Contains(d.EndTime) || !d.StartTime.Before(d.EndTime):
				t.Fatalf("dns %d: %s-%s outside %s", i, d.StartTime, d.EndTime, w)
			case d.ClientName != "-" || d.ClientIP != nil || !nameAggrRE.MatchString(d.ClientNameAggr):
				t.Fatalf("dns %d: client %v %s %s, want aggregated", i, d.ClientIP, d.ClientName, d.ClientNameAggr)
			case d.RCode != "NoError" || d.Count < 1 || d.LatencyCount != d.Count:
				t.Fatalf("dns %d: rcode %s, count %d, latency_count %d", i, d.RCode, d.Count, d.LatencyCount)
			case d.LatencyMeanNanos < 10_000 || d.LatencyMeanNanos > d.LatencyMaxNanos || d.LatencyMaxNanos > int64(time.Second):
				t.Fatalf("dns %d: latency mean %d max %d ns", i, d.LatencyMeanNanos, d.LatencyMaxNanos)
			case len(d.Servers) == 0 || d.Servers[0].Namespace != "kube-system":
				t.Fatalf("dns %d: servers %v", i, d.Servers)
			case !strings.HasSuffix(d.QName, ".svc.cluster.local") && !strings.Contains(d.QName, "."):
				t.Fatalf("dns %d: qname %s", i, d.QName)
			}
		}
		for i, l := range batch.L7 {
			j, _ := json.Marshal(l)
			if _, err := calicolog.DecodeL7Log(j); err != nil {
				t.Fatalf("l7 %d: %v", i, err)
			}
			switch {
			case !w.Contains(l.EndTime.Time()) || l.StartTime >= l.EndTime:
				t.Fatalf("l7 %d: %d-%d outside %s", i, l.StartTime, l.EndTime, w)
			case l.Method != "GET" && l.Method != "POST":
				t.Fatalf("l7 %d: method %s", i, l.Method)
			case l.ResponseCode != "200" && l.ResponseCode != "201" && l.ResponseCode != "404":
				t.Fatalf("l7 %d: code %s", i, l.ResponseCode)
			case l.DurationMeanNanos < 100_000 || l.DurationMeanNanos > l.DurationMaxNanos:
				t.Fatalf("l7 %d: duration mean %d max %d ns", i, l.DurationMeanNanos, l.DurationMaxNanos)
			case l.DestServiceName != "frontend" && l.DestServiceName != "cart":
				t.Fatalf("l7 %d: service %s is not an HTTP service", i, l.DestServiceName)
			}
		}
	}
	if len(offsets) < 2 {
		t.Errorf("every record ends at the same offset in its window: %v", offsets)
	}
}

// jsonField returns a string field of a JSON object.
func jsonField(j []byte, key string) string {
	var m map[string]any
	_ = json.Unmarshal(j, &m)
	s, _ := m[key].(string)
	return s
}

func TestTopology(t *testing.T) {
	tests := []struct {
		name                  string
		opts                  Options
		namespaces, workloads int
		mustHave              []string
		cluster               string
		bucket                time.Duration
	}{
		{"defaults", Options{}, 4, 16, []string{"shop/frontend", "shop/cart", "shop/db", "kube-system/coredns", "monitoring/prometheus", "payments/postgres"}, "cluster", 5 * time.Minute},
		{"a small cluster", Options{Namespaces: 1, DeploymentsPerNamespace: 2, Cluster: "edge"}, 1, 2, []string{"shop/frontend", "shop/cart"}, "edge", 5 * time.Minute},
		{"a large cluster", Options{Namespaces: 8, DeploymentsPerNamespace: 6, Bucket: time.Minute}, 8, 48, []string{"team-1/api", "team-4/store", "shop/job-1", "team-2/job-2"}, "cluster", time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.opts)
			if c.Name() != tt.cluster || c.Bucket() != tt.bucket {
				t.Errorf("cluster %q bucket %s, want %q %s", c.Name(), c.Bucket(), tt.cluster, tt.bucket)
			}
			namespaces := map[string]bool{}
			ips := map[string]string{}
			for _, w := range c.Workloads() {
				namespaces[w.Namespace] = true
				if len(w.Pods) < 2 || len(w.Pods) > 3 {
					t.Errorf("%s/%s has %d replicas, want 2-3", w.Namespace, w.Name, len(w.Pods))
				}
				for _, p := range w.Pods {
					if other, dup := ips[p.IP]; dup {
						t.Errorf("%s and %s share %s", p.Name, other, p.IP)
					}
					ips[p.IP] = p.Name
					if c.PodAt(netip.MustParseAddr(p.IP)) != p || !p.Node.PodCIDR.Contains(netip.MustParseAddr(p.IP)) {
						t.Errorf("%s: address %s is not on its node %s", p.Name, p.IP, p.Node.Name)
					}
				}
			}
			if len(namespaces) != tt.namespaces || len(c.Workloads()) != tt.workloads {
				t.Errorf("%d namespaces, %d workloads; want %d, %d", len(namespaces), len(c.Workloads()), tt.namespaces, tt.workloads)
			}
			for _, name := range tt.mustHave {
				ns, wl, _ := strings.Cut(name, "/")
				if c.Workload(ns, wl) == nil {
					t.Errorf("no workload %s", name)
				}
			}
			batch := c.Window(window(day0.Add(15*time.Hour), c.Bucket()))
			if len(batch.Flows) == 0 {
				t.Error("no traffic")
			}
		})
	}
}

// TestNormalTrafficStaysBelowThresholds checks that no source entity of
// normal traffic reaches Calico's port_scan (demo: 200) or ip_sweep (32)
// thresholds in any window of a simulated week, the daily peaks included.
func TestNormalTrafficStaysBelowThresholds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		days int
	}{
		{"default cluster over 7 days", Options{Seed: 1}, 7},
		{"another seed over 2 days", Options{Seed: 99}, 2},
		{"a large cluster over 1 day", Options{Seed: 5, Namespaces: 12, DeploymentsPerNamespace: 6}, 1},
		{"a scaled-up cluster over 1 day", Options{Seed: 5, Scale: 4}, 1},
		{"a cluster with normal life over 7 days", Options{Seed: 1, Life: true}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.opts)
			var maxPorts, maxIPs distinct
			var portsBy, ipsBy string
			for s := day0; s.Before(day0.Add(time.Duration(tt.days) * 24 * time.Hour)); s = s.Add(c.Bucket()) {
				w := window(s, c.Bucket())
				for e, d := range distinctBySource(c.Window(w).Flows) {
					if d.ports >= portScanThreshold || d.ips >= ipSweepThreshold {
						t.Fatalf("%s: %s reaches %d distinct ports and %d distinct IPs", w, e, d.ports, d.ips)
					}
					if d.ports > maxPorts.ports {
						maxPorts, portsBy = d, e.String()
					}
					if d.ips > maxIPs.ips {
						maxIPs, ipsBy = d, e.String()
					}
				}
			}
			t.Logf("max distinct destination ports per source entity and window: %d (%s); max distinct destination IPs: %d (%s)",
				maxPorts.ports, portsBy, maxIPs.ips, ipsBy)
		})
	}
}

func TestDailyPattern(t *testing.T) {
	c := New(Options{Seed: 4})
	hourBytes := func(day time.Time, hour int) (bytes, dns, l7 int64) {
		start := day.Add(time.Duration(hour) * time.Hour)
		b := c.Window(window(start, time.Hour))
		for _, f := range b.Flows {
			bytes += f.BytesIn + f.BytesOut
		}
		for _, d := range b.DNS {
			dns += d.Count
		}
		for _, l := range b.L7 {
			l7 += l.Count
		}
		return
	}
	for d := range 3 {
		day := day0.Add(time.Duration(d) * 24 * time.Hour)
		peakBytes, peakDNS, peakL7 := hourBytes(day, int(PeakHour))
		lowBytes, lowDNS, lowL7 := hourBytes(day, int(PeakHour)-12)
		t.Logf("%s: bytes %d at %02d:00, %d at %02d:00 (x%.1f); DNS queries x%.1f; HTTP requests x%.1f", day.Format("2006-01-02"),
			peakBytes, int(PeakHour), lowBytes, int(PeakHour)-12, float64(peakBytes)/float64(lowBytes),
			float64(peakDNS)/float64(lowDNS), float64(peakL7)/float64(lowL7))
		if peakBytes < 2*lowBytes {
			t.Errorf("%s: %d bytes in the peak hour, %d at the trough: want at least twice", day.Format("2006-01-02"), peakBytes, lowBytes)
		}
		if peakL7 < 2*lowL7 || peakDNS <= lowDNS {
			t.Errorf("%s: HTTP requests %d vs %d, DNS queries %d vs %d: no daily pattern", day.Format("2006-01-02"), peakL7, lowL7, peakDNS, lowDNS)
		}
	}
	tests := []struct {
		hour float64
		want float64
	}{{PeakHour, 1}, {PeakHour - 12, 0.1}, {PeakHour + 12, 0.1}}
	for _, tt := range tests {
		at := day0.Add(time.Duration(tt.hour * float64(time.Hour)))
		if got := DayCurve(at); got < tt.want-1e-9 || got > tt.want+1e-9 {
			t.Errorf("DayCurve(%s) = %v, want %v", at.Format("15:04"), got, tt.want)
		}
	}
}

func TestScaleMultipliesRecords(t *testing.T) {
	w := window(day0.Add(15*time.Hour), 5*time.Minute)
	one := New(Options{Seed: 2}).Window(w)
	four := New(Options{Seed: 2, Scale: 4}).Window(w)
	if len(four.Flows) < 2*len(one.Flows) {
		t.Errorf("Scale 4 gives %d flows, Scale 1 %d: want at least twice as many", len(four.Flows), len(one.Flows))
	}
	ports := 0
	for _, f := range four.Flows {
		if f.SourcePort != nil {
			ports++
		}
	}
	if ports == 0 {
		t.Error("no split record carries a source port")
	}
}
