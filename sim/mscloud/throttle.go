package mscloud

import (
	"math"
	"net/http"
	"strings"
	"time"
)

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

// bucketFor returns the bucket for key at rate, creating it full. Caller holds s.mu.
func (s *Server) bucketFor(key string, rate float64, now time.Time) *bucket {
	b := s.buckets[key]
	if b == nil || b.rate != rate {
		b = &bucket{rate: rate, tokens: math.Max(1, rate), last: now}
		s.buckets[key] = b
	}
	b.refill(now)
	return b
}

// throttlePC takes one token from the partner's bucket and, for calls about
// one customer, from the partner+customer bucket (and, for purchases, from
// the partner+customer purchase bucket when that rate is set). It returns 0
// when the call may proceed, else the Retry-After seconds; no token is taken
// then. Caller holds s.mu.
func (s *Server) throttlePC(p *partner, customerID string, purchase bool) int {
	now := s.clock.Now()
	var bs []*bucket
	if r := s.settings.PartnerRPS; r > 0 {
		bs = append(bs, s.bucketFor("p/"+p.TenantID, r, now))
	}
	if r := s.settings.CustomerRPS; r > 0 && customerID != "" {
		bs = append(bs, s.bucketFor("c/"+p.TenantID+"/"+customerID, r, now))
	}
	if r := s.settings.PurchaseRPS; r > 0 && purchase && customerID != "" {
		bs = append(bs, s.bucketFor("o/"+p.TenantID+"/"+customerID, r, now))
	}
	wait := 0
	for _, b := range bs {
		if b.tokens < 1 {
			wait = max(wait, b.wait())
		}
	}
	if wait > 0 {
		return wait
	}
	for _, b := range bs {
		b.tokens--
	}
	return 0
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
