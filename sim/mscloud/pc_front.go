package mscloud

import (
	"net/http"
	"strings"
	"time"
)

// The Partner Center front door (/v1/...): headers, faults,
// authentication, throttling and MS-RequestId replay around the handlers
// of pcService. Each step takes only its own lock: the token lookup
// entraService.mu, throttling pcBuckets.mu, replay replayStore.mu, the
// handler pcService.mu. None is held while the request waits (for a fault
// delay or for a duplicate in flight).

func (s *Server) registerPartnerCenter() {
	pc := s.pc
	pc.registerPCValidation()
	pc.registerPCCustomers()
	pc.registerPCAgreements()
	pc.registerPCCatalog()
	pc.registerPCOrders()
	pc.registerPCCarts()
	pc.registerPCSubscriptions()
	pc.registerPCTransitions()
	pc.registerPCConsents()
	s.pcMux.HandleFunc("/v1/", func(_ http.ResponseWriter, r *http.Request) {
		c := callFrom(r)
		if methodAllowedElsewhere(s.pcMux, r, "/v1/") {
			c.resp = pcError(http.StatusMethodNotAllowed, codeMethodNotAllowed, "The requested method is not supported on this resource.")
			return
		}
		c.resp = pcError(http.StatusNotFound, codeRouteNotFound, "The requested resource was not found: "+r.URL.Path)
	})
}

// servePartnerCenter: headers, faults, authentication, throttling, replay,
// then the handler.
func (s *Server) servePartnerCenter(w http.ResponseWriter, r *http.Request) {
	requestID := r.Header.Get("MS-RequestId")
	echoID := requestID
	if echoID == "" {
		echoID = newGUID()
	}
	correlationID := r.Header.Get("MS-CorrelationId")
	if correlationID == "" {
		correlationID = newGUID()
	}
	w.Header().Set("MS-RequestId", echoID)
	w.Header().Set("MS-CorrelationId", correlationID)
	w.Header().Set("MS-CV", newMSCV())

	f := s.faults.take(apiPartnerCenter, r)
	var refuse *fault
	if f != nil {
		switch f.Mode {
		case faultDelay:
			// A client that gives up during the wait never reached the
			// service: nothing is done and nothing is stored.
			if err := bufferBody(r); err != nil {
				pcBodyError(err).writeTo(w)
				return
			}
			if !faultWait(f, &r) {
				abandon()
			}
		case faultError:
			pcFault(f.Status).writeTo(w)
			return
		case faultThrottle:
			pcThrottled(f.RetryAfterSeconds).writeTo(w)
			return
		case faultRefuse:
			refuse = f // answered in place of the work, after authentication, throttling and replay
		}
	}
	if err := bufferBody(r); err != nil {
		pcBodyError(err).writeTo(w)
		return
	}
	var own chan struct{}
	release := func() {}
	if f != nil && f.Mode == faultDelayCommit {
		// The service has accepted the request: it finishes the work and
		// stores the outcome even if the client disconnects meanwhile.
		// Until then a request with the same MS-RequestId waits for it.
		own, release = s.beginInFlight(r, requestID)
		faultWait(f, &r)
	}
	resp := s.handlePartnerCenter(r, requestID, refuse, own)
	release()
	if resp == nil {
		abandon() // the client gave up while waiting for an in-flight duplicate
	}
	if f != nil && f.Mode == faultErrorAfterCommit {
		resp = pcFault(f.Status)
	}
	resp.writeTo(w)
}

// beginInFlight marks r's MS-RequestId as being processed (delay_commit),
// unless it is not replayable, not authenticated, already answered or
// already in flight. release ends the mark and wakes the waiters.
func (s *Server) beginInFlight(r *http.Request, requestID string) (own chan struct{}, release func()) {
	tok, denied := s.authenticatePC(r)
	if denied != nil {
		return nil, func() {}
	}
	key, replayable := replayKeyOf(s.settings.get(), r, tok.Partner, requestID)
	if !replayable {
		return nil, func() {}
	}
	if own = s.replay.begin(key); own == nil {
		return nil, func() {}
	}
	return own, func() { s.replay.release(key, own) }
}

// handlePartnerCenter authenticates, throttles, replays a stored answer for
// the MS-RequestId (waiting first for an in-flight request with the same
// one, unless that is own), and otherwise runs the handler, or answers the
// refuse fault instead, and stores the answer for replay. It returns nil if
// r's client gave up while waiting.
func (s *Server) handlePartnerCenter(r *http.Request, requestID string, refuse *fault, own chan struct{}) *response {
	// A refusal is an answer to a processed request: when Partner Center
	// answers before that (401, 429, a stored answer), the refuse fault has
	// not acted and its hit is given back.
	unused := func() {
		if refuse != nil {
			s.faults.giveBack(refuse.ID)
		}
	}
	tok, denied := s.authenticatePC(r)
	if denied != nil {
		unused()
		return denied
	}
	p := tok.Partner
	st := s.settings.get()
	if wait := s.buckets.take(st, p.TenantID, customerIDFromPath(r.URL.Path), isPurchase(r), s.clock.Now()); wait > 0 {
		unused()
		return pcThrottled(wait)
	}
	key, replayable := replayKeyOf(st, r, p, requestID)
	if replayable {
		stored, claim, ok := s.replay.await(r.Context(), key, own)
		switch {
		case !ok:
			unused()
			return nil
		case stored != nil:
			unused()
			return stored
		case claim != nil:
			// One piece of work per key: duplicates wait for this answer.
			defer s.replay.release(key, claim)
		}
	}
	var resp *response
	if refuse != nil {
		resp = pcRefusal(refuse.Status)
	} else {
		resp = s.pc.serve(r, &apiCall{partner: p, token: tok})
	}
	if resp == nil {
		resp = pcError(http.StatusNotFound, codeRouteNotFound, "The requested resource was not found: "+r.URL.Path)
	}
	if replayable {
		s.replay.store(key, resp)
	}
	return resp
}

// authenticatePC accepts only unexpired Partner Center tokens issued by the
// partner's own tenant.
func (s *Server) authenticatePC(r *http.Request) (*accessToken, *response) {
	raw, ok := bearer(r)
	if !ok {
		return nil, pcUnauthorized("Authorization header with a bearer token is required.")
	}
	tok := s.entra.token(raw)
	switch {
	case tok == nil:
		return nil, pcUnauthorized("The access token is not valid.")
	case !time.Now().Before(tok.Expires):
		return nil, pcUnauthorized("The access token has expired.")
	case tok.Audience != tok.Partner.Cloud.PartnerCenterAudience:
		return nil, pcUnauthorized("The access token audience is not valid for Partner Center.")
	case tok.TenantID != tok.Partner.TenantID:
		return nil, pcUnauthorized("The access token was not issued by a partner tenant.")
	}
	return tok, nil
}

// customerIDFromPath returns {id} of /v1/customers/{id}[/...], else "".
func customerIDFromPath(path string) string {
	rest, ok := strings.CutPrefix(path, "/v1/customers/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return strings.ToLower(id)
}
