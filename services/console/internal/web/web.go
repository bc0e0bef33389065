// Package web is the operators' console: server-rendered HTML pages over
// the deployment's operators' API (Ops) — instances and their credential
// health, tenants with their subscriptions, users and drift, the jobs with a
// retry and a cancel, and the audit log — behind client certificates or an
// admin token login.
package web

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/o365gateway/gateway/services/shared/apierr"
)

// Options of the console's handler.
type Options struct {
	// Ops reaches the deployment.
	Ops Ops
	// Access says how operators get in.
	Access Access
	// Log receives the operators' actions and the refusals (never a secret).
	Log *slog.Logger
	// Timeout bounds the service calls of one page (default 20s).
	Timeout time.Duration
	// PageSize is how many rows a listing asks each service for (default 100).
	PageSize int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Handler serves the console.
type Handler struct {
	ops      Ops
	access   Access
	log      *slog.Logger
	timeout  time.Duration
	pageSize int
	now      func() time.Time
	sessions *sessions
	logins   loginLimit
	pages    *renderer
	mux      *http.ServeMux
	cross    *http.CrossOriginProtection
}

// maxForm bounds a form's body: the console's forms are a few fields.
const maxForm = 64 << 10

// New builds the handler.
func New(o Options) (*Handler, error) {
	if o.Ops == nil {
		return nil, errors.New("web: no Ops")
	}
	if err := o.Access.check(); err != nil {
		return nil, err
	}
	pages, err := newRenderer()
	if err != nil {
		return nil, err
	}
	h := &Handler{ops: o.Ops, access: o.Access, log: o.Log, timeout: o.Timeout, pageSize: o.PageSize, now: o.Now, pages: pages,
		cross: http.NewCrossOriginProtection()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.timeout <= 0 {
		h.timeout = 20 * time.Second
	}
	if h.pageSize <= 0 {
		h.pageSize = 100
	}
	if h.now == nil {
		h.now = time.Now
	}
	if o.Access.Token != nil {
		h.sessions = &sessions{token: o.Access.Token, ttl: o.Access.SessionTTL, now: h.now}
	}
	h.cross.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.log.Warn("console refused a cross-origin request", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"),
			"remote", r.RemoteAddr)
		h.fail(w, r, http.StatusForbidden, "Cross-origin requests are refused: use the console's own pages.")
	}))
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/instances", http.StatusSeeOther) })
	m.HandleFunc("GET /instances", h.instances)
	m.HandleFunc("GET /instances/{instance}", h.instance)
	m.HandleFunc("GET /instances/{instance}/tenants/{tenant}", h.tenant)
	m.HandleFunc("GET /jobs", h.jobs)
	m.HandleFunc("GET /jobs/{service}/{id}", h.job)
	m.HandleFunc("POST /jobs/{service}/{id}/retry", h.jobAction)
	m.HandleFunc("POST /jobs/{service}/{id}/cancel", h.jobAction)
	m.HandleFunc("GET /audit", h.audit)
	m.HandleFunc("POST /logout", h.logout)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { h.fail(w, r, http.StatusNotFound, "No such page.") })
	h.mux = m
	return h, nil
}

// ServeHTTP sets the security headers, refuses cross-origin and forged
// state changes, lets the login page through, and serves every other page
// to identified operators only.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src '"+h.pages.cssHash+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	if r.TLS != nil {
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
	h.cross.Handler(http.HandlerFunc(h.serve)).ServeHTTP(w, r)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
			return
		}
		if !checkCSRF(r) {
			h.log.Warn("console refused a form without its CSRF token", "path", r.URL.Path, "remote", r.RemoteAddr)
			h.fail(w, r, http.StatusForbidden, "The form is stale or did not come from this console: reload the page and try again.")
			return
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		h.fail(w, r, http.StatusMethodNotAllowed, "Method not allowed.")
		return
	}
	if r.URL.Path == "/login" {
		if h.access.ClientCerts {
			if _, ok := h.identify(w, r); !ok {
				return
			}
		}
		h.login(w, r)
		return
	}
	who, ok := h.identify(w, r)
	if !ok {
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(withWho(r.Context(), who)))
}

// ctx bounds the service calls of a page.
func (h *Handler) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.timeout)
}

// flash is a one-time message shown on the page after a redirect.
type flash struct {
	Kind string // ok or error
	Text string
}

func setFlash(w http.ResponseWriter, f flash) {
	text := f.Text
	if len(text) > 1500 {
		text = text[:1500] + "…"
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(f.Kind + "\n" + text)),
		Path: "/", MaxAge: 60, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// takeFlash reads the flash of a request and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil
	}
	kind, text, _ := strings.Cut(string(b), "\n")
	if kind != "ok" {
		kind = "error"
	}
	return &flash{Kind: kind, Text: text}
}

// describe is an error as an operator reads it: the gateway's reason and
// message when it has one.
func describe(err error) string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		parts := []string{}
		for _, e := range joined.Unwrap() {
			parts = append(parts, describe(e))
		}
		return strings.Join(parts, "; ")
	}
	if s, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return statusText(s.GRPCStatus())
	}
	// "tenant: <a status>" keeps its prefix.
	if inner := errors.Unwrap(err); inner != nil {
		if prefix, ok := strings.CutSuffix(err.Error(), inner.Error()); ok {
			return prefix + describe(inner)
		}
	}
	if e := apierr.From(err); e.Reason != apierr.Internal || e.Message != "Internal error in the gateway." {
		return e.Reason + ": " + e.Message
	}
	return err.Error()
}

// statusText is a status as an operator reads it: the gateway's reason
// when the service gave one, else the gRPC code (a service that cannot be
// reached is Unavailable, not one of the gateway's reasons).
func statusText(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == apierr.ErrorDomain {
			return info.GetReason() + ": " + st.Message()
		}
	}
	return st.Code().String() + ": " + st.Message()
}

// statusOf is the HTTP status of a page whose main call failed.
func statusOf(err error) int {
	switch apierr.From(err).Code {
	case codes.NotFound:
		return http.StatusNotFound
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.PermissionDenied, codes.Unauthenticated:
		return http.StatusForbidden
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}
