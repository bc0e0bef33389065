package mscloud

import (
	"net/http"
	"time"
)

// The Microsoft Graph front door (/v1.0/...): faults, the body, the
// request-id headers, then the handlers of graphService, registered with
// graphRoute, partnerRoute or tenantRoute (graph_routes.go). Other paths
// answer Graph's 404, other methods on a known path 405. No lock is held
// here: each route takes the part locks it needs.

func (s *Server) registerGraph() {
	g := s.graph
	g.registerGraphUsers()
	g.registerGraphLicenses()
	g.registerGraphDomains()
	g.registerGraphGDAP()
	g.registerGraphApplications()
	register(s.graphMux, "/v1.0/", func(r *http.Request, c *apiCall) *response {
		if methodAllowedElsewhere(s.graphMux, r, "/v1.0/") {
			return graphError(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.",
				c.requestID, c.clientRequestID, s.clock.Now())
		}
		return c.graphNotFound(r, s.clock.Now())
	})
}

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
	if f := s.faults.take(apiGraph, r); f != nil {
		switch f.Mode {
		case faultDelay, faultDelayCommit:
			// The body is read first: net/http notices that a client gave
			// up only once the body is consumed.
			if err := bufferBody(r); err != nil {
				c.graphBodyError(err, s.clock.Now()).writeTo(w)
				return
			}
			if !faultWait(f, &r) {
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
	// The body is read before any lock is taken (a slow client must not
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

// handleGraph routes r; the handler takes the locks it needs
// (graph_routes.go).
func (s *Server) handleGraph(r *http.Request, c *apiCall) *response {
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
	if tok := s.entra.validToken(r); tok != nil {
		app, tenant = tok.ClientID, tok.TenantID
		c.partner = tok.Partner
	}
	return s.graph.graphTooMany(c, retryAfter, "ResourceUnitLimit", "ResourceUnitLimitExceeded", app, tenant)
}
