package mscloud

import (
	"log/slog"
	"net/http"
	"strings"
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

// Server is the Microsoft cloud simulator. It is safe for concurrent use.
//
// Its state is split by API into three parts, each with its own lock
// (lockorder.go gives the order in which they may be held together):
// entra (partners, their application's secrets, tokens), pc (Partner
// Center customers and commerce) and graph (customer directories, GDAP).
// The rest is shared infrastructure, each piece behind its own leaf lock.
type Server struct {
	log   *slog.Logger
	clock *Clock

	// Shared infrastructure (leaf locks).
	settings *settingsStore
	faults   *faultTable
	replay   *replayStore  // MS-RequestId answers (Partner Center)
	buckets  *pcBuckets    // Partner Center throttling
	budgets  *graphBudgets // Graph throttling
	dns      *dnsZone      // simulated public DNS

	// The API parts.
	entra *entraService
	pc    *pcService
	graph *graphService

	pcMux, graphMux, loginMux, adminMux *http.ServeMux
}

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
		settings: newSettingsStore(settings{
			Replay:           !opts.DisableRequestIdReplay,
			PartnerRPS:       rate(opts.PartnerRPS, DefaultPartnerRPS),
			CustomerRPS:      rate(opts.CustomerRPS, DefaultCustomerRPS),
			TokenLifetime:    lifetime,
			OrderCompletion:  max(0, opts.OrderCompletion),
			SlowPatch:        max(0, opts.SlowPatch),
			GraphWriteLimit:  DefaultGraphWriteLimit,
			GraphWriteWindow: DefaultGraphWriteWindow,
			GraphRUScale:     1,
		}),
		faults:   &faultTable{},
		replay:   newReplayStore(),
		buckets:  newPCBuckets(),
		budgets:  newGraphBudgets(),
		dns:      newDNSZone(),
		pcMux:    http.NewServeMux(),
		graphMux: http.NewServeMux(),
		loginMux: http.NewServeMux(),
		adminMux: http.NewServeMux(),
	}
	// The parts, innermost lock first (lockorder.go). Partner Center and
	// Graph know each other: Graph's pointer is set once both exist.
	s.entra = newEntraService(log, s.clock)
	s.graph = newGraphService(s.clock, s.settings, s.budgets, s.dns, s.entra, s.graphMux)
	s.pc = newPCService(s.clock, s.settings, s.graph, s.entra, s.pcMux)
	s.graph.pc = s.pc
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
