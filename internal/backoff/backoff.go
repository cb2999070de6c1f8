// Package backoff paces the retries of whatever talks to a server that may
// be down: a wait that starts at a first value, doubles after each failure
// up to a limit, and is jittered so that replicas and queues do not retry
// in step. The engine, the Alertmanager and events notifiers, the Goldmane
// stream and the Elasticsearch client all wait by it.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait before the next retry of one run of failures. It is
// not safe for concurrent use: each retry loop holds its own.
type Backoff struct {
	first, limit time.Duration
	failures     int
}

// New returns a Backoff whose first wait is drawn around first and that
// doubles up to limit.
func New(first, limit time.Duration) *Backoff {
	return &Backoff{first: first, limit: limit}
}

// Bounds fills in the bounds of a retry schedule from a component's
// defaults: a first wait that is not positive becomes defaultFirst, and a
// limit below the first wait becomes defaultLimit, or the first wait if
// that is longer.
func Bounds(first, limit, defaultFirst, defaultLimit time.Duration) (time.Duration, time.Duration) {
	if first <= 0 {
		first = defaultFirst
	}
	if limit < first {
		limit = max(defaultLimit, first)
	}
	return first, limit
}

// Next counts one more failure and returns the wait before retrying:
// Wait(first, limit, failures).
func (b *Backoff) Next() time.Duration {
	b.failures++
	return Wait(b.first, b.limit, b.failures)
}

// Reset starts again from the first wait, after a success.
func (b *Backoff) Reset() { b.failures = 0 }

// Current is the unjittered wait the next failure's wait is drawn around.
func (b *Backoff) Current() time.Duration { return Step(b.first, b.limit, b.failures+1) }

// Step is the unjittered wait before retry number attempt (1 for the
// first): first, then doubled for each later attempt, never above limit.
func Step(first, limit time.Duration, attempt int) time.Duration {
	d := first
	for i := 1; i < attempt && d < limit; i++ {
		d = min(d*2, limit)
	}
	if attempt > 1 && d > limit {
		d = limit // a first wait above the limit is kept once, then capped
	}
	return d
}

// Wait is the jittered wait before retry number attempt (1 for the first):
// Jitter(Step(first, limit, attempt)).
func Wait(first, limit time.Duration, attempt int) time.Duration {
	return Jitter(Step(first, limit, attempt))
}

// Jitter returns a wait drawn uniformly from [d/2, d].
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + time.Duration(rand.Int64N(int64(d)/2+1))
}
