package detect

import (
	"math"
	"strconv"
	"time"
	"unsafe"
)

// text builds a verdict's summary. Every window builds one for each entity
// of each detector, so its methods write what fmt's verbs write for one
// argument each without fmt's reflection, boxing and scratch: str is %s,
// fixed %.<prec>f, plusFixed %+.<prec>f, general %.<prec>g (prec -1: %g),
// integer %d, duration %s of a time.Duration. A detector keeps one text as
// scratch and resets it per summary.
//
// String hands out summaries from a shared block of summaryBlock bytes,
// one allocation for a few dozen summaries instead of one each: a block is
// only ever appended to, so the bytes behind a summary handed out are
// never written again. A summary kept long (an incident's verdict) keeps
// its block, at most summaryBlock bytes, alive. A text must not be copied
// once used (two copies would append to the same block).
type text struct {
	b     []byte
	block []byte // summaries handed out, then room for more
}

// summaryBlock is the size of the blocks summaries are handed out from.
const summaryBlock = 4096

func (t *text) reset() *text {
	t.b = t.b[:0]
	return t
}

// String returns the text built so far.
func (t *text) String() string {
	n := len(t.b)
	switch {
	case n == 0:
		return ""
	case n > summaryBlock/4:
		return string(t.b)
	case cap(t.block)-len(t.block) < n:
		t.block = make([]byte, 0, summaryBlock)
	}
	start := len(t.block)
	t.block = append(t.block, t.b...)
	return unsafe.String(&t.block[start], n)
}

func (t *text) str(s string) *text {
	t.b = append(t.b, s...)
	return t
}

func (t *text) fixed(v float64, prec int) *text { return t.float(v, 'f', prec, false) }

func (t *text) plusFixed(v float64, prec int) *text { return t.float(v, 'f', prec, true) }

func (t *text) general(v float64, prec int) *text { return t.float(v, 'g', prec, false) }

func (t *text) integer(n int) *text {
	t.b = strconv.AppendInt(t.b, int64(n), 10)
	return t
}

func (t *text) duration(d time.Duration) *text { return t.str(d.String()) }

// float writes v as fmt does: NaN as "NaN" ("+NaN" with plus), +Inf as
// "+Inf" whatever the flags, and a plus sign before non-negative numbers
// when asked.
func (t *text) float(v float64, verb byte, prec int, plus bool) *text {
	switch {
	case math.IsNaN(v):
		if plus {
			t.b = append(t.b, '+')
		}
		t.b = append(t.b, "NaN"...)
		return t
	case math.IsInf(v, 1):
		t.b = append(t.b, "+Inf"...)
		return t
	}
	if plus && !math.Signbit(v) {
		t.b = append(t.b, '+')
	}
	t.b = strconv.AppendFloat(t.b, v, verb, prec, 64)
	return t
}
