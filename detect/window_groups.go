package detect

import "slices"

// windowGroups collects a window's rows into one group per key, keeping its
// storage (the groups, their index and order) from one window to the next:
// a window of 10,000 entities otherwise allocates a group each and grows a
// map and a slice to 10,000 entries. The groups are valid until the next
// reset; a detector must not keep pointers to them, nor slices that a later
// window's groups reuse.
type windowGroups[K comparable, T any] struct {
	items []T
	order []*T
	index map[K]int
}

// reset empties the groups for a new window.
func (g *windowGroups[K, T]) reset() {
	if g.index == nil {
		g.index = map[K]int{}
	}
	clear(g.index)
	g.items = g.items[:0]
}

// get returns the group of k, and whether it is new in this window. A new
// group holds what an earlier window's group left in its place: the caller
// sets every field, reusing slices' capacity where nothing kept them. The
// pointer is valid until the next get (the groups may move as they grow).
func (g *windowGroups[K, T]) get(k K) (*T, bool) {
	i, fresh := g.at(k)
	return &g.items[i], fresh
}

// at is get's index of the group among the window's, in order of arrival.
func (g *windowGroups[K, T]) at(k K) (int, bool) {
	if i, ok := g.index[k]; ok {
		return i, false
	}
	i := len(g.items)
	g.index[k] = i
	if i < cap(g.items) {
		g.items = g.items[:i+1]
	} else {
		var zero T
		g.items = append(g.items, zero)
	}
	return i, true
}

// find returns the group of k when the window has one.
func (g *windowGroups[K, T]) find(k K) (*T, bool) {
	if i, ok := g.index[k]; ok {
		return &g.items[i], true
	}
	return nil, false
}

// sorted returns the window's groups in the order of cmp, which must be
// total for the order to be stable.
func (g *windowGroups[K, T]) sorted(cmp func(a, b *T) int) []*T {
	out := g.order[:0]
	for i := range g.items {
		out = append(out, &g.items[i])
	}
	slices.SortFunc(out, cmp)
	g.order = out
	return out
}
