package detect

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestEntityKeyCompareOrdersAsKeys checks the comparison gives the order
// of the entities' Key strings, separators included: parts holding "/",
// bytes below and above it, prefixes and empty parts.
func TestEntityKeyCompareOrdersAsKeys(t *testing.T) {
	pieces := []string{"", "a", "a/", "/", "a-b", "a.b", "a0", "-", "//", "ab", "a/b", "b", "\x00", "\xff", "wl-00012-*"}
	rng := rand.New(rand.NewPCG(3, 4))
	draw := func() string {
		var b strings.Builder
		for range rng.IntN(3) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	entity := func() Entity { return Entity{Cluster: draw(), Namespace: draw(), Workload: draw(), Type: draw()} }
	sign := func(n int) int { return min(max(n, -1), 1) }
	for i := range 200000 {
		a, b := entity(), entity()
		if i%4 == 0 {
			b = a
			switch i % 3 {
			case 0:
				b.Workload += draw()
			case 1:
				b.Namespace = draw()
			}
		}
		if got, want := sign(entityKeyCompare(a, b)), strings.Compare(a.Key(), b.Key()); got != want {
			t.Fatalf("entityKeyCompare(%q, %q) = %d, comparing keys %q and %q gives %d", a, b, got, a.Key(), b.Key(), want)
		}
	}
}

// TestJoinedCompareOrdersAsJoinedStrings checks two-part keys joined with
// a NUL (DNS clients) order as the joined strings do.
func TestJoinedCompareOrdersAsJoinedStrings(t *testing.T) {
	pieces := []string{"", "a", "\x00", "a\x00", "\x00a", "b", "ab", "\x01", "shop"}
	rng := rand.New(rand.NewPCG(5, 6))
	draw := func() string {
		var b strings.Builder
		for range rng.IntN(3) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	sign := func(n int) int { return min(max(n, -1), 1) }
	for range 100000 {
		x, y := []string{draw(), draw()}, []string{draw(), draw()}
		want := strings.Compare(strings.Join(x, "\x00"), strings.Join(y, "\x00"))
		if got := sign(joinedCompare(x, y, 0)); got != want {
			t.Fatalf("joinedCompare(%q, %q) = %d, the joined strings compare %d", x, y, got, want)
		}
	}
}

// TestEntityCompareAgreesWithEntityLess checks the three-way comparison
// orders as entityLess does.
func TestEntityCompareAgreesWithEntityLess(t *testing.T) {
	parts := []string{"", "a", "a-b", "a/b", "b", "wl-1-*"}
	var es []Entity
	for _, c := range parts[:2] {
		for _, n := range parts {
			for _, w := range parts {
				for _, ty := range parts[:3] {
					es = append(es, Entity{Cluster: c, Namespace: n, Workload: w, Type: ty})
				}
			}
		}
	}
	for _, a := range es {
		for _, b := range es {
			if got, want := entityCompare(a, b) < 0, entityLess(a, b); got != want {
				t.Fatalf("entityCompare(%+v, %+v) < 0 is %v, entityLess %v", a, b, got, want)
			}
			if (entityCompare(a, b) == 0) != (a == b) {
				t.Fatalf("entityCompare(%+v, %+v) = 0 for different entities or not 0 for the same", a, b)
			}
		}
	}
}

// BenchmarkSortVerdicts sorts a window of 10,000 verdicts, as the engine
// does for every detector before fetching evidence.
func BenchmarkSortVerdicts(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	vs := make([]Verdict, 10000)
	for i := range vs {
		vs[i] = Verdict{Entity: Entity{Cluster: "c", Namespace: "ns-" + strconv.Itoa(i/50), Workload: "wl-" + strconv.Itoa(i) + "-*", Type: "wep"},
			Score: float64(rng.IntN(4)) / 4}
	}
	work := make([]Verdict, len(vs))
	b.ReportAllocs()
	for b.Loop() {
		copy(work, vs)
		SortVerdicts(work)
	}
}
