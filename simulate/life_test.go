package simulate

import (
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
)

func TestLifeSameSeedSameRecords(t *testing.T) {
	t.Parallel()
	// Sunday 01:00-04:00: the backup at 02:00, the weekly job at 03:00,
	// restarts and the weekend curve.
	from := day0.Add(6*24*time.Hour + time.Hour)
	attacks := DemoAttacks(from, time.Hour, 3)
	base := jsonDigest(t, New(Options{Seed: 7, Life: true}, attacks...), from, 3*time.Hour)
	tests := []struct {
		name string
		c    *Cluster
		same bool
	}{
		{"the same seed with Life gives byte-identical records", New(Options{Seed: 7, Life: true}, attacks...), true},
		{"without Life the records differ", New(Options{Seed: 7}, attacks...), false},
		{"another seed with Life gives other records", New(Options{Seed: 8, Life: true}, attacks...), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if same := jsonDigest(t, tt.c, from, 3*time.Hour) == base; same != tt.same {
				t.Errorf("identical = %v, want %v", same, tt.same)
			}
		})
	}
}

func TestLifeOffIsTheBuiltCluster(t *testing.T) {
	t.Parallel()
	c := New(Options{Seed: 3})
	if c.At(day0.Add(50*time.Hour)) != c {
		t.Error("At without Life is not the cluster itself")
	}
	if rs := c.Rollouts(day0, day0.Add(14*24*time.Hour)); len(rs) != 0 {
		t.Errorf("%d rollouts without Life", len(rs))
	}
	if got, want := c.UserLevel(day0.Add(5*24*time.Hour+15*time.Hour)), DayCurve(day0.Add(15*time.Hour)); got != want {
		t.Errorf("Saturday's level without Life is %v, want the weekday's %v", got, want)
	}
}

// userFlows is the connections the cluster's pods start towards the shop
// and payments services in the hour from start (user traffic).
func userFlows(c *Cluster, start time.Time) int64 {
	var n int64
	for s := start; s.Before(start.Add(time.Hour)); s = s.Add(c.Bucket()) {
		for _, f := range c.Window(window(s, c.Bucket())).Flows {
			if f.Reporter == "src" && f.SourceType == "wep" && (f.DestNamespace == "shop" || f.DestNamespace == "payments") {
				n += f.NumFlowsStarted
			}
		}
	}
	return n
}

func TestLifeWeeklyShape(t *testing.T) {
	t.Parallel()
	wednesday, saturday, sunday := day0.Add(2*24*time.Hour), day0.Add(5*24*time.Hour), day0.Add(6*24*time.Hour)
	tests := []struct {
		name         string
		life         bool
		weekend, day time.Time
		maxRatio     float64 // weekend/weekday at most
		minRatio     float64 // and at least
	}{
		{"Saturday 15:00 carries about 0.55 of Wednesday 15:00", true, saturday.Add(15 * time.Hour), wednesday.Add(15 * time.Hour), 0.7, 0.4},
		{"Sunday 11:00 carries about 0.55 of Wednesday 11:00", true, sunday.Add(11 * time.Hour), wednesday.Add(11 * time.Hour), 0.7, 0.4},
		{"Monday 10:00 peaks above Wednesday 10:00", true, day0.Add(10 * time.Hour), wednesday.Add(10 * time.Hour), 1.35, 1.03},
		{"without Life Saturday is a weekday", false, saturday.Add(15 * time.Hour), wednesday.Add(15 * time.Hour), 1.15, 0.85},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{Seed: 11, Life: tt.life})
			we, wd := userFlows(c, tt.weekend), userFlows(c, tt.day)
			ratio := float64(we) / float64(wd)
			t.Logf("%d / %d connections: %.2f", we, wd, ratio)
			if ratio > tt.maxRatio || ratio < tt.minRatio {
				t.Errorf("ratio %.2f outside [%.2f, %.2f]", ratio, tt.minRatio, tt.maxRatio)
			}
		})
	}
}

// nameAggrs is the source and destination name_aggr of the pods in the
// bucket starting at s, by namespace/workload of their labels' app.
func nameAggrs(c *Cluster, s time.Time) map[string]string {
	out := map[string]string{}
	for _, f := range c.Window(window(s, c.Bucket())).Flows {
		if f.SourceType == "wep" && f.SourceLabels != nil {
			out[f.SourceNamespace+"/"+strings.TrimPrefix(f.SourceLabels.Labels[0], "app=")] = f.SourceNameAggr
		}
		if f.DestType == "wep" && f.DestLabels != nil {
			out[f.DestNamespace+"/"+strings.TrimPrefix(f.DestLabels.Labels[0], "app=")] = f.DestNameAggr
		}
	}
	return out
}

func TestLifeRolloutChangesOneNameAggr(t *testing.T) {
	t.Parallel()
	c := New(Options{Seed: 5, Life: true})
	week := c.Rollouts(day0, day0.Add(7*24*time.Hour))
	if len(week) < 10 {
		t.Fatalf("%d rollouts in a week of 16 deployments, want at least 10", len(week))
	}
	rolled := map[string]bool{}
	checked := 0
	for i, ro := range week {
		key := ro.Namespace + "/" + ro.Workload
		rolled[key] = true
		if wd := ro.At.Weekday(); wd == time.Saturday || wd == time.Sunday || ro.At.Hour() < 9 || ro.At.Hour() >= 17 {
			t.Errorf("%s rolled out at %s, not a working hour", key, ro.At)
		}
		if ro.From == ro.To || !strings.HasPrefix(ro.To, ro.Workload+"-") {
			t.Errorf("%s rolled out from %s to %s", key, ro.From, ro.To)
		}
		// A bucket runs the pods of its start: the last bucket that
		// starts before the rollout has the old ReplicaSet, the next the new.
		before := source.Align(ro.At.Add(-time.Nanosecond), c.Bucket())
		after := before.Add(c.Bucket())
		if i > 0 && !week[i-1].At.Before(before) || i+1 < len(week) && !week[i+1].At.After(after) {
			continue // another rollout in the same buckets
		}
		was, is := nameAggrs(c, before), nameAggrs(c, after)
		if was[key] != ro.From+"-*" || is[key] != ro.To+"-*" {
			t.Errorf("%s at %s: name_aggr %q then %q, want %q then %q", key, ro.At, was[key], is[key], ro.From+"-*", ro.To+"-*")
		}
		for k, v := range is {
			if k != key && was[k] != "" && was[k] != v {
				t.Errorf("%s rolled out at %s, and %s's name_aggr changed too: %s to %s", key, ro.At, k, was[k], v)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no rollout checked")
	}
	t.Logf("%d rollouts in a week, %d checked in the records", len(week), checked)
	for _, ro := range week {
		if rolled[ro.Namespace+"/"+ro.Workload] && c.At(ro.At).Workload(ro.Namespace, ro.Workload).ReplicaSet != ro.To {
			t.Errorf("At(%s) does not run %s", ro.At, ro.To)
		}
	}
}

func TestLifeRestartKeepsTheHash(t *testing.T) {
	t.Parallel()
	c := New(Options{Seed: 5, Life: true})
	restarts := 0
	prev := c.At(day0)
	for s := day0.Add(time.Hour); s.Before(day0.Add(7 * 24 * time.Hour)); s = s.Add(time.Hour) {
		now := c.At(s)
		for i, w := range now.Workloads() {
			was := prev.Workloads()[i]
			if w.ReplicaSet != was.ReplicaSet {
				continue // a rollout
			}
			for j, p := range w.Pods {
				if p.Name == was.Pods[j].Name {
					continue
				}
				restarts++
				if !strings.HasPrefix(p.Name, was.ReplicaSet+"-") || p.IP == was.Pods[j].IP {
					t.Errorf("%s restarted as %s (%s, was %s): want the same hash and a new address", was.Pods[j].Name, p.Name, p.IP, was.Pods[j].IP)
				}
				if got := now.PodAt(mustAddr(t, p.IP)); got != p {
					t.Errorf("PodAt(%s) is not the restarted pod", p.IP)
				}
			}
		}
		prev = now
	}
	if restarts == 0 {
		t.Error("no pod restarted in a week")
	}
	t.Logf("%d pod restarts in a week", restarts)
}

func TestLifeNormalBursts(t *testing.T) {
	t.Parallel()
	c := New(Options{Seed: 2, Life: true})
	sunday := day0.Add(6 * 24 * time.Hour)
	tests := []struct {
		name  string
		at    time.Time
		match func(f flowView) bool
		found bool
	}{
		{"the nightly backup leaves postgres at 02:00", day0.Add(24*time.Hour + 2*time.Hour), func(f flowView) bool {
			return f.src == "payments/postgres" && f.dstIP == BackupPeer && f.bytesOut > 10e6
		}, true},
		{"no backup at 01:00", day0.Add(24*time.Hour + time.Hour), func(f flowView) bool { return f.dstIP == BackupPeer }, false},
		{"the morning load reaches ledger at 07:00", day0.Add(7 * time.Hour), func(f flowView) bool {
			return f.dst == "payments/ledger" && f.srcIP == BatchLoadPeer && f.bytesIn > 10e6
		}, true},
		{"no load at 12:00", day0.Add(12 * time.Hour), func(f flowView) bool { return f.srcIP == BatchLoadPeer }, false},
		{"the weekly job runs Sunday 03:00", sunday.Add(3 * time.Hour), func(f flowView) bool { return strings.HasPrefix(f.srcAggr, WeeklyJob+"-") }, true},
		{"the weekly job runs until 03:30", sunday.Add(3*time.Hour + 25*time.Minute), func(f flowView) bool { return strings.HasPrefix(f.srcAggr, WeeklyJob+"-") }, true},
		{"no weekly job Sunday 03:30", sunday.Add(3*time.Hour + 30*time.Minute), func(f flowView) bool { return strings.HasPrefix(f.srcAggr, WeeklyJob+"-") }, false},
		{"no weekly job Saturday 03:00", sunday.Add(-21 * time.Hour), func(f flowView) bool { return strings.HasPrefix(f.srcAggr, WeeklyJob+"-") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := window(tt.at, c.Bucket())
			b := c.Window(w)
			if len(b.Truth) != 0 || len(c.Truth(w)) != 0 {
				t.Errorf("normal life carries labels: %v", b.Truth)
			}
			found := false
			for _, f := range b.Flows {
				v := flowView{bytesOut: f.BytesOut, bytesIn: f.BytesIn, srcAggr: f.SourceNameAggr}
				if f.SourceLabels != nil {
					v.src = f.SourceNamespace + "/" + strings.TrimPrefix(f.SourceLabels.Labels[0], "app=")
				}
				if f.DestLabels != nil {
					v.dst = f.DestNamespace + "/" + strings.TrimPrefix(f.DestLabels.Labels[0], "app=")
				}
				if f.SourceIP != nil {
					v.srcIP = *f.SourceIP
				}
				if f.DestIP != nil {
					v.dstIP = *f.DestIP
				}
				found = found || tt.match(v)
			}
			if found != tt.found {
				t.Errorf("found = %v, want %v", found, tt.found)
			}
		})
	}
}

type flowView struct {
	src, dst, srcAggr, srcIP, dstIP string
	bytesOut, bytesIn               int64
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestLifeWindowIndependence(t *testing.T) {
	t.Parallel()
	c := New(Options{Seed: 4, Life: true})
	rs := c.Rollouts(day0, day0.Add(7*24*time.Hour))
	if len(rs) == 0 {
		t.Fatal("no rollout in a week")
	}
	// The hour around the first rollout, forwards.
	from := source.Align(rs[0].At, c.Bucket()).Add(-30 * time.Minute)
	var forwards []string
	for s := from; s.Before(from.Add(time.Hour)); s = s.Add(c.Bucket()) {
		forwards = append(forwards, js(t, c.Window(window(s, c.Bucket()))))
	}
	tests := []struct {
		name string
		gen  func(s time.Time) string
	}{
		{"backwards by a new cluster", func(s time.Time) string {
			return js(t, New(Options{Seed: 4, Life: true}).Window(window(s, c.Bucket())))
		}},
		{"backwards after windows days away", func(s time.Time) string {
			c.Window(window(s.Add(-50*time.Hour), c.Bucket()))
			c.Window(window(s.Add(75*time.Hour), c.Bucket()))
			return js(t, c.Window(window(s, c.Bucket())))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := len(forwards) - 1; i >= 0; i-- {
				s := from.Add(time.Duration(i) * c.Bucket())
				if tt.gen(s) != forwards[i] {
					t.Fatalf("window %s differs from the one generated in order", s)
				}
			}
		})
	}
	t.Run("concurrently", func(t *testing.T) {
		got := make([]string, len(forwards))
		var wg sync.WaitGroup
		for i := range forwards {
			wg.Go(func() { got[i] = js(t, c.Window(window(from.Add(time.Duration(i)*c.Bucket()), c.Bucket()))) })
		}
		wg.Wait()
		for i := range got {
			if got[i] != forwards[i] {
				t.Fatalf("window %d differs when generated concurrently", i)
			}
		}
	})
}

func js(t *testing.T, v any) string {
	t.Helper()
	j, err := json.Marshal(v)
	if err != nil {
		t.Error(err)
	}
	return string(j)
}
