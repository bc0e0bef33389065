package budget

import (
	"context"
	"math"
	"strconv"
	"time"
)

// AIMD adapts the rate of a bucket whose real limit Microsoft does not
// publish (Partner Center's) to Microsoft's 429s: additive increase,
// multiplicative decrease, as TCP finds what a path carries. A 429 lowers
// the rate the bucket's calls are paced at to Keep of what it was, never
// under Floor of the bucket's configured rate; the rate then climbs back
// linearly, by the whole configured rate per Climb, for as long as no 429
// comes, and never above the configured rate. Only a 429 to a call paced
// at the rate now (or a higher one) lowers it: the calls a burst sent
// together meet their 429s after the first of them lowered the rate, and
// count once (Limiter.Throttled). A pause (Retry-After) still
// holds the bucket as before: the pause stops the calls that would meet
// more 429s now, the lowered rate the 429s that the next calls would meet
// once it ends.
//
// The bucket's Rate itself never changes: a lowered rate is paced by
// charging each call more (Limiter.Adapt: its cost times the configured
// rate over the lowered one). A pause (PauseTokens at the configured rate)
// therefore keeps its length, a charge given back returns what it took,
// and the burst a full bucket lets go shrinks with the rate.
//
// How far a bucket's rate is lowered is shared by every replica through
// the Store, in a bucket of its own (AIMDKey) that holds the shortfall
// under the configured rate as a debt: a 429 deepens it (Store.Lower,
// which never raises a bucket, so that of two replicas lowering at once
// the lower rate wins), and the Store's own refill pays it back at the
// configured rate per Climb, which is the additive increase. No column
// beyond a bucket's tokens and their time is needed.
//
// The rate climbs with time, not with each successful call: a call that
// is paced at the lowered rate and succeeds is exactly time going by
// without a 429, and counting successes would cost the store a write per
// call. A bucket left idle thus climbs back to its configured rate; its
// next burst may meet a 429 again, which lowers it again: a rate learned
// long ago is a stale guess of a limit Microsoft may have changed since.
// Reading the rate costs one Store.Charge of nothing per call and bucket
// (Limiter.Adapt).
type AIMD struct {
	// Keep is the share of its rate a bucket keeps after a 429 (0.5:
	// halved). Between 0 and 1.
	Keep float64
	// Floor is the lowest share of its configured rate a bucket is
	// lowered to (0.1: a tenth). Between 0 and 1.
	Floor float64
	// Climb is how long the rate takes to climb back by the whole
	// configured rate (a minute: from half of it to all of it in 30 s).
	Climb time.Duration
}

// AIMDKey is the key of the bucket that holds how far the rate of the
// bucket key is lowered.
func AIMDKey(key string) string { return "aimd/" + key }

// valid tells whether a adapts the bucket of c.
func (a AIMD) valid(c Charge) bool {
	return c.Rate.Valid() && a.Keep > 0 && a.Keep < 1 && a.Floor > 0 && a.Floor <= 1 && a.Climb > 0
}

// shortfallRate is the rate of the bucket that holds c's shortfall: it
// pays back the configured rate per Climb, and holds nothing above zero
// (no shortfall).
func (a AIMD) shortfallRate(c Charge) Rate {
	return Rate{PerSecond: c.Rate.PerSecond / a.Climb.Seconds(), Burst: 0}
}

// floor is the lowest rate of c's bucket, in calls per second.
func (a AIMD) floor(c Charge) float64 { return a.Floor * c.Rate.PerSecond }

// paced is the rate of c's bucket a shortfall leaves, between the floor
// and the configured rate.
func (a AIMD) paced(c Charge, shortfall float64) float64 {
	return min(c.Rate.PerSecond, max(a.floor(c), c.Rate.PerSecond-shortfall))
}

// pacedNow reads the rate c's bucket is paced at now: the shortfall
// bucket's debt (charged nothing, it is only refilled to now) is its wait
// times its rate.
func (l *Limiter) pacedNow(ctx context.Context, a AIMD, c Charge) (float64, error) {
	r := a.shortfallRate(c)
	wait, err := l.Store.Charge(ctx, AIMDKey(c.Key), r, 0)
	if err != nil {
		return 0, err
	}
	return a.paced(c, wait.Seconds()*r.PerSecond), nil
}

// Adapt returns c as a call is charged at its bucket's adapted rate: when
// Microsoft's 429s lowered the rate, Cost multiplied by the configured
// rate over the lowered one, and Paced set to the lowered rate (Throttled
// reads it). c is returned unchanged when its rate is not lowered, when a
// does not adapt it (zero AIMD, zero rate), and when the store fails (the
// call is then paced at the configured rate; Take reports the failure).
func (l *Limiter) Adapt(ctx context.Context, a AIMD, c Charge) Charge {
	if l == nil || l.Store == nil || !a.valid(c) {
		return c
	}
	paced, err := l.pacedNow(ctx, a, c)
	if err != nil || paced >= c.Rate.PerSecond {
		return c
	}
	c.Cost *= c.Rate.PerSecond / paced
	c.Paced = paced
	return c
}

// Throttled lowers the rate of c's bucket after Microsoft answered 429 to
// a call charged as c (as Adapt returned it): to Keep of the rate it is
// paced at now, not under the floor. A 429 to a call sent at a rate
// higher than now's says nothing new: its bucket was lowered after the
// call was charged (the calls a burst sent meet their 429s after the first
// of them lowered it), so a burst of 429s lowers the rate once, and a 429
// lowers it again only when a call paced at the lowered rate meets it.
// Reports whether the rate was lowered. A store that fails is logged: the
// rate stays, Microsoft's 429s and their pauses still apply.
func (l *Limiter) Throttled(ctx context.Context, a AIMD, c Charge) bool {
	if l == nil || l.Store == nil || !a.valid(c) {
		return false
	}
	to, lower, err := l.lowerTo(ctx, a, c)
	if err == nil && lower {
		err = l.Store.Lower(ctx, AIMDKey(c.Key), a.shortfallRate(c), -(c.Rate.PerSecond - to))
		if err == nil {
			instruments().slowed.Add(ctx, 1, kindOf(c.Key))
			if l.Log != nil {
				l.Log.Info("rate budget slowed: Microsoft answered 429", "budget", c.Key, "rate", perSecond(to), "configured", perSecond(c.Rate.PerSecond))
			}
			return true
		}
	}
	if err != nil && l.Log != nil {
		l.Log.Warn("rate budget: a 429 could not slow the budget", "budget", c.Key, "error", err)
	}
	return false
}

// lowerTo is the rate a 429 to a call charged as c lowers its bucket to
// (Keep of the rate now, not under the floor), and whether it lowers it:
// not when the call was sent at a higher rate than now's, nor at the
// floor.
func (l *Limiter) lowerTo(ctx context.Context, a AIMD, c Charge) (to float64, lower bool, err error) {
	now, err := l.pacedNow(ctx, a, c)
	if err != nil {
		return 0, false, err
	}
	sent := c.Rate.PerSecond
	if c.Paced > 0 {
		sent = c.Paced
	}
	to = max(a.floor(c), a.Keep*now)
	return to, now >= sent*(1-1e-9) && to < now, nil
}

// perSecond writes a rate for the log ("2.5/s").
func perSecond(r float64) string {
	return strconv.FormatFloat(math.Round(r*100)/100, 'f', -1, 64) + "/s"
}
