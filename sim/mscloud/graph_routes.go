package mscloud

import (
	"net/http"
	"time"
)

// How Graph handlers are registered and which locks they run under.
//
//   - graphRoute authenticates with a Graph-audience token of the
//     partner's cloud (entraService) and calls the handler with no lock
//     held.
//   - partnerRoute also requires a token of the partner's own tenant
//     (GDAP relationships, the partner's application); GDAP handlers add
//     s.locked.
//   - tenantRoute scopes the handler to the customer tenant that issued
//     the token and runs it with s.mu held, after reading the customer's
//     commerce seats from Partner Center (lock order pc → graph: that read
//     comes first, with no Graph lock held).

// graphRoute registers a Graph handler for pattern (e.g. "GET /v1.0/users").
func (s *graphService) graphRoute(pattern string, h apiHandler) {
	register(s.mux, pattern, func(r *http.Request, c *apiCall) *response {
		tok := s.entra.validToken(r)
		if tok == nil || tok.Audience != tok.Partner.Cloud.GraphAudience {
			resp := graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty, expired or not valid for Microsoft Graph.",
				c.requestID, c.clientRequestID, s.clock.Now())
			resp.header.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://`+r.Host+`/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
			return resp
		}
		c.partner, c.token = tok.Partner, tok
		return h(r, c)
	})
}

// partnerRoute registers a Graph handler acting in the partner's own
// tenant (GDAP relationships, the partner's application): the token must
// be issued by the partner tenant, app-only or app+user; a token of a
// customer tenant gets 403 Authorization_RequestDenied.
func (s *graphService) partnerRoute(pattern string, h apiHandler) {
	s.graphRoute(pattern, func(r *http.Request, c *apiCall) *response {
		if c.token.TenantID != c.partner.TenantID {
			return s.gerr(c, http.StatusForbidden, "Authorization_RequestDenied", msgInsufficientPrivileges)
		}
		return h(r, c)
	})
}

// msgInsufficientPrivileges is Graph's 403 message for a call the caller
// may not make.
const msgInsufficientPrivileges = "Insufficient privileges to complete the operation."

// tenantCall is a Graph call acting in one customer tenant: the tenant's
// record (graphService.mu held) and the customer's commerce seats as
// Partner Center reported them when the call began.
type tenantCall struct {
	*graphTenant
	seats *commerceSeats
}

// licenseUnits is the tenant's license units (licensing.go).
func (cu *tenantCall) licenseUnits() []*skuUnits { return licenseUnits(cu.seats, cu.held()) }

// tenantLicense returns the license SKU skuID when the tenant has it (it
// appears in subscribedSkus), else nil.
func (cu *tenantCall) tenantLicense(skuID string) *licenseSku {
	for _, u := range cu.licenseUnits() {
		if u.License.ID == lower(skuID) {
			return u.License
		}
	}
	return nil
}

// freeSeats is prepaidUnits.enabled − consumedUnits for skuID.
func (cu *tenantCall) freeSeats(skuID string) int {
	for _, u := range cu.licenseUnits() {
		if u.License.ID == lower(skuID) {
			return u.Active - u.Consumed
		}
	}
	return 0
}

// tenantHandler is a Graph handler acting in a customer tenant.
type tenantHandler func(r *http.Request, c *apiCall, cu *tenantCall, now time.Time) *response

// tenantRoute registers a Graph handler that acts in the customer tenant
// that issued the token: a Graph token of the partner tenant itself gets
// 403 Authorization_RequestDenied, and an app+user token needs a GDAP
// relationship whose roles cover the call (gdap_access.go; pattern must
// be classified there). The customer's commerce state is settled first
// (subscribedSkus, seats), then the request is charged to the app+tenant
// throttling budget.
func (s *graphService) tenantRoute(pattern string, h tenantHandler) {
	ops := mustClassifyTenantRoute(pattern)
	s.graphRoute(pattern, func(r *http.Request, c *apiCall) *response {
		tok := c.token
		if tok.TenantID == c.partner.TenantID {
			return s.gerr(c, http.StatusForbidden, "Authorization_RequestDenied", msgInsufficientPrivileges)
		}
		now := s.clock.Now()
		// Partner Center before Graph (lock order pc → graph).
		seats := s.pc.tenantSeats(tok.TenantID, now)
		s.mu.Lock()
		defer s.mu.Unlock()
		t := s.tenants[tok.TenantID]
		if seats == nil || t == nil || t.Partner != c.partner {
			// The sandbox customer was deleted after the token was issued.
			resp := s.gerr(c, http.StatusUnauthorized, "InvalidAuthenticationToken", "The tenant of the access token does not exist any more.")
			resp.header.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://`+r.Host+`/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
			return resp
		}
		if !tok.AppOnly && !s.gdapCoversLocked(c.partner, t.ID, ops.of(r), now) {
			return s.gerr(c, http.StatusForbidden, "Authorization_RequestDenied", msgInsufficientPrivileges)
		}
		d := t.directory()
		charge, refused := s.graphCharge(c, t.ID, len(d.users), r)
		if refused != nil {
			return refused
		}
		resp := h(r, c, &tenantCall{graphTenant: t, seats: seats}, now)
		charge.annotate(resp)
		return resp
	})
}
