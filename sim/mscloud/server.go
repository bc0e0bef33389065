package mscloud

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Default throttling rates and token lifetime.
const (
	DefaultPartnerRPS    = 100
	DefaultCustomerRPS   = 20
	DefaultTokenLifetime = 3599 * time.Second
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// ClockStart is the simulated time at start-up; zero means now.
	ClockStart time.Time
	// DisableRequestIdReplay turns off MS-RequestId replay of stored answers.
	DisableRequestIdReplay bool
	// PartnerRPS and CustomerRPS are the Partner Center token-bucket rates
	// per partner and per partner+customer (requests per second, burst one
	// second's worth). Zero means the default; negative means unlimited.
	PartnerRPS  float64
	CustomerRPS float64
	// TokenLifetime of access tokens; zero means 3599s.
	TokenLifetime time.Duration
	// OrderCompletion is how long (simulated time) new orders stay
	// "pending"; zero completes them at once.
	OrderCompletion time.Duration
	// SlowPatch makes subscription quantity PATCHes answer 202 and land
	// after this long (simulated time); zero applies them at once.
	SlowPatch time.Duration
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
}

// settings are the knobs the admin API can change at run time.
type settings struct {
	Replay          bool
	PartnerRPS      float64 // 0 = unlimited
	CustomerRPS     float64 // 0 = unlimited
	PurchaseRPS     float64 // 0 = off: extra per partner+customer bucket for orders and checkout
	TokenLifetime   time.Duration
	OrderCompletion time.Duration
	SlowPatch       time.Duration
	// Graph (graph_*.go).
	CustomerPropagation time.Duration // simulated clock: customer tenants refuse tokens this long after creation
	UsageLocationLag    time.Duration // real time: a new usageLocation reaches license assignment this late
	GraphWriteLimit     int           // writes per app+tenant per GraphWriteWindow
	GraphWriteWindow    time.Duration // real time
	GraphRUScale        float64       // multiplier of the resource-unit limits per app+tenant and 10 s
	RequireAppConsent   bool          // customer-tenant tokens need an application consent (pc_consents.go)
}

// Server is the Microsoft cloud simulator. It is safe for concurrent use.
type Server struct {
	log   *slog.Logger
	clock *Clock

	mu           sync.Mutex // guards everything below
	settings     settings
	partners     map[string]*partner // by tenant id
	order        []*partner
	customers    map[string]*customer
	domains      map[string]*customer // lower-case domain
	tokens       map[string]*accessToken
	refresh      map[string]*refreshToken
	replay       map[replayKey]*response
	inflight     map[replayKey]chan struct{} // delay_commit requests still being processed; closed when done
	faults       []*fault
	faultSeq     int
	buckets      map[string]*bucket
	graphBudgets map[string]*graphBudget // Graph throttling per app+tenant (graph_throttle.go)
	dns          map[string][]string     // published DNS TXT records by lower-case domain (POST /_sim/dns)

	pcMux, graphMux, loginMux, adminMux *http.ServeMux
}

type replayKey struct{ partner, method, path, requestID string }

// New builds a simulator.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rate := func(v float64, def float64) float64 {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	lifetime := opts.TokenLifetime
	if lifetime <= 0 {
		lifetime = DefaultTokenLifetime
	}
	s := &Server{
		log:   log,
		clock: NewClock(opts.ClockStart),
		settings: settings{
			Replay:           !opts.DisableRequestIdReplay,
			PartnerRPS:       rate(opts.PartnerRPS, DefaultPartnerRPS),
			CustomerRPS:      rate(opts.CustomerRPS, DefaultCustomerRPS),
			TokenLifetime:    lifetime,
			OrderCompletion:  max(0, opts.OrderCompletion),
			SlowPatch:        max(0, opts.SlowPatch),
			GraphWriteLimit:  DefaultGraphWriteLimit,
			GraphWriteWindow: DefaultGraphWriteWindow,
			GraphRUScale:     1,
		},
		partners:     map[string]*partner{},
		customers:    map[string]*customer{},
		domains:      map[string]*customer{},
		tokens:       map[string]*accessToken{},
		refresh:      map[string]*refreshToken{},
		replay:       map[replayKey]*response{},
		inflight:     map[replayKey]chan struct{}{},
		buckets:      map[string]*bucket{},
		graphBudgets: map[string]*graphBudget{},
		dns:          map[string][]string{},
		pcMux:        http.NewServeMux(),
		graphMux:     http.NewServeMux(),
		loginMux:     http.NewServeMux(),
		adminMux:     http.NewServeMux(),
	}
	s.registerLogin()
	s.registerPartnerCenter()
	s.registerGraph()
	s.registerAdmin()
	return s
}

// Handler returns the HTTP handler serving login, Partner Center, Graph and
// the admin API on one listener.
func (s *Server) Handler() http.Handler { return s }

// Clock returns the simulated clock.
func (s *Server) Clock() *Clock { return s.clock }

// The four APIs behind the one listener, named as the fault API calls them.
const (
	apiLogin         = "login"
	apiPartnerCenter = "partnercenter"
	apiGraph         = "graph"
	apiAdmin         = "admin"
)

func apiOf(path string) string {
	switch {
	case path == "/_sim" || strings.HasPrefix(path, "/_sim/"):
		return apiAdmin
	case path == "/v1" || strings.HasPrefix(path, "/v1/"):
		return apiPartnerCenter
	case path == "/v1.0" || strings.HasPrefix(path, "/v1.0/"):
		return apiGraph
	}
	return apiLogin
}

func (s *Server) registerPartnerCenter() {
	s.registerPCValidation()
	s.registerPCCustomers()
	s.registerPCAgreements()
	s.registerPCCatalog()
	s.registerPCOrders()
	s.registerPCCarts()
	s.registerPCSubscriptions()
	s.registerPCTransitions()
	s.registerPCConsents()
	s.pcMux.HandleFunc("/v1/", func(_ http.ResponseWriter, r *http.Request) {
		c := callFrom(r)
		if methodAllowedElsewhere(s.pcMux, r, "/v1/") {
			c.resp = pcError(http.StatusMethodNotAllowed, codeMethodNotAllowed, "The requested method is not supported on this resource.")
			return
		}
		c.resp = pcError(http.StatusNotFound, codeRouteNotFound, "The requested resource was not found: "+r.URL.Path)
	})
}

// ServeHTTP dispatches by path prefix and logs one line per request. Nothing
// secret is logged: no bodies, no query strings, no authorization header.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	api := apiOf(r.URL.Path)
	answered := false
	defer func() {
		status := rec.status
		if !answered {
			status = 0 // abandoned: no answer sent
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("api", api), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Int64("duration_ms", time.Since(start).Milliseconds()),
			slog.String("ms_request_id", r.Header.Get("MS-RequestId")),
			slog.String("ms_correlation_id", r.Header.Get("MS-CorrelationId")))
	}()
	switch api {
	case apiAdmin:
		s.adminMux.ServeHTTP(rec, r)
	case apiPartnerCenter:
		s.servePartnerCenter(rec, r)
	case apiGraph:
		s.serveGraph(rec, r)
	default:
		s.serveLogin(rec, r)
	}
	answered = true
}

// abandon ends a request whose client has gone away without any answer:
// net/http closes the connection (a handler that merely returned would
// send an empty 200).
func abandon() { panic(http.ErrAbortHandler) }

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// apiCall carries per-request context into handlers registered on the
// Partner Center and Graph muxes, and their answer back out.
type apiCall struct {
	partner *partner
	token   *accessToken
	resp    *response
	// Graph only: request-id and client-request-id of the answer.
	requestID, clientRequestID string
}

type callKey struct{}

func callFrom(r *http.Request) *apiCall { return r.Context().Value(callKey{}).(*apiCall) }

// apiHandler is what Partner Center and Graph handlers look like: they run
// with s.mu held and return the whole answer.
type apiHandler func(r *http.Request, c *apiCall) *response

func register(mux *http.ServeMux, pattern string, h apiHandler) {
	mux.HandleFunc(pattern, func(_ http.ResponseWriter, r *http.Request) {
		c := callFrom(r)
		c.resp = h(r, c)
	})
}

// route runs mux for r and returns the handler's answer (nil if the mux
// answered by itself, e.g. with a redirect).
func route(mux *http.ServeMux, r *http.Request, c *apiCall) *response {
	mux.ServeHTTP(discardWriter{}, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
	return c.resp
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

// methodAllowedElsewhere reports whether the path of r has a route for
// another method (405 rather than 404) on mux, whose catch-all is fallback.
func methodAllowedElsewhere(mux *http.ServeMux, r *http.Request, fallback string) bool {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead} {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pattern := mux.Handler(r2); pattern != "" && pattern != fallback {
			return true
		}
	}
	return false
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

	f := s.takeFault(apiPartnerCenter, r)
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
			if !s.faultWait(f, &r) {
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
		s.faultWait(f, &r)
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

// replayKeyOf returns the MS-RequestId replay key of r for partner p, and
// whether r is replayable at all (replay on, MS-RequestId set, not GET or
// HEAD). Caller holds s.mu.
func (s *Server) replayKeyOf(r *http.Request, p *partner, requestID string) (replayKey, bool) {
	ok := s.settings.Replay && requestID != "" && r.Method != http.MethodGet && r.Method != http.MethodHead
	return replayKey{p.TenantID, r.Method, r.URL.Path, requestID}, ok
}

// beginInFlight marks r's MS-RequestId as being processed (delay_commit),
// unless it is not replayable, not authenticated, already answered or
// already in flight. release ends the mark and wakes the waiters.
func (s *Server) beginInFlight(r *http.Request, requestID string) (own chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, denied := s.authenticatePC(r)
	if denied != nil {
		return nil, func() {}
	}
	key, replayable := s.replayKeyOf(r, tok.Partner, requestID)
	if !replayable || s.replay[key] != nil || s.inflight[key] != nil {
		return nil, func() {}
	}
	own = make(chan struct{})
	s.inflight[key] = own
	return own, func() {
		s.mu.Lock()
		if s.inflight[key] == own {
			delete(s.inflight, key)
		}
		s.mu.Unlock()
		close(own)
	}
}

// handlePartnerCenter authenticates, throttles, replays a stored answer for
// the MS-RequestId (waiting first for an in-flight request with the same
// one, unless that is own), and otherwise runs the handler, or answers the
// refuse fault instead, and stores the answer for replay. It returns nil if
// r's client gave up while waiting.
func (s *Server) handlePartnerCenter(r *http.Request, requestID string, refuse *fault, own chan struct{}) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A refusal is an answer to a processed request: when Partner Center
	// answers before that (401, 429, a stored answer), the refuse fault has
	// not acted and its hit is given back.
	unused := func() {
		if refuse != nil {
			s.returnFault(refuse.ID)
		}
	}
	tok, denied := s.authenticatePC(r)
	if denied != nil {
		unused()
		return denied
	}
	p := tok.Partner
	if wait := s.throttlePC(p, customerIDFromPath(r.URL.Path), isPurchase(r)); wait > 0 {
		unused()
		return pcThrottled(wait)
	}
	key, replayable := s.replayKeyOf(r, p, requestID)
	for replayable {
		if stored, ok := s.replay[key]; ok {
			unused()
			return stored
		}
		done := s.inflight[key]
		if done == nil || done == own {
			break
		}
		s.mu.Unlock()
		select {
		case <-done:
		case <-r.Context().Done():
		}
		s.mu.Lock()
		if r.Context().Err() != nil {
			unused()
			return nil
		}
	}
	var resp *response
	if refuse != nil {
		resp = pcRefusal(refuse.Status)
	} else {
		resp = route(s.pcMux, r, &apiCall{partner: p, token: tok})
	}
	if resp == nil {
		resp = pcError(http.StatusNotFound, codeRouteNotFound, "The requested resource was not found: "+r.URL.Path)
	}
	if replayable {
		s.replay[key] = resp
	}
	return resp
}

// authenticatePC accepts only unexpired Partner Center tokens issued by the
// partner's own tenant. Caller holds s.mu.
func (s *Server) authenticatePC(r *http.Request) (*accessToken, *response) {
	raw, ok := bearer(r)
	if !ok {
		return nil, pcUnauthorized("Authorization header with a bearer token is required.")
	}
	tok := s.tokens[raw]
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

// lookupToken returns the unexpired token the request carries, or nil.
// Caller holds s.mu.
func (s *Server) lookupToken(r *http.Request) *accessToken {
	raw, ok := bearer(r)
	if !ok {
		return nil
	}
	tok := s.tokens[raw]
	if tok == nil || !time.Now().Before(tok.Expires) {
		return nil
	}
	return tok
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
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

// bodyError is a request body the simulator does not read: too large (413),
// in a content coding it does not know (415), or not decodable (400).
type bodyError struct {
	status int
	msg    string
}

func (e *bodyError) Error() string { return e.msg }

// bodyProblem returns the status and message of a body error.
func bodyProblem(err error) (int, string) {
	var be *bodyError
	if errors.As(err, &be) {
		return be.status, be.msg
	}
	return http.StatusBadRequest, "The request body could not be read."
}

var errBodyTooLarge = &bodyError{http.StatusRequestEntityTooLarge, "The request body is too large."}

// readBody reads r's body, at most maxRequestBodyBytes of it as sent and,
// when it is compressed (Content-Encoding gzip or deflate, as Microsoft's
// SDKs send it: msgraph-sdk-go gzips every request body), at most
// maxRequestBodyBytes decompressed, so a small compressed body cannot
// expand without bound. Codings (at most two) are undone in reverse order
// of the header; identity is ignored; any other coding is a 415, on which
// the SDKs resend the body uncompressed.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxRequestBodyBytes {
		return nil, errBodyTooLarge
	}
	var codings []string
	for _, v := range r.Header.Values("Content-Encoding") {
		for _, c := range strings.Split(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	if len(codings) > 2 {
		// Each coding may expand the body to the limit again: a long
		// list would cost as much work as it lists codings.
		return nil, &bodyError{http.StatusUnsupportedMediaType, "More than two content encodings are not supported."}
	}
	for i := len(codings) - 1; i >= 0; i-- {
		var zr io.ReadCloser
		switch codings[i] {
		case "gzip", "x-gzip":
			zr, err = gzip.NewReader(bytes.NewReader(b))
		case "deflate":
			zr, err = zlib.NewReader(bytes.NewReader(b))
		default:
			return nil, &bodyError{http.StatusUnsupportedMediaType, "The content encoding " + codings[i] + " is not supported."}
		}
		if err != nil {
			return nil, &bodyError{http.StatusBadRequest, "The request body is not valid " + codings[i] + " data."}
		}
		b, err = io.ReadAll(io.LimitReader(zr, maxRequestBodyBytes+1))
		zr.Close()
		switch {
		case len(b) > maxRequestBodyBytes:
			return nil, errBodyTooLarge
		case err != nil:
			return nil, &bodyError{http.StatusBadRequest, "The request body is not valid " + codings[i] + " data."}
		}
	}
	return b, nil
}

// bufferBody reads r's body into memory (so that it survives the client
// going away, for delay_commit), decompressed, and puts it back as r.Body
// without its Content-Encoding.
func bufferBody(r *http.Request) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.Header.Del("Content-Encoding")
	r.ContentLength = int64(len(b))
	return nil
}

// decodeJSON reads a JSON body into v. Field names match case-insensitively,
// so PascalCase and camelCase bodies both work.
func decodeJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("the request body is empty")
	}
	return json.Unmarshal(b, v)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// baseURL is the externally visible https://host[:port] of the request.
func baseURL(r *http.Request) string { return "https://" + r.Host }
