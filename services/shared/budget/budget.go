// Package budget paces the calls a service makes to Microsoft so that they
// stay inside Microsoft's rate limits, and follows what Microsoft says
// about them. A budget is a token bucket named by a key (for example Graph
// writes of one application in one customer tenant): it holds up to Burst
// tokens, refills at PerSecond, and each call is charged its cost. A bucket
// sized to one of Microsoft's windows (PerWindow: Graph's 3,000 writes per
// 150 s is a bucket of 3,000 refilled at 20/s) lets a burst that fits the
// window go at full speed and paces only what would exceed it. A charge
// never fails for lack of tokens: the bucket goes into debt and the caller
// waits until the debt is paid back, so that callers queue in the order
// they were charged.
//
// Microsoft's answers move the buckets (Signal, Limiter.Apply): a
// Retry-After pauses a bucket until then (its tokens become a debt that the
// refill pays back at that moment, so every caller of every replica waits
// for it), a share of a budget Microsoft reports used lowers the bucket to
// what is left, and a cost known only from the answer (Graph's resource
// units) is settled after the call. A bucket whose limit Microsoft does not
// publish can also adapt its rate to the 429s (AIMD: lowered by each, it
// climbs back while none comes).
//
// Where the buckets live is a Store: Local keeps them in the process (one
// replica, tests); sqldb.Budget keeps them in the service's database, so
// that every replica of a service draws on the same budget instead of each
// on a budget of its own.
package budget

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
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

// PerWindow is the bucket of a limit of n calls per window: it holds the
// whole window's n and refills at n per window.
func PerWindow(n float64, window time.Duration) Rate {
	if n <= 0 || window <= 0 {
		return Rate{}
	}
	return Rate{PerSecond: n / window.Seconds(), Burst: n}
}

// Valid tells whether the rate paces anything (a zero rate means no limit).
func (r Rate) Valid() bool { return r.PerSecond > 0 }

func (r Rate) String() string {
	return strconv.FormatFloat(r.Burst, 'f', -1, 64) + " at " + strconv.FormatFloat(r.PerSecond, 'f', -1, 64) + "/s"
}

// Store charges buckets.
type Store interface {
	// Charge takes cost tokens from the bucket key (created full at its
	// first charge) and returns how long the caller must wait before its
	// call: zero when tokens were left, otherwise until the bucket's debt,
	// this charge included, is refilled. A negative cost gives tokens back.
	Charge(ctx context.Context, key string, r Rate, cost float64) (time.Duration, error)
	// Lower brings the bucket key (refilled to now; created full) down to
	// at most tokens. A negative tokens is a debt: every charge waits until
	// it is refilled, -tokens/r.PerSecond from now. A bucket already lower
	// stays as it is.
	Lower(ctx context.Context, key string, r Rate, tokens float64) error
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

// PauseTokens is the debt that keeps a bucket of rate r empty for d: what
// Lower is given to pause it.
func PauseTokens(d time.Duration, r Rate) float64 {
	if d <= 0 || r.PerSecond <= 0 {
		return 0
	}
	return -d.Seconds() * r.PerSecond
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

// at returns the bucket key refilled to now, created full. Caller holds mu.
func (l *Local) at(key string, r Rate) (*bucket, time.Time) {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: r.Burst, at: now}
		l.buckets[key] = b
	}
	return b, now
}

// Charge implements Store.
func (l *Local) Charge(_ context.Context, key string, r Rate, cost float64) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, now := l.at(key, r)
	left, wait := Refill(b.tokens, b.at, now, r, cost)
	b.tokens = left
	if now.After(b.at) {
		b.at = now
	}
	return wait, nil
}

// Lower implements Store.
func (l *Local) Lower(_ context.Context, key string, r Rate, tokens float64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, now := l.at(key, r)
	left, _ := Refill(b.tokens, b.at, now, r, 0)
	b.tokens = math.Min(left, tokens)
	if now.After(b.at) {
		b.at = now
	}
	return nil
}

// ForgetAfter is how long a bucket is left alone before a Pruner may
// forget it: far longer than any bucket takes to refill (Microsoft's
// windows are minutes long, a pause at most MaxPause), so that a bucket
// forgotten is a full one and its next charge, which creates it full,
// changes nothing.
const ForgetAfter = 24 * time.Hour

// Pruner is a Store that forgets the buckets nobody charged or lowered
// since idleBefore, and never one used within ForgetAfter of now (an
// earlier idleBefore wins). Without it a store keeps a bucket for every
// key ever charged, those of customers long gone among them. Returns how
// many it forgot.
type Pruner interface {
	Prune(ctx context.Context, idleBefore time.Time) (int, error)
}

// PrunableStore is a Store that forgets idle buckets.
type PrunableStore interface {
	Store
	Pruner
}

// PruneBefore is the cut-off a Pruner applies at now: idleBefore, but not
// later than ForgetAfter before now.
func PruneBefore(idleBefore, now time.Time) time.Time {
	if latest := now.Add(-ForgetAfter); idleBefore.After(latest) {
		return latest
	}
	return idleBefore
}

var _ Pruner = (*Local)(nil)

// Prune implements Pruner.
func (l *Local) Prune(_ context.Context, idleBefore time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	before := PruneBefore(idleBefore, now)
	n := 0
	for key, b := range l.buckets {
		if b.at.Before(before) {
			delete(l.buckets, key)
			n++
		}
	}
	return n, nil
}

// Charge is what one call takes from one bucket.
type Charge struct {
	Key  string
	Rate Rate
	Cost float64
	// Paced is the rate the call was paced at when Microsoft's 429s had
	// lowered its bucket's (Limiter.Adapt; Cost then includes the
	// slowdown); 0: Rate.PerSecond.
	Paced float64
}

// SignalKind is what an answer of Microsoft asks of a bucket.
type SignalKind int

// Signal kinds.
const (
	// Pause: Retry-After; the bucket is empty until For has passed.
	Pause SignalKind = iota + 1
	// Lower: Microsoft reports a share of its budget used; the bucket
	// keeps at most Left tokens.
	Lower
	// Settle: the call cost Cost more (or less, negative) than charged.
	Settle
)

// Signal is one thing Microsoft's answer says about a bucket.
type Signal struct {
	Kind   SignalKind
	Bucket Charge // the bucket (Key, Rate); Cost is unused
	For    time.Duration
	Left   float64
	Cost   float64
}

func (s Signal) String() string {
	switch s.Kind {
	case Pause:
		return "pause " + s.Bucket.Key + " for " + s.For.String()
	case Lower:
		return "lower " + s.Bucket.Key + " to " + strconv.FormatFloat(s.Left, 'f', -1, 64)
	case Settle:
		return "settle " + s.Bucket.Key + " by " + strconv.FormatFloat(s.Cost, 'f', -1, 64)
	}
	return "signal " + strconv.Itoa(int(s.Kind))
}

// LeftOf is the tokens a bucket of rate r keeps when Microsoft reports the
// share used (0 to 1) of the budget the bucket stands for.
func LeftOf(used float64, r Rate) float64 {
	return math.Max(0, 1-used) * r.Burst
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
	_, err := l.Take(ctx, 0, Charge{Key: key, Rate: r, Cost: cost})
	return err
}

// Take charges every bucket of a call and sleeps until the last of them
// lets it go, or until ctx ends (the charges are then given back: the call
// is not made). When that wait would be longer than maxWait (> 0), nothing
// is kept and Take returns the wait at once (deferred > 0): the caller
// answers as Microsoft would (throttled, retry after it) instead of
// holding its worker.
func (l *Limiter) Take(ctx context.Context, maxWait time.Duration, charges ...Charge) (deferred time.Duration, err error) {
	if l == nil || l.Store == nil {
		return 0, nil
	}
	m := instruments()
	var taken []Charge
	var wait time.Duration
	waits := make([]time.Duration, len(charges))
	for i, c := range charges {
		if !c.Rate.Valid() {
			continue
		}
		d, err := l.Store.Charge(ctx, c.Key, c.Rate, c.Cost)
		if err != nil {
			if ctx.Err() != nil {
				l.giveBack(taken)
				return 0, ctx.Err()
			}
			m.charges.Add(ctx, 1, kindOf(c.Key), metric.WithAttributes(attribute.String("outcome", chargeUnpaced)))
			if l.Log != nil {
				l.Log.Warn("rate budget unavailable; the call goes unpaced", "budget", c.Key, "error", err)
			}
			waits[i] = -1
			continue
		}
		taken = append(taken, c)
		waits[i] = max(d, 0)
		wait = max(wait, d)
	}
	if maxWait > 0 && wait > maxWait {
		l.giveBack(taken)
		for i, c := range charges {
			if waits[i] >= 0 && c.Rate.Valid() {
				m.charges.Add(ctx, 1, kindOf(c.Key), metric.WithAttributes(attribute.String("outcome", chargeDeferred)))
			}
		}
		return wait, nil
	}
	for i, c := range charges {
		if waits[i] < 0 || !c.Rate.Valid() {
			continue
		}
		outcome := chargeImmediate
		if waits[i] > 0 {
			outcome = chargeWaited
		}
		m.charges.Add(ctx, 1, kindOf(c.Key), metric.WithAttributes(attribute.String("outcome", outcome)))
		m.waits.Record(ctx, waits[i].Seconds(), kindOf(c.Key))
	}
	if wait <= 0 {
		return 0, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return 0, nil
	case <-ctx.Done():
		l.giveBack(taken)
		return 0, ctx.Err()
	}
}

// giveBack returns charges whose call is not made.
func (l *Limiter) giveBack(taken []Charge) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range taken {
		if _, err := l.Store.Charge(ctx, c.Key, c.Rate, -c.Cost); err != nil && l.Log != nil {
			l.Log.Warn("rate budget: a charge could not be given back", "budget", c.Key, "error", err)
		}
	}
}

// Apply moves buckets as Microsoft's answer says. A store that fails is
// logged: the signal is lost, Microsoft's throttling still applies.
func (l *Limiter) Apply(ctx context.Context, signals ...Signal) {
	if l == nil || l.Store == nil {
		return
	}
	m := instruments()
	for _, s := range signals {
		b := s.Bucket
		if !b.Rate.Valid() {
			continue
		}
		var err error
		switch s.Kind {
		case Pause:
			if s.For <= 0 {
				continue
			}
			err = l.Store.Lower(ctx, b.Key, b.Rate, PauseTokens(s.For, b.Rate))
			if err == nil {
				m.pauses.Add(ctx, 1, kindOf(b.Key))
				m.paused.Add(ctx, s.For.Seconds(), kindOf(b.Key))
				if l.Log != nil {
					l.Log.Info("rate budget paused: Microsoft asked to retry later", "budget", b.Key, "pause", s.For.String())
				}
			}
		case Lower:
			err = l.Store.Lower(ctx, b.Key, b.Rate, s.Left)
			if err == nil {
				m.lowered.Add(ctx, 1, kindOf(b.Key))
			}
		case Settle:
			if s.Cost == 0 {
				continue
			}
			_, err = l.Store.Charge(ctx, b.Key, b.Rate, s.Cost)
		}
		if err != nil && l.Log != nil {
			l.Log.Warn("rate budget: Microsoft's signal could not be applied", "signal", s.String(), "error", err)
		}
	}
}

// Repeated tells whether key was already marked within the last every
// (shared by the replicas through the store), and marks it: "is this the
// second 429 within 10 s?".
func (l *Limiter) Repeated(ctx context.Context, key string, every time.Duration) bool {
	if l == nil || l.Store == nil || every <= 0 {
		return false
	}
	r := Rate{PerSecond: 1 / every.Seconds(), Burst: 1}
	d, err := l.Store.Charge(ctx, key, r, 1)
	if err != nil || d <= 0 {
		return false
	}
	// Marked again: the bucket holds this one mark, not a debt that would
	// call a mark long after a burst of them "repeated".
	if _, err := l.Store.Charge(ctx, key, r, -1); err == nil {
		_ = l.Store.Lower(ctx, key, r, 0)
	}
	return true
}

// Policy is an azcore pipeline policy (a per-retry one: every attempt,
// retries included, is charged, as Microsoft counts them) that paces the
// calls of a client and feeds Microsoft's answers back to the buckets.
type Policy struct {
	Limiter *Limiter
	// Charges are the buckets an attempt draws on; none: unpaced.
	Charges func(req *http.Request) []Charge
	// Observe reads Microsoft's answer to an attempt charged to charged and
	// tells the limiter what it says (Limiter.Apply). May be nil.
	Observe func(ctx context.Context, l *Limiter, req *http.Request, resp *http.Response, charged []Charge)
	// MaxWait is the longest an attempt waits for its budget (0: as long
	// as it takes; also never past the context's deadline). A longer wait
	// is answered by Deferred without calling Microsoft: azcore's retry
	// policy gives up on a Retry-After longer than its MaxRetryDelay, so
	// the caller gets a throttling error and a job reschedules itself.
	MaxWait time.Duration
	// Deferred makes that answer (default: DeferredAnswer with an empty
	// body). It must carry Retry-After.
	Deferred func(req *http.Request, wait time.Duration) *http.Response
}

// DeferredHeader marks an answer the rate budget made in place of
// Microsoft's (its value is the budget's wait).
const DeferredHeader = "X-O365gw-Budget-Deferred"

// DeferredAnswer is a 429 the budget answers in place of Microsoft when
// the wait is too long: Retry-After (whole seconds, rounded up) and
// retry-after-ms, DeferredHeader, and body as JSON.
func DeferredAnswer(req *http.Request, wait time.Duration, body string) *http.Response {
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	h.Set("retry-after-ms", strconv.FormatInt((wait+time.Millisecond-1).Milliseconds(), 10))
	h.Set(DeferredHeader, wait.String())
	h.Set("Content-Type", "application/json")
	return &http.Response{StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: nopBody{strings.NewReader(body)}, ContentLength: int64(len(body)), Request: req}
}

type nopBody struct{ *strings.Reader }

func (nopBody) Close() error { return nil }

// Do implements policy.Policy.
func (p Policy) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	var charges []Charge
	if p.Charges != nil {
		charges = p.Charges(raw)
	}
	if len(charges) > 0 {
		maxWait := p.MaxWait
		if dl, ok := raw.Context().Deadline(); ok {
			if left := time.Until(dl); maxWait <= 0 || left < maxWait {
				maxWait = max(left, time.Millisecond)
			}
		}
		deferred, err := p.Limiter.Take(raw.Context(), maxWait, charges...)
		if err != nil {
			return nil, err
		}
		if deferred > 0 {
			if p.Deferred != nil {
				return p.Deferred(raw, deferred), nil
			}
			return DeferredAnswer(raw, deferred, ""), nil
		}
	}
	resp, err := req.Next()
	if err == nil && resp != nil && p.Observe != nil && p.Limiter != nil {
		p.Observe(raw.Context(), p.Limiter, raw, resp, charges)
	}
	return resp, err
}

func kindOf(key string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("bucket", BucketKind(key)))
}

// RetryAfter is the pause a 429 or 503 answer asks for (Retry-After in
// seconds or as an HTTP date; retry-after-ms first, as azcore reads them),
// at most MaxPause; 0 for other answers or none said.
func RetryAfter(resp *http.Response) time.Duration {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0
	}
	var d time.Duration
	if ms, err := strconv.ParseInt(strings.TrimSpace(resp.Header.Get("retry-after-ms")), 10, 64); err == nil {
		d = time.Duration(ms) * time.Millisecond
	} else if ra := strings.TrimSpace(resp.Header.Get("Retry-After")); ra != "" {
		if s, err := strconv.ParseInt(ra, 10, 64); err == nil {
			d = time.Duration(min(max(s, 0), int64(MaxPause/time.Second))) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			d = time.Until(t)
		}
	}
	return min(max(d, 0), MaxPause)
}

// MaxPause bounds a pause: a longer Retry-After is a mistake.
const MaxPause = time.Hour

// Pauses are the signals that pause buckets for the Retry-After of resp
// (none when it asks for no pause).
func Pauses(resp *http.Response, buckets ...Charge) []Signal {
	d := RetryAfter(resp)
	if d <= 0 {
		return nil
	}
	out := make([]Signal, 0, len(buckets))
	for _, b := range buckets {
		out = append(out, Signal{Kind: Pause, Bucket: b, For: d})
	}
	return out
}
