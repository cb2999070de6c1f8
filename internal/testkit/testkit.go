// Package testkit holds what the tests of many packages share: waiting
// for a condition, a log buffer safe for concurrent writes, a free
// loopback port, and the detection-quality harness that scores a
// detector's verdicts against a simulated cluster's ground truth
// (precision, recall, false alerts per 100 workloads per day).
//
// It is for tests only. It imports simulate (for its ground-truth labels),
// so the tests of simulate and of the packages simulate imports (source,
// calicolog) cannot use it.
package testkit

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// maxPoll is the longest pause between two checks of a condition: the
// pause starts at a millisecond, so a condition met at once is seen at
// once, and doubles up to this, so a condition that takes a real server
// seconds costs a few checks a second.
const maxPoll = 100 * time.Millisecond

// WaitFor checks cond until it holds and fails the test once timeout has
// passed without it, naming what it waited for.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	WaitForState(t, timeout, what, func() (bool, string) { return cond(), "" })
}

// WaitForState is WaitFor for a condition that also describes the state
// it saw: the last description is in the failure.
func WaitForState(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if state != "" {
				t.Fatalf("%s: not within %s; last: %s", what, timeout, state)
			}
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(pause)
		pause = min(2*pause, maxPoll)
	}
}

// SyncBuffer is a bytes.Buffer that goroutines may write and read at the
// same time: a logger's output that a test reads while the code under
// test still logs.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreePort returns a loopback TCP port that nothing listened on a moment
// ago, for a server the test starts.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as a host:port address on 127.0.0.1: a server the
// test starts listens there, or, left alone, an address where nothing
// answers.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}
