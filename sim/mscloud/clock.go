package mscloud

import (
	"errors"
	"sync"
	"time"
)

// Clock is the simulator's notion of time. It runs at the speed of the wall
// clock from a configurable start and can be moved forward (never back) by
// the admin API, so tests can expire tokens, refresh token buckets or, later,
// step over cancellation windows without sleeping.
type Clock struct {
	mu        sync.Mutex
	start     time.Time // simulated time at realStart
	realStart time.Time // carries a monotonic reading
	offset    time.Duration
}

// NewClock returns a clock that reads start now and then ticks with the wall
// clock. A zero start means the current time.
func NewClock(start time.Time) *Clock {
	now := time.Now()
	if start.IsZero() {
		start = now
	}
	return &Clock{start: start.UTC(), realStart: now}
}

// Now returns the simulated time in UTC.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start.Add(time.Since(c.realStart) + c.offset).UTC()
}

// Advance moves the clock forward by d. Negative durations are refused.
func (c *Clock) Advance(d time.Duration) error {
	if d < 0 {
		return errors.New("the simulated clock only moves forward")
	}
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
	return nil
}
