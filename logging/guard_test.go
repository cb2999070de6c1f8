package logging

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// TestRepeatedLinesAreCounted is the log flood of 1,000 alerts into a
// queue of 100: the identical "queue full" lines become one line and,
// when the interval ends, one count.
func TestRepeatedLinesAreCounted(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var pending []func()
	g := newGuard(log.NewLogfmtLogger(&buf), 10*time.Second)
	g.now = func() time.Time { return clock }
	g.after = func(_ time.Duration, f func()) { pending = append(pending, f) }
	l := log.With(g, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller)
	for range 900 {
		level.Warn(l).Log("msg", "alert queue full, oldest dropped", "alertmanager", "http://am:9093")
	}
	level.Warn(l).Log("msg", "another line")
	clock = clock.Add(45 * time.Second)
	for _, f := range pending {
		f()
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines (the first, the other, the count), got %d:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[2], "repeated=899") || !strings.Contains(lines[2], "over=45s") || !strings.Contains(lines[2], "queue full") {
		t.Errorf("count line %q lacks repeated=899 over=45s and the message", lines[2])
	}
	// Once the interval ended, the line is written again.
	level.Warn(l).Log("msg", "alert queue full, oldest dropped", "alertmanager", "http://am:9093")
	if n := strings.Count(buf.String(), "\n"); n != 4 {
		t.Errorf("after the interval the line was not written again: %d lines", n)
	}
}

func TestSecretsAreMaskedInEveryValue(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Config{Level: "info", Format: "logfmt", RepeatInterval: time.Second}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	level.Error(l).Log("msg", "search failed", "url", "http://elastic:PLANTED@es:9200", "err", errString("Get \"http://elastic:PLANTED@es:9200/_search\": EOF"))
	if strings.Contains(buf.String(), "PLANTED") {
		t.Errorf("secret logged: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "elastic:<secret>@es:9200") {
		t.Errorf("masked URL missing: %s", buf.String())
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestRepeatIntervalRange(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 2 * time.Hour} {
		if _, err := New(Config{RepeatInterval: d}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--log.repeat-interval") {
			t.Errorf("interval %s: want an error naming --log.repeat-interval, got %v", d, err)
		}
	}
}

// FuzzGuardCountsEveryLine: whatever lines arrive, the lines written plus
// the repeats they report add up to the lines logged.
func FuzzGuardCountsEveryLine(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 2, 2})
	f.Fuzz(func(t *testing.T, msgs []byte) {
		var lines []map[string]any
		var pending []func()
		g := newGuard(recorder(func(kv ...any) {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			lines = append(lines, m)
		}), time.Minute)
		g.after = func(_ time.Duration, fn func()) { pending = append(pending, fn) }
		for _, b := range msgs {
			g.Log("msg", string(rune('a'+b%4)))
		}
		for _, fn := range pending {
			fn()
		}
		total := 0
		for _, l := range lines {
			if n, ok := l["repeated"].(int); ok {
				total += n
			} else {
				total++
			}
		}
		if total != len(msgs) {
			t.Fatalf("%d lines accounted for, %d logged", total, len(msgs))
		}
	})
}

type recorder func(kv ...any)

func (r recorder) Log(kv ...any) error { r(kv...); return nil }
