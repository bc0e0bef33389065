package mscloud

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Graph throttling of directory calls per app+tenant (Microsoft Graph's
// published service limits; BEHAVIOUR.md, "Throttling"):
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

// graphBudgets are the Graph throttling windows per app+tenant and the
// count of Graph 429 answers per partner, behind a leaf lock.
type graphBudgets struct {
	mu        sync.Mutex
	m         map[string]*graphBudget // by "{app}/{tenant}"
	throttled map[string]int          // 429 answers by partner tenant id
	writes    map[string]int          // writes charged (let through) by partner tenant id
}

func newGraphBudgets() *graphBudgets {
	return &graphBudgets{m: map[string]*graphBudget{}, throttled: map[string]int{}, writes: map[string]int{}}
}

// graphLimitHit names the budget a refused request exceeded and when its
// window ends.
type graphLimitHit struct {
	limit, info string
	end         time.Time
}

// charge charges a request of cost resource units (a write if write) to the
// budget of app in tenant (users = the tenant's live users) under the
// limits of st, at real time now. It returns the charge, or the limit hit
// (nothing is charged then).
func (gb *graphBudgets) charge(st settings, app, tenant string, users, cost int, write bool, now time.Time) (ruCharge, *graphLimitHit) {
	gb.mu.Lock()
	defer gb.mu.Unlock()
	key := app + "/" + tenant
	b := gb.m[key]
	if b == nil {
		b = &graphBudget{}
		gb.m[key] = b
	}
	if !now.Before(b.ruStart.Add(graphRUWindow)) {
		b.ruStart, b.ru = now, 0
	}
	window, writeLimit := st.GraphWriteWindow, st.GraphWriteLimit
	if !now.Before(b.wStart.Add(window)) {
		b.wStart, b.writes = now, 0
	}
	charge := ruCharge{cost: cost}
	ruLimit := graphRULimit(users) * st.GraphRUScale
	if write && b.writes+1 > writeLimit {
		charge.pct = 1
		return charge, &graphLimitHit{"WriteLimit", "WriteLimitExceeded", b.wStart.Add(window)}
	}
	if b.ru+float64(charge.cost) > ruLimit {
		charge.pct = 1
		return charge, &graphLimitHit{"ResourceUnitLimit", "ResourceUnitLimitExceeded", b.ruStart.Add(graphRUWindow)}
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

// count429 counts a Graph 429 answered to partnerID's app.
func (gb *graphBudgets) count429(partnerID string) {
	gb.mu.Lock()
	defer gb.mu.Unlock()
	gb.throttled[partnerID]++
}

// countWrite counts a Graph write of partnerID's app let through.
func (gb *graphBudgets) countWrite(partnerID string) {
	gb.mu.Lock()
	defer gb.mu.Unlock()
	gb.writes[partnerID]++
}

// writeCount is the number of Graph writes partnerID's app made.
func (gb *graphBudgets) writeCount(partnerID string) int {
	gb.mu.Lock()
	defer gb.mu.Unlock()
	return gb.writes[partnerID]
}

// throttledCount is the number of Graph 429 answers partnerID's app got.
func (gb *graphBudgets) throttledCount(partnerID string) int {
	gb.mu.Lock()
	defer gb.mu.Unlock()
	return gb.throttled[partnerID]
}

// reset starts every window afresh (new limits); the counts stay.
func (gb *graphBudgets) reset() {
	gb.mu.Lock()
	defer gb.mu.Unlock()
	gb.m = map[string]*graphBudget{}
}

// graphCharge charges r to the budget of the token's app in tenantID
// (users = the tenant's live users) or returns the 429.
func (s *graphService) graphCharge(c *apiCall, tenantID string, users int, r *http.Request) (ruCharge, *response) {
	now := time.Now()
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	charge, hit := s.budgets.charge(s.settings.get(), c.token.ClientID, tenantID, users, graphRUCost(r), write, now)
	if hit == nil {
		if write && c.partner != nil {
			s.budgets.countWrite(c.partner.TenantID)
		}
		return charge, nil
	}
	retry := max(1, int(math.Ceil(hit.end.Sub(now).Seconds())))
	resp := s.graphTooMany(c, retry, hit.limit, hit.info, c.token.ClientID, tenantID)
	charge.annotate(resp)
	return charge, resp
}

// graphTooMany is Graph's 429 for app in tenant; it counts against the
// calling partner (graph_throttled in GET /_sim/state).
func (s *graphService) graphTooMany(c *apiCall, retryAfter int, limit, info, app, tenant string) *response {
	if c.partner != nil {
		s.budgets.count429(c.partner.TenantID)
	}
	resp := graphError(http.StatusTooManyRequests, "TooManyRequests", "Too many requests. Please try again after "+strconv.Itoa(retryAfter)+" seconds.",
		c.requestID, c.clientRequestID, s.clock.Now())
	resp.header.Set("Retry-After", strconv.Itoa(retryAfter))
	resp.header.Set("x-ms-throttle-scope", "Tenant_Application/"+limit+"/"+app+"/"+tenant)
	resp.header.Set("x-ms-throttle-information", info)
	return resp
}
