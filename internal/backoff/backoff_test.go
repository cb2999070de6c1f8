package backoff

import (
	"testing"
	"time"
)

func TestStep(t *testing.T) {
	for _, tc := range []struct {
		name         string
		first, limit time.Duration
		attempt      int
		want         time.Duration
	}{
		{"the first retry waits the first wait", time.Second, time.Minute, 1, time.Second},
		{"the second retry waits twice as long", time.Second, time.Minute, 2, 2 * time.Second},
		{"the fifth retry waits sixteen times as long", time.Second, time.Minute, 5, 16 * time.Second},
		{"a late retry waits the limit", time.Second, time.Minute, 7, time.Minute},
		{"a very late retry still waits the limit", time.Second, time.Minute, 100000, time.Minute},
		{"a limit that is not a doubling of the first is reached exactly", 100 * time.Millisecond, 250 * time.Millisecond, 3, 250 * time.Millisecond},
		{"a first wait above the limit is waited once", 2 * time.Minute, time.Minute, 1, 2 * time.Minute},
		{"then the limit holds", 2 * time.Minute, time.Minute, 2, time.Minute},
		{"the client's schedule doubles six times at most", 100 * time.Millisecond, 100 * time.Millisecond << 6, 9, 6400 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Step(tc.first, tc.limit, tc.attempt); got != tc.want {
				t.Errorf("Step(%v, %v, %d) = %v, want %v", tc.first, tc.limit, tc.attempt, got, tc.want)
			}
		})
	}
}

func TestJitterStaysWithinHalfAndWhole(t *testing.T) {
	d := 10 * time.Second
	lowHalf, highHalf := false, false
	for range 2000 {
		w := Jitter(d)
		if w < d/2 || w > d {
			t.Fatalf("Jitter(%v) = %v, want within [%v, %v]", d, w, d/2, d)
		}
		if w < 3*d/4 {
			lowHalf = true
		} else {
			highHalf = true
		}
	}
	if !lowHalf || !highHalf {
		t.Errorf("2000 draws all fell in one half of [d/2, d] (low %v, high %v): not jittered", lowHalf, highHalf)
	}
	if got := Jitter(0); got != 0 {
		t.Errorf("Jitter(0) = %v, want 0", got)
	}
}

func TestBackoffDoublesAndResets(t *testing.T) {
	b := New(time.Second, 8*time.Second)
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		if cur := b.Current(); cur != want {
			t.Fatalf("before failure %d: Current() = %v, want %v", i+1, cur, want)
		}
		if w := b.Next(); w < want/2 || w > want {
			t.Fatalf("failure %d: Next() = %v, want within [%v, %v]", i+1, w, want/2, want)
		}
	}
	b.Reset()
	if cur := b.Current(); cur != time.Second {
		t.Errorf("after Reset: Current() = %v, want 1s", cur)
	}
}

func TestBounds(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		first, limit         time.Duration
		wantFirst, wantLimit time.Duration
	}{
		{"nothing set takes the defaults", 0, 0, time.Second, time.Minute},
		{"both set are kept", 2 * time.Second, 10 * time.Second, 2 * time.Second, 10 * time.Second},
		{"a first wait alone gets the default limit", 5 * time.Second, 0, 5 * time.Second, time.Minute},
		{"a first wait above the default limit becomes the limit too", 2 * time.Minute, 0, 2 * time.Minute, 2 * time.Minute},
		{"a limit below the first wait is raised", 10 * time.Second, 5 * time.Second, 10 * time.Second, time.Minute},
		{"a negative first wait takes the default", -time.Second, 30 * time.Second, time.Second, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, limit := Bounds(tc.first, tc.limit, time.Second, time.Minute)
			if first != tc.wantFirst || limit != tc.wantLimit {
				t.Errorf("Bounds(%v, %v) = %v, %v; want %v, %v", tc.first, tc.limit, first, limit, tc.wantFirst, tc.wantLimit)
			}
		})
	}
}
