package engine

import (
	"context"
	"time"
)

// Clock tells the engine the time and lets it wait. The simulated cluster
// runs on a scaled clock so a newcomer sees hours of traffic in minutes.
type Clock interface {
	Now() time.Time
	// Sleep waits d of this clock's time, or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns the wall-clock time.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx ends.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

// ScaledClock runs Speed times faster than the wall clock, starting at
// Start when it is created.
type ScaledClock struct {
	start     time.Time
	realStart time.Time
	speed     float64
}

// NewScaledClock returns a clock that reads start now and advances speed
// seconds per wall-clock second.
func NewScaledClock(start time.Time, speed float64) *ScaledClock {
	if speed <= 0 {
		speed = 1
	}
	return &ScaledClock{start: start, realStart: time.Now(), speed: speed}
}

// Now returns the scaled time.
func (c *ScaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.realStart)) * c.speed))
}

// Sleep waits d of scaled time.
func (c *ScaledClock) Sleep(ctx context.Context, d time.Duration) error {
	return sleep(ctx, time.Duration(float64(d)/c.speed))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
