// Package budget paces the calls a service makes to Microsoft so that they
// stay inside Microsoft's rate limits. A budget is a token bucket named by
// a key (for example Graph writes of one application in one customer
// tenant): it holds up to Burst tokens, refills at PerSecond, and each call
// is charged its cost. A charge never fails for lack of tokens: the bucket
// goes into debt and the caller waits until the debt is paid back, so that
// callers queue in the order they were charged.
//
// Where the buckets live is a Store: Local keeps them in the process (one
// replica, tests); sqldb.DB keeps them in the service's database, so that
// every replica of a service draws on the same budget instead of each on a
// budget of its own.
package budget

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Rate is a bucket's refill rate and size.
type Rate struct {
	PerSecond float64
	Burst     float64
}

// Valid tells whether the rate paces anything (a zero rate means no limit).
func (r Rate) Valid() bool { return r.PerSecond > 0 }

// Store charges buckets.
type Store interface {
	// Charge takes cost tokens from the bucket key (created full at its
	// first charge) and returns how long the caller must wait before its
	// call: zero when tokens were left, otherwise until the bucket's debt,
	// this charge included, is refilled.
	Charge(ctx context.Context, key string, r Rate, cost float64) (time.Duration, error)
}

// Refill is the arithmetic every Store applies: the tokens a bucket holds
// at now, given those it held at then, capped at the burst, minus cost;
// and the wait that follows from it.
func Refill(tokens float64, then, now time.Time, r Rate, cost float64) (left float64, wait time.Duration) {
	if elapsed := now.Sub(then); elapsed > 0 {
		tokens += elapsed.Seconds() * r.PerSecond
	}
	left = math.Min(tokens, r.Burst) - cost
	return left, Wait(left, r)
}

// Wait is how long a bucket with tokens left (negative: a debt) takes to be
// back at zero.
func Wait(left float64, r Rate) time.Duration {
	if left >= 0 || r.PerSecond <= 0 {
		return 0
	}
	return time.Duration(-left / r.PerSecond * float64(time.Second))
}

// Local is a Store in the process's memory.
type Local struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	// Now is the clock (time.Now by default).
	Now func() time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// Charge implements Store.
func (l *Local) Charge(_ context.Context, key string, r Rate, cost float64) (time.Duration, error) {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: r.Burst, at: now}
		l.buckets[key] = b
	}
	left, wait := Refill(b.tokens, b.at, now, r, cost)
	b.tokens = left
	if now.After(b.at) {
		b.at = now
	}
	return wait, nil
}

// Limiter waits for budgets of a Store.
type Limiter struct {
	Store Store
	// Log receives a warning when the store cannot be charged (the call
	// then goes unpaced: Microsoft's own throttling still applies).
	Log *slog.Logger
}

// Wait charges cost to the bucket key and sleeps for as long as the store
// says, or until ctx ends. Each charge is counted in budget_charges_total and
// its wait in budget_wait_seconds, by the key's BucketKind.
func (l *Limiter) Wait(ctx context.Context, key string, r Rate, cost float64) error {
	if l == nil || l.Store == nil || !r.Valid() {
		return nil
	}
	d, err := l.Store.Charge(ctx, key, r, cost)
	m, bucket := instruments(), metric.WithAttributes(attribute.String("bucket", BucketKind(key)))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.charges.Add(ctx, 1, bucket, metric.WithAttributes(attribute.String("outcome", chargeUnpaced)))
		if l.Log != nil {
			l.Log.Warn("rate budget unavailable; the call goes unpaced", "budget", key, "error", err)
		}
		return nil
	}
	m.waits.Record(ctx, max(d, 0).Seconds(), bucket)
	if d <= 0 {
		m.charges.Add(ctx, 1, bucket, metric.WithAttributes(attribute.String("outcome", chargeImmediate)))
		return nil
	}
	m.charges.Add(ctx, 1, bucket, metric.WithAttributes(attribute.String("outcome", chargeWaited)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Policy is an azcore pipeline policy that paces every attempt (retries
// included) of a client: Bucket names the budget of a request and its rate;
// ok false lets the request go unpaced.
type Policy struct {
	Limiter *Limiter
	Bucket  func(req *http.Request) (key string, r Rate, ok bool)
}

// Do implements policy.Policy.
func (p Policy) Do(req *policy.Request) (*http.Response, error) {
	if key, r, ok := p.Bucket(req.Raw()); ok {
		if err := p.Limiter.Wait(req.Raw().Context(), key, r, 1); err != nil {
			return nil, err
		}
	}
	return req.Next()
}
