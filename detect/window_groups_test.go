package detect

import (
	"cmp"
	"slices"
	"testing"
)

// TestWindowGroupsReuseStorageAcrossWindows checks each window's groups
// are those of its own rows, in order, whatever earlier windows held.
func TestWindowGroupsReuseStorageAcrossWindows(t *testing.T) {
	type sum struct {
		key   string
		total int
		seen  []int
	}
	windows := []struct {
		name string
		rows []string
		want []sum
	}{
		{"first window", []string{"b", "a", "b", "c"}, []sum{{"a", 1, []int{1}}, {"b", 2, []int{0, 2}}, {"c", 1, []int{3}}}},
		{"a smaller window reuses the groups", []string{"c", "c"}, []sum{{"c", 2, []int{0, 1}}}},
		{"a larger window grows them", []string{"d", "a", "e", "f", "a"}, []sum{{"a", 2, []int{1, 4}}, {"d", 1, []int{0}}, {"e", 1, []int{2}}, {"f", 1, []int{3}}}},
		{"an empty window", nil, nil},
	}
	var g windowGroups[string, sum]
	for _, w := range windows {
		g.reset()
		for i, k := range w.rows {
			s, fresh := g.get(k)
			if fresh {
				*s = sum{key: k, seen: s.seen[:0]}
			}
			s.total++
			s.seen = append(s.seen, i)
		}
		got := g.sorted(func(a, b *sum) int { return cmp.Compare(a.key, b.key) })
		if len(got) != len(w.want) {
			t.Fatalf("%s: %d groups, want %d", w.name, len(got), len(w.want))
		}
		for i, s := range got {
			if s.key != w.want[i].key || s.total != w.want[i].total || !slices.Equal(s.seen, w.want[i].seen) {
				t.Errorf("%s: group %d is %+v, want %+v", w.name, i, *s, w.want[i])
			}
		}
	}
}
