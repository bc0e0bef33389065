package mscloud

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// Routing plumbing shared by the Partner Center and Graph muxes: handlers
// return a whole answer (response) instead of writing it, so the front
// doors can store it for MS-RequestId replay or swap it for a fault.

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

// apiHandler is what Partner Center and Graph handlers look like: they
// return the whole answer. Partner Center handlers run with pcService.mu
// held; Graph handlers take the locks they need (graph_routes.go).
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

// bearer returns the bearer token of r's Authorization header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
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
