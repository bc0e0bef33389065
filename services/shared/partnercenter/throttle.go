package partnercenter

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/o365gateway/gateway/services/shared/budget"
)

// Partner Center publishes no general limit (only a few APIs' numbers,
// e.g. 100 migrations per partner per 5 minutes): its calls are throttled
// per partner, some per partner and customer, with 429 and Retry-After.
// The budgets start from these defaults, a minute's worth each, and
// Microsoft's 429s pause them and lower their rate (adaptive).
const (
	// DefaultPartnerLimit calls per DefaultWindow per partner: 10/s.
	DefaultPartnerLimit = 600
	// DefaultCustomerLimit calls per DefaultWindow per partner and
	// customer: a quarter of the partner's, 2.5/s.
	DefaultCustomerLimit = 150
	DefaultWindow        = time.Minute
	// RepeatWindow: a 429 about a customer pauses that customer's budget;
	// a second 429 of the partner (for any customer) within RepeatWindow
	// pauses the partner's too: the limit hit is the partner's.
	RepeatWindow = 10 * time.Second
)

// adaptive is how Partner Center's 429s move the rate of the budget they
// hit (the partner's, or the partner and customer's; budget.AIMD, shared
// by the replicas like the pauses): 70% of the rate kept after a 429,
// never under a tenth of the configured rate (1/s for the partner's
// default 10/s), and climbing back by the configured rate per 2 minutes
// without a 429 (the partner's default from 7/s to 10/s in 36 s).
//
// The increase is additive, not in proportion to the rate: every service
// that calls Partner Center keeps a budget of its own for one partner, and
// additive increase with multiplicative decrease is what brings such
// budgets to fair shares of the one limit. Keep is CUBIC's decrease (RFC
// 8312) and the AWS SDKs' adaptive retry mode's, not TCP Reno's halving:
// under a fixed limit the rate saws between Keep of the rate that met a
// 429 and that rate, so halving leaves about a quarter of the limit
// unused and 0.7 about half as much (the bench's partner limited to 5/s:
// 90% of its ceiling halving, 97% at 0.7, 0 failures either way), for
// one more burst of 429s to find a limit half the configured one (10/s,
// 7/s, 4.9/s). The climb: every time the rate climbs past the limit costs
// a 429 and the pause its Retry-After asks for; at the configured rate
// per minute the bench's 5/s was met about twice as often, for no more
// throughput, and a much slower climb leaves the rate under a limit it
// overshot by a little for long.
var adaptive = budget.AIMD{Keep: 0.7, Floor: 0.1, Climb: 2 * time.Minute}

// pacer names a partner's budgets.
type pacer struct {
	partner   budget.Charge
	customers budget.Rate
	key       string
	// limiter adapts the budgets' rates (adaptive); nil: not adapted.
	limiter *budget.Limiter
}

func newPacer(o Options) pacer {
	partner := budget.PerWindow(DefaultPartnerLimit, DefaultWindow)
	if o.RequestsPerSecond > 0 {
		partner = budget.Rate{PerSecond: o.RequestsPerSecond, Burst: max(1, o.Burst)}
		if o.Burst == 0 {
			partner.Burst = max(1, o.RequestsPerSecond*DefaultWindow.Seconds())
		}
	}
	customers := budget.PerWindow(DefaultCustomerLimit, DefaultWindow)
	if o.CustomerPerSecond > 0 {
		customers = budget.Rate{PerSecond: o.CustomerPerSecond, Burst: max(1, o.CustomerBurst)}
		if o.CustomerBurst == 0 {
			customers.Burst = max(1, o.CustomerPerSecond*DefaultWindow.Seconds())
		}
	} else if o.RequestsPerSecond > 0 {
		customers = budget.Rate{PerSecond: partner.PerSecond / 4, Burst: max(1, partner.Burst/4)}
	}
	return pacer{partner: budget.Charge{Key: "partnercenter/" + o.BudgetKey, Rate: partner, Cost: 1}, customers: customers, key: o.BudgetKey,
		limiter: o.Budget}
}

// customerBucket is the budget of the customer a call is about, if any.
func (p pacer) customerBucket(req *http.Request) (budget.Charge, bool) {
	id := CustomerOfPath(req.URL.Path)
	if id == "" {
		return budget.Charge{}, false
	}
	return budget.Charge{Key: "partnercenter/customers/" + p.key + "/" + id, Rate: p.customers, Cost: 1}, true
}

// charges are the budgets a call draws on, at their adapted rates.
func (p pacer) charges(req *http.Request) []budget.Charge {
	out := []budget.Charge{p.partner}
	if c, ok := p.customerBucket(req); ok {
		out = append(out, c)
	}
	for i, c := range out {
		out[i] = p.limiter.Adapt(req.Context(), adaptive, c)
	}
	return out
}

// observe: a 429, or a 503 with Retry-After, hits the budget of the
// customer the call was about, or the partner's when it was about none,
// and both when the partner met another such answer within RepeatWindow
// (the limit hit is the partner's). A Retry-After pauses the budgets hit
// until then; a 429 also lowers their rate (adaptive; a 503 is Partner
// Center failing, not a limit the calls exceed).
func (p pacer) observe(ctx context.Context, l *budget.Limiter, req *http.Request, resp *http.Response, charged []budget.Charge) {
	throttled := resp.StatusCode == http.StatusTooManyRequests
	if resp.Header.Get(budget.DeferredHeader) != "" || (!throttled && budget.RetryAfter(resp) <= 0) {
		return
	}
	hit := []budget.Charge{p.partner}
	if c, ok := p.customerBucket(req); ok {
		hit = []budget.Charge{c}
		if l.Repeated(ctx, "partnercenter/throttled/"+p.key, RepeatWindow) {
			hit = append(hit, p.partner)
		}
	}
	l.Apply(ctx, budget.Pauses(resp, hit...)...)
	if !throttled {
		return
	}
	for _, c := range hit {
		l.Throttled(ctx, adaptive, asCharged(c, charged))
	}
}

// asCharged is the budget c as the call was charged to it (at the rate it
// was paced at), or c when the call was not charged to it.
func asCharged(c budget.Charge, charged []budget.Charge) budget.Charge {
	for _, ch := range charged {
		if ch.Key == c.Key {
			return ch
		}
	}
	return c
}

// CustomerOfPath is the customer id of /v1/customers/{id}[/…] ("" for
// other paths, and for the customer list).
func CustomerOfPath(path string) string {
	i := strings.Index(path, "/v1/customers/")
	if i < 0 {
		return ""
	}
	id, _, _ := strings.Cut(path[i+len("/v1/customers/"):], "/")
	return id
}

// deferred is the 429 the budget answers in Partner Center's throttling
// shape when a call would wait longer than the client may.
func deferred(req *http.Request, wait time.Duration) *http.Response {
	secs := strconv.Itoa(int(wait.Seconds() + 0.999))
	return budget.DeferredAnswer(req, wait, `{"statusCode":429,"message":"The gateway holds this call back: the Partner Center budget is spent or paused as Microsoft asked. Try again in `+secs+` seconds."}`)
}
