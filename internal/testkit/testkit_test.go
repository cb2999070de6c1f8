package testkit

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalRecorder) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

// run calls fn with a fatalRecorder in its own goroutine and returns the
// failure message, "" when fn returned.
func run(fn func(t testing.TB)) string {
	f := &fatalRecorder{}
	done := make(chan struct{})
	go func() { defer close(done); fn(f) }()
	<-done
	return f.msg
}

func TestWaitFor(t *testing.T) {
	tests := []struct {
		name    string
		trueAt  int // the check at which the condition first holds; 0: never
		state   string
		wantMsg string
	}{
		{"holds at once", 1, "", ""},
		{"holds on the fifth check", 5, "", ""},
		{"never holds", 0, "", "the thing: not within 50ms"},
		{"never holds, with its state", 0, "3 of 4 alerts", "the thing: not within 50ms; last: 3 of 4 alerts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks := 0
			msg := run(func(tb testing.TB) {
				WaitForState(tb, 50*time.Millisecond, "the thing", func() (bool, string) {
					checks++
					return tt.trueAt > 0 && checks >= tt.trueAt, tt.state
				})
			})
			if msg != tt.wantMsg {
				t.Errorf("failure %q, want %q", msg, tt.wantMsg)
			}
			if tt.trueAt > 0 && checks != tt.trueAt {
				t.Errorf("checked %d times, want %d", checks, tt.trueAt)
			}
			if tt.trueAt == 0 && checks < 2 {
				t.Errorf("checked %d times before giving up, want several", checks)
			}
		})
	}
	if msg := run(func(tb testing.TB) { WaitFor(tb, 10*time.Millisecond, "never", func() bool { return false }) }); msg != "never: not within 10ms" {
		t.Errorf("WaitFor failure %q", msg)
	}
}

func TestSyncBufferKeepsEveryConcurrentWrite(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				fmt.Fprintf(&b, "line %d\n", j)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
}

func TestFreeAddrCanBeListenedOn(t *testing.T) {
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr() = %q, want a loopback address", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	l.Close()
	if p := FreePort(t); p <= 0 || p > 65535 {
		t.Errorf("FreePort() = %d", p)
	}
}
