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
// Microsoft's 429s pause them.
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

// pacer names a partner's budgets.
type pacer struct {
	partner   budget.Charge
	customers budget.Rate
	key       string
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
	return pacer{partner: budget.Charge{Key: "partnercenter/" + o.BudgetKey, Rate: partner, Cost: 1}, customers: customers, key: o.BudgetKey}
}

// customerBucket is the budget of the customer a call is about, if any.
func (p pacer) customerBucket(req *http.Request) (budget.Charge, bool) {
	id := CustomerOfPath(req.URL.Path)
	if id == "" {
		return budget.Charge{}, false
	}
	return budget.Charge{Key: "partnercenter/customers/" + p.key + "/" + id, Rate: p.customers, Cost: 1}, true
}

func (p pacer) charges(req *http.Request) []budget.Charge {
	if c, ok := p.customerBucket(req); ok {
		return []budget.Charge{p.partner, c}
	}
	return []budget.Charge{p.partner}
}

// observe: a 429 (or 503) with Retry-After pauses, until then, the budget
// of the customer the call was about, or the partner's when it was about
// none or when the partner met another 429 within RepeatWindow.
func (p pacer) observe(ctx context.Context, l *budget.Limiter, req *http.Request, resp *http.Response, _ []budget.Charge) {
	if resp.Header.Get(budget.DeferredHeader) != "" || budget.RetryAfter(resp) <= 0 {
		return
	}
	c, ok := p.customerBucket(req)
	if !ok {
		l.Apply(ctx, budget.Pauses(resp, p.partner)...)
		return
	}
	l.Apply(ctx, budget.Pauses(resp, c)...)
	if l.Repeated(ctx, "partnercenter/throttled/"+p.key, RepeatWindow) {
		l.Apply(ctx, budget.Pauses(resp, p.partner)...)
	}
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
