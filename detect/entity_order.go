package detect

import (
	"cmp"
	"strings"
)

// entityLess orders entities by cluster, namespace, workload and type
// without building their keys, for the stable order of verdicts and saved
// models.
func entityLess(a, b Entity) bool {
	if c := strings.Compare(a.Cluster, b.Cluster); c != 0 {
		return c < 0
	}
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c < 0
	}
	if c := strings.Compare(a.Workload, b.Workload); c != 0 {
		return c < 0
	}
	return a.Type < b.Type
}

// entityCompare is entityLess as a three-way comparison.
func entityCompare(a, b Entity) int {
	return cmp.Or(strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Namespace, b.Namespace),
		strings.Compare(a.Workload, b.Workload), strings.Compare(a.Type, b.Type))
}

// entityKeyCompare orders entities as strings.Compare of their Keys does,
// without building the keys (a sort of 10,000 verdicts compared ~280,000
// pairs, each building two strings).
func entityKeyCompare(a, b Entity) int {
	x := [4]string{a.Cluster, a.Namespace, a.Workload, a.Type}
	y := [4]string{b.Cluster, b.Namespace, b.Workload, b.Type}
	return joinedCompare(x[:], y[:], '/')
}

// joinedCompare is strings.Compare of the parts of x and of y each joined
// with sep, without joining them; x and y have as many parts.
func joinedCompare(x, y []string, sep byte) int {
	for k := range x {
		if x[k] == y[k] {
			continue
		}
		// The first part that differs decides, unless one part is a
		// prefix of the other and the longer goes on with the separator.
		p := 0
		for p < len(x[k]) && p < len(y[k]) && x[k][p] == y[k][p] {
			p++
		}
		last := k == len(x)-1
		cx, okx := joinedByte(x[k], p, last, sep)
		cy, oky := joinedByte(y[k], p, last, sep)
		switch {
		case okx != oky:
			if okx {
				return 1
			}
			return -1
		case cx != cy:
			if cx < cy {
				return -1
			}
			return 1
		}
		return joinedWalkCompare(x, y, sep)
	}
	return 0
}

// joinedByte is the byte at offset p of a part in the joined string: the
// part's own, the separator after it, or none after the last part.
func joinedByte(part string, p int, last bool, sep byte) (byte, bool) {
	switch {
	case p < len(part):
		return part[p], true
	case !last:
		return sep, true
	}
	return 0, false
}

// joinedWalkCompare compares two joined strings byte by byte.
func joinedWalkCompare(x, y []string, sep byte) int {
	var kx, ix, ky, iy int
	next := func(parts []string, k, i *int) (byte, bool) {
		for *k < len(parts) {
			if *i < len(parts[*k]) {
				c := parts[*k][*i]
				*i++
				return c, true
			}
			*k++
			*i = 0
			if *k < len(parts) {
				return sep, true
			}
		}
		return 0, false
	}
	for {
		cx, okx := next(x, &kx, &ix)
		cy, oky := next(y, &ky, &iy)
		switch {
		case !okx && !oky:
			return 0
		case !okx:
			return -1
		case !oky:
			return 1
		case cx != cy:
			if cx < cy {
				return -1
			}
			return 1
		}
	}
}
