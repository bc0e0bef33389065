package graph

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/o365gateway/gateway/services/shared/budget"
)

// Graph's published directory limits per application and customer tenant
// (learn.microsoft.com, "Microsoft Graph service limits", identity and
// access): writes 3,000 per 2 min 30 s; resource units per 10 s 3,500 for a
// tenant of fewer than 50 users, 5,000 up to 500, 8,000 above.
const (
	DefaultWriteLimit    = 3000
	DefaultWriteWindow   = 150 * time.Second
	DefaultResourceUnits = 3500
	ResourceUnitWindow   = 10 * time.Second
)

// pacer names the two budgets of one application in one tenant and reads
// Graph's throttling headers into signals for them.
type pacer struct {
	writes, ru budget.Charge
}

// charges: a write costs one write and its resource units, a read its
// resource units.
func (p pacer) charges(req *http.Request) []budget.Charge {
	ru := p.ru
	ru.Cost = float64(ResourceUnits(req))
	if isWrite(req) {
		w := p.writes
		w.Cost = 1
		return []budget.Charge{w, ru}
	}
	return []budget.Charge{ru}
}

func isWrite(req *http.Request) bool {
	return req.Method != http.MethodGet && req.Method != http.MethodHead
}

// signals reads Graph's answer to a request charged to charged:
//   - x-ms-resource-unit, what the request cost: the difference from the
//     estimate charged is settled on the resource-unit budget;
//   - a 429 (or 503) with Retry-After pauses the budget that
//     x-ms-throttle-information names (WriteLimitExceeded: writes,
//     ResourceUnitLimitExceeded: resource units; anything else, such as
//     CPULimitExceeded or nothing, every budget the request drew on) until
//     then. x-ms-throttle-scope may name a wider scope (the application
//     across tenants, the tenant across applications) that the gateway
//     keeps no budget for: the budgets of this application and tenant are
//     paused, as every tenant's are when their requests meet the 429;
//   - x-ms-throttle-limit-percentage, the share of a budget used (sent
//     from 0.8 on, without saying which budget), brings every budget the
//     request drew on down to the share left of its size.
func (p pacer) signals(req *http.Request, resp *http.Response, charged []budget.Charge) []budget.Signal {
	if resp.Header.Get(budget.DeferredHeader) != "" {
		return nil
	}
	var out []budget.Signal
	if v := strings.TrimSpace(resp.Header.Get("x-ms-resource-unit")); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n < 1e6 {
			for _, c := range charged {
				if c.Key == p.ru.Key && n != c.Cost {
					out = append(out, budget.Signal{Kind: budget.Settle, Bucket: p.ru, Cost: n - c.Cost})
				}
			}
		}
	}
	if budget.RetryAfter(resp) > 0 {
		var which []budget.Charge
		switch info := resp.Header.Get("x-ms-throttle-information"); {
		case strings.EqualFold(info, "WriteLimitExceeded"):
			which = []budget.Charge{p.writes}
		case strings.EqualFold(info, "ResourceUnitLimitExceeded"):
			which = []budget.Charge{p.ru}
		default:
			which = charged
		}
		return append(out, budget.Pauses(resp, which...)...)
	}
	if v := strings.TrimSpace(resp.Header.Get("x-ms-throttle-limit-percentage")); v != "" {
		if used, err := strconv.ParseFloat(v, 64); err == nil && used > 0 && used <= 10 {
			for _, c := range charged {
				out = append(out, budget.Signal{Kind: budget.Lower, Bucket: c, Left: budget.LeftOf(used, c.Rate)})
			}
		}
	}
	return out
}

// ResourceUnits is a request's cost in Graph's resource units as Microsoft
// publishes it: base 1; GET /users (the list) 2, GET /subscribedSkus 3;
// $select −1, $expand +1, $top under 20 −1; at least 1. The answer's
// x-ms-resource-unit settles the difference.
func ResourceUnits(req *http.Request) int {
	cost := 1
	path := strings.ToLower(strings.TrimSuffix(req.URL.Path, "/"))
	if i := strings.Index(path, "/v1.0/"); i >= 0 {
		path = path[i+len("/v1.0"):]
	} else if i := strings.Index(path, "/beta/"); i >= 0 {
		path = path[i+len("/beta"):]
	}
	if req.Method == http.MethodGet {
		switch {
		case path == "/users":
			cost = 2
		case path == "/subscribedskus" || strings.HasPrefix(path, "/subscribedskus/"):
			cost = 3
		}
	}
	q := req.URL.Query()
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

// deferred is the 429 the budget answers in Graph's shape when a request
// would wait longer than the client may (a pause Microsoft asked for).
func deferred(req *http.Request, wait time.Duration) *http.Response {
	secs := strconv.Itoa(int(wait.Seconds() + 0.999))
	return budget.DeferredAnswer(req, wait, `{"error":{"code":"TooManyRequests","message":"The gateway holds this request back: the Graph budget of the application in this tenant is spent or paused as Microsoft asked; retry after `+secs+` seconds."}}`)
}
