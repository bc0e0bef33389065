package mscloud

import (
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Partner Center throttling (shared infrastructure, leaf lock): token
// buckets per partner and per partner+customer on the simulated clock.

// bucket is a token bucket refilled on the simulated clock, so moving the
// clock forward also refills it.
type bucket struct {
	rate   float64 // tokens per second
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time) {
	capacity := math.Max(1, b.rate)
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(capacity, b.tokens+el*b.rate)
	}
	b.last = now
}

// wait is the number of whole seconds (at least 1) until a token is available.
func (b *bucket) wait() int {
	need := (1 - b.tokens) / b.rate
	return max(1, int(math.Ceil(need)))
}

// pcBuckets are the Partner Center token buckets by key ("p/{partner}",
// "c/{partner}/{customer}", "o/{partner}/{customer}") and the counts of
// calls let through and refused per partner (pc_calls and pc_throttled in
// GET /_sim/state), behind a leaf lock.
type pcBuckets struct {
	mu        sync.Mutex
	m         map[string]*bucket
	calls     map[string]int // calls that passed throttling, by partner tenant id
	throttled map[string]int // 429 answers of the rate limits, by partner tenant id
}

func newPCBuckets() *pcBuckets {
	return &pcBuckets{m: map[string]*bucket{}, calls: map[string]int{}, throttled: map[string]int{}}
}

// counts returns the calls let through and the 429s of partnerID.
func (pb *pcBuckets) counts(partnerID string) (calls, throttled int) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.calls[partnerID], pb.throttled[partnerID]
}

// bucketFor returns the bucket for key at rate, creating it full. Caller
// holds pb.mu.
func (pb *pcBuckets) bucketFor(key string, rate float64, now time.Time) *bucket {
	b := pb.m[key]
	if b == nil || b.rate != rate {
		b = &bucket{rate: rate, tokens: math.Max(1, rate), last: now}
		pb.m[key] = b
	}
	b.refill(now)
	return b
}

// take takes one token from the partner's bucket and, for calls about one
// customer, from the partner+customer bucket (and, for purchases, from the
// partner+customer purchase bucket when that rate is set), at the rates
// of st. It returns 0 when the call may proceed, else the Retry-After
// seconds; no token is taken then.
func (pb *pcBuckets) take(st settings, partnerID, customerID string, purchase bool, now time.Time) int {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	var bs []*bucket
	if r := st.PartnerRPS; r > 0 {
		bs = append(bs, pb.bucketFor("p/"+partnerID, r, now))
	}
	if r := st.CustomerRPS; r > 0 && customerID != "" {
		bs = append(bs, pb.bucketFor("c/"+partnerID+"/"+customerID, r, now))
	}
	if r := st.PurchaseRPS; r > 0 && purchase && customerID != "" {
		bs = append(bs, pb.bucketFor("o/"+partnerID+"/"+customerID, r, now))
	}
	wait := 0
	for _, b := range bs {
		if b.tokens < 1 {
			wait = max(wait, b.wait())
		}
	}
	if wait > 0 {
		pb.throttled[partnerID]++
		return wait
	}
	for _, b := range bs {
		b.tokens--
	}
	pb.calls[partnerID]++
	return 0
}

// reset drops every bucket (new rates start full); the counts stay.
func (pb *pcBuckets) reset() {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	pb.m = map[string]*bucket{}
}

// isPurchase: POST /v1/customers/{id}/orders or …/carts/{cartId}/checkout.
func isPurchase(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/customers/")
	if !ok {
		return false
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	return (len(parts) == 2 && parts[1] == "orders") || (len(parts) == 4 && parts[1] == "carts" && parts[3] == "checkout")
}
