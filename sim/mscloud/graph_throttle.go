package mscloud

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Graph throttling of directory calls per app+tenant (reference §3.7):
// a resource-unit budget per 10 s that depends on the tenant's size (fewer
// than 50 users 3,500; up to 500 users 5,000; more 8,000; times
// graph_ru_scale) and a write budget (graph_write_limit writes per
// graph_write_window_seconds; default 3,000 per 2 min 30 s). Windows are
// fixed, start with the first request after the previous one ended, and
// run on the real clock: throttling is about real request rates, so moving
// the simulated clock does not refill them. Refused requests are not
// charged (the service charges them).

// Default Graph write budget per app+tenant.
const (
	DefaultGraphWriteLimit  = 3000
	DefaultGraphWriteWindow = 150 * time.Second
	graphRUWindow           = 10 * time.Second
)

type graphBudget struct {
	ruStart time.Time
	ru      float64
	wStart  time.Time
	writes  int
}

// graphRUCost is the request's resource units: base 1, GET users (the
// list) 2, GET subscribedSkus 3; $select −1, $expand +1, $top < 20 −1;
// at least 1.
func graphRUCost(r *http.Request) int {
	cost := 1
	path := strings.TrimSuffix(r.URL.Path, "/")
	if r.Method == http.MethodGet {
		switch {
		case path == "/v1.0/users":
			cost = 2
		case strings.EqualFold(path, "/v1.0/subscribedSkus") || strings.HasPrefix(strings.ToLower(path), "/v1.0/subscribedskus/"):
			cost = 3
		}
	}
	q := r.URL.Query()
	if q.Get("$select") != "" {
		cost--
	}
	if q.Get("$expand") != "" {
		cost++
	}
	if v := q.Get("$top"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n < 20 {
			cost--
		}
	}
	return max(1, cost)
}

// graphRULimit is the resource-unit budget per 10 s of a tenant with users users.
func graphRULimit(users int) float64 {
	switch {
	case users < 50:
		return 3500
	case users <= 500:
		return 5000
	}
	return 8000
}

// ruCharge is what a request was charged; annotate adds the headers.
type ruCharge struct {
	cost int
	pct  float64
}

func (g ruCharge) annotate(resp *response) {
	resp.header.Set("x-ms-resource-unit", strconv.Itoa(g.cost))
	if g.pct >= 0.8 {
		resp.header.Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(math.Min(g.pct, 1), 'f', 2, 64))
	}
}

// graphCharge charges r to the budget of the token's app in tenantID
// (users = the tenant's live users) or returns the 429. Caller holds s.mu.
func (s *Server) graphCharge(c *apiCall, tenantID string, users int, r *http.Request) (ruCharge, *response) {
	now := time.Now()
	app := c.token.ClientID
	key := app + "/" + tenantID
	b := s.graphBudgets[key]
	if b == nil {
		b = &graphBudget{}
		s.graphBudgets[key] = b
	}
	if !now.Before(b.ruStart.Add(graphRUWindow)) {
		b.ruStart, b.ru = now, 0
	}
	window, writeLimit := s.settings.GraphWriteWindow, s.settings.GraphWriteLimit
	if !now.Before(b.wStart.Add(window)) {
		b.wStart, b.writes = now, 0
	}
	charge := ruCharge{cost: graphRUCost(r)}
	ruLimit := graphRULimit(users) * s.settings.GraphRUScale
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	retry := func(end time.Time) int { return max(1, int(math.Ceil(end.Sub(now).Seconds()))) }
	if write && b.writes+1 > writeLimit {
		resp := s.graphTooMany(c, retry(b.wStart.Add(window)), "WriteLimit", "WriteLimitExceeded", app, tenantID)
		charge.pct = 1
		charge.annotate(resp)
		return charge, resp
	}
	if b.ru+float64(charge.cost) > ruLimit {
		resp := s.graphTooMany(c, retry(b.ruStart.Add(graphRUWindow)), "ResourceUnitLimit", "ResourceUnitLimitExceeded", app, tenantID)
		charge.pct = 1
		charge.annotate(resp)
		return charge, resp
	}
	b.ru += float64(charge.cost)
	if write {
		b.writes++
	}
	charge.pct = b.ru / ruLimit
	if write || b.writes > 0 {
		charge.pct = math.Max(charge.pct, float64(b.writes)/float64(writeLimit))
	}
	return charge, nil
}

// graphTooMany is Graph's 429 for app in tenant; it counts against the
// calling partner (graph_throttled in GET /_sim/state). Caller holds s.mu.
func (s *Server) graphTooMany(c *apiCall, retryAfter int, limit, info, app, tenant string) *response {
	if c.partner != nil {
		c.partner.graphThrottled++
	}
	resp := graphError(http.StatusTooManyRequests, "TooManyRequests", "Too many requests. Please try again after "+strconv.Itoa(retryAfter)+" seconds.",
		c.requestID, c.clientRequestID, s.clock.Now())
	resp.header.Set("Retry-After", strconv.Itoa(retryAfter))
	resp.header.Set("x-ms-throttle-scope", "Tenant_Application/"+limit+"/"+app+"/"+tenant)
	resp.header.Set("x-ms-throttle-information", info)
	return resp
}
