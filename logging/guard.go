package logging

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/redact"
)

// DefaultRepeatInterval is how long a log line, once written, silences
// the lines identical to it; their number is written when it ends.
const DefaultRepeatInterval = 10 * time.Second

// maxTracked bounds the lines remembered for the repeat count: beyond it
// the oldest interval's memory is dropped (those lines may then be written
// once more).
const maxTracked = 4096

// guard masks secrets in every value logged (redact.Text) and writes a
// line identical to one written less than interval ago only as a count:
// "msg=... repeated=8899 over=45s" when the interval ends. Lines are
// identical when every key and value but ts and caller are.
type guard struct {
	next     log.Logger
	interval time.Duration
	now      func() time.Time
	after    func(time.Duration, func())

	mu   sync.Mutex
	seen map[string]*repeat
}

type repeat struct {
	first   time.Time
	count   int // lines silenced since first
	keyvals []any
}

func newGuard(next log.Logger, interval time.Duration) *guard {
	return &guard{next: next, interval: interval, now: time.Now,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }, seen: map[string]*repeat{}}
}

// Log masks keyvals and writes or counts the line.
func (g *guard) Log(keyvals ...any) error {
	masked := make([]any, len(keyvals))
	var key strings.Builder
	for i, v := range keyvals {
		masked[i] = maskValue(v)
		if i%2 == 1 {
			if k := fmt.Sprint(keyvals[i-1]); k == "ts" || k == "caller" {
				continue
			}
			fmt.Fprintf(&key, "%v=%v\x00", keyvals[i-1], masked[i])
		}
	}
	if g.interval <= 0 {
		return g.next.Log(masked...)
	}
	k := key.String()
	g.mu.Lock()
	if r, ok := g.seen[k]; ok {
		r.count++
		g.mu.Unlock()
		return nil
	}
	if len(g.seen) >= maxTracked {
		clear(g.seen)
	}
	g.seen[k] = &repeat{first: g.now(), keyvals: masked}
	g.mu.Unlock()
	g.after(g.interval, func() { g.flush(k) })
	return g.next.Log(masked...)
}

// flush ends the interval of line k, writing how often it was silenced.
func (g *guard) flush(k string) {
	g.mu.Lock()
	r, ok := g.seen[k]
	if ok {
		delete(g.seen, k)
	}
	g.mu.Unlock()
	if !ok || r.count == 0 {
		return
	}
	out := make([]any, 0, len(r.keyvals)+4)
	for i := 0; i+1 < len(r.keyvals); i += 2 {
		if k := fmt.Sprint(r.keyvals[i]); k == "ts" || k == "caller" {
			continue
		}
		out = append(out, r.keyvals[i], r.keyvals[i+1])
	}
	out = append(out, "repeated", r.count, "over", g.now().Sub(r.first).Round(time.Second).String())
	_ = g.next.Log(out...)
}

// maskValue masks the secrets in a logged value that holds text.
func maskValue(v any) any {
	switch x := v.(type) {
	case string:
		return redact.Text(x)
	case error:
		return redact.Text(x.Error())
	case fmt.Stringer:
		return redact.Text(x.String())
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = redact.Text(s)
		}
		return out
	}
	return v
}
