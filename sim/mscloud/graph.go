package mscloud

import (
	"net/http"
	"time"
)

// Microsoft Graph lives under /v1.0. Handlers are added in their own files
// with graphRoute, which authenticates with a Graph-audience token of the
// partner's cloud before calling them (with s.mu held), tenantRoute, which
// also scopes them to the customer tenant that issued the token
// (graph_directory.go), or partnerRoute, which requires a token of the
// partner's own tenant. Other paths answer Graph's 404, other methods on a
// known path 405.

func (s *Server) registerGraph() {
	s.registerGraphUsers()
	s.registerGraphLicenses()
	s.registerGraphDomains()
	s.registerGraphGDAP()
	s.registerGraphApplications()
	register(s.graphMux, "/v1.0/", func(r *http.Request, c *apiCall) *response {
		if methodAllowedElsewhere(s.graphMux, r, "/v1.0/") {
			return graphError(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.",
				c.requestID, c.clientRequestID, s.clock.Now())
		}
		return c.graphNotFound(r, s.clock.Now())
	})
}

// graphRoute registers a Graph handler for pattern (e.g. "GET /v1.0/users").
func (s *Server) graphRoute(pattern string, h apiHandler) {
	register(s.graphMux, pattern, func(r *http.Request, c *apiCall) *response {
		tok := s.lookupToken(r)
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
func (s *Server) partnerRoute(pattern string, h apiHandler) {
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

// graphBodyError is Graph's answer to a body it cannot read (too large,
// unknown content coding, bad compressed data).
func (c *apiCall) graphBodyError(err error, now time.Time) *response {
	status, msg := bodyProblem(err)
	return graphError(status, "Request_BadRequest", msg, c.requestID, c.clientRequestID, now)
}

func (c *apiCall) graphNotFound(r *http.Request, now time.Time) *response {
	return graphError(http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+r.URL.Path+"' does not exist or one of its queried reference-property objects are not present.",
		c.requestID, c.clientRequestID, now)
}

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	c := &apiCall{requestID: newGUID(), clientRequestID: r.Header.Get("client-request-id")}
	if c.clientRequestID == "" {
		c.clientRequestID = c.requestID
	}
	if f := s.takeFault(apiGraph, r); f != nil {
		switch f.Mode {
		case faultDelay, faultDelayCommit:
			// The body is read first: net/http notices that a client gave
			// up only once the body is consumed.
			if err := bufferBody(r); err != nil {
				c.graphBodyError(err, s.clock.Now()).writeTo(w)
				return
			}
			if !s.faultWait(f, &r) {
				abandon()
			}
		case faultError:
			graphError(f.Status, graphCodeFor(f.Status), "Simulated failure: "+http.StatusText(f.Status)+".", c.requestID, c.clientRequestID, s.clock.Now()).writeTo(w)
			return
		case faultRefuse:
			graphError(f.Status, graphCodeFor(f.Status), "Simulated refusal: "+http.StatusText(f.Status)+". The request was not processed.", c.requestID, c.clientRequestID, s.clock.Now()).writeTo(w)
			return
		case faultThrottle:
			s.graphThrottled(r, c, f.RetryAfterSeconds).writeTo(w)
			return
		case faultErrorAfterCommit:
			if err := bufferBody(r); err != nil {
				c.graphBodyError(err, s.clock.Now()).writeTo(w)
				return
			}
			s.handleGraph(r, c)
			graphError(f.Status, graphCodeFor(f.Status), "Simulated failure: "+http.StatusText(f.Status)+".", c.requestID, c.clientRequestID, s.clock.Now()).writeTo(w)
			return
		}
	}
	// The body is read before the lock is taken (a slow client must not
	// hold the simulator) and bounded, as Partner Center's is.
	if err := bufferBody(r); err != nil {
		c.graphBodyError(err, s.clock.Now()).writeTo(w)
		return
	}
	resp := s.handleGraph(r, c)
	// Every Graph answer names the request (Graph has no MS-RequestId replay).
	resp.header.Set("request-id", c.requestID)
	resp.header.Set("client-request-id", c.clientRequestID)
	resp.writeTo(w)
}

func (s *Server) handleGraph(r *http.Request, c *apiCall) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	if resp := route(s.graphMux, r, c); resp != nil {
		return resp
	}
	return c.graphNotFound(r, s.clock.Now())
}

// graphThrottled is Graph's 429 for an injected throttle fault. The scope
// names the caller's app and tenant when the request carries a known token
// (and the 429 then counts against its partner).
func (s *Server) graphThrottled(r *http.Request, c *apiCall, retryAfter int) *response {
	app, tenant := "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok := s.lookupToken(r); tok != nil {
		app, tenant = tok.ClientID, tok.TenantID
		c.partner = tok.Partner
	}
	return s.graphTooMany(c, retryAfter, "ResourceUnitLimit", "ResourceUnitLimitExceeded", app, tenant)
}
