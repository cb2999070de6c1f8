package main

import (
	"errors"
	"fmt"
	"math"
	"path"
	"strings"
	"time"
)

// Bounds of the numeric flags, in one table: a value outside is refused at
// start naming the flag, never silently replaced by a default.
const (
	day            = 24 * time.Hour
	maxQueue       = 1_000_000
	maxSeriesBound = 10_000_000
)

// flagRange is one numeric flag's bounds.
type flagRange struct {
	name  string
	check func() error
}

func durationIn(name string, v *time.Duration, lo, hi time.Duration) flagRange {
	return flagRange{name, func() error {
		if *v < lo || *v > hi {
			return fmt.Errorf("--%s=%s: want a duration from %s to %s", name, *v, lo, hi)
		}
		return nil
	}}
}

func intIn(name string, v *int, lo, hi int) flagRange {
	return flagRange{name, func() error {
		if *v < lo || *v > hi {
			return fmt.Errorf("--%s=%d: want a whole number from %d to %d", name, *v, lo, hi)
		}
		return nil
	}}
}

func floatIn(name string, v *float64, lo, hi float64, lowOpen bool) flagRange {
	return flagRange{name, func() error {
		if math.IsNaN(*v) || *v > hi || *v < lo || (lowOpen && *v == lo) {
			open := "from"
			if lowOpen {
				open = "above"
			}
			return fmt.Errorf("--%s=%v: want a number %s %v to %v", name, *v, open, lo, hi)
		}
		return nil
	}}
}

func bytesIn(name string, v *int64, lo, hi int64) flagRange {
	return flagRange{name, func() error {
		if *v < lo || *v > hi {
			return fmt.Errorf("--%s=%d: want a size from %d to %d bytes", name, *v, lo, hi)
		}
		return nil
	}}
}

// checkRanges refuses every numeric flag outside its bounds, naming each.
func checkRanges(ranges []flagRange) error {
	var errs []error
	for _, r := range ranges {
		if err := r.check(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// flagRanges are the bounds of the exporter's numeric flags.
func flagRanges(src *sourceFlags, sched *scheduleFlags, mem *memLimitFlags, alerts *notifyFlags) []flagRange {
	maxAnswer, maxRecord, maxFile := int64(src.esMaxAnswer), int64(src.fileMaxRec), int64(src.fileMaxSize)
	return []flagRange{
		durationIn("source.lag", &sched.lag, 0, day),
		durationIn("source.catch-up", &sched.catchUp, 0, 90*day),
		durationIn("train.lookback", &sched.lookback, 0, 90*day),
		floatIn("auto-gomemlimit.ratio", &mem.ratio, 0, 1, true),
		floatIn("alert.min-score", &alerts.minScore, 0, 1, false),
		intIn("alertmanager.queue-capacity", &alerts.amQueue, 1, maxQueue),
		intIn("events.queue-capacity", &alerts.eventsQueue, 1, maxQueue),
		durationIn("alertmanager.timeout", &alerts.amTimeout, time.Millisecond, 10*time.Minute),
		durationIn("alertmanager.resend-interval", &alerts.amResend, time.Second, day),
		durationIn("es.timeout", &src.esTimeout, time.Millisecond, time.Hour),
		intIn("es.page-size", &src.esPageSize, 1, 1_000_000),
		bytesIn("es.max-response-size", &maxAnswer, 1<<20, 16<<30),
		intIn("source.concurrency", &src.concurrency, 1, 256),
		intIn("shard.total", &src.shardTotal, 0, 4096),
		floatIn("simulate.speed", &src.simSpeed, 0, 1e6, true),
		durationIn("simulate.attack-every", &src.simAttackGap, time.Minute, 30*day),
		bytesIn("file.max-record-size", &maxRecord, 1<<10, 1<<30),
		bytesIn("file.max-size", &maxFile, 1<<20, 1<<50),
		durationIn("file.max-age", &src.fileMaxAge, time.Hour, 100*365*day),
		durationIn("file.max-clock-skew", &src.fileMaxSkew, 0, 30*day),
		intIn("model.max-entities-per-detector", &sched.entities, 0, maxSeriesBound),
	}
}

// reservedPaths are served by the exporter itself: the metrics path may
// be none of them.
var reservedPaths = []string{"/", "/config", "/-/reload", "/anomaly", "/debug/pprof/"}

// checkTelemetryPath refuses a --web.telemetry-path that is empty, not a
// path, or one of the exporter's own pages.
func checkTelemetryPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("--web.telemetry-path=%q: want a path starting with / (such as /metrics)", p)
	}
	if i := strings.IndexFunc(p, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-._~", r))
	}); i >= 0 {
		return fmt.Errorf("--web.telemetry-path=%q: %q has no place in it (letters, digits and /-._~ only)", p, p[i:i+1])
	}
	if clean := path.Clean(p); p != clean && p != clean+"/" {
		return fmt.Errorf("--web.telemetry-path=%q: want a clean path, such as %s", p, clean)
	}
	for _, r := range reservedPaths {
		if p == r || (strings.HasSuffix(r, "/") && r != "/" && strings.HasPrefix(p, r)) {
			return fmt.Errorf("--web.telemetry-path=%q: %s is the exporter's own page; choose another path (such as /metrics)", p, r)
		}
	}
	return nil
}
