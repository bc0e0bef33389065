package aps

import (
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
)

// DefaultMaxBody bounds request bodies when Options.MaxBody is zero.
const DefaultMaxBody = 1 << 20

// Options of the APS layer.
type Options struct {
	// BasePath is stripped from request paths ("" or like "/aps").
	BasePath string
	Certs    ControllerCerts
	// ControllerCA, when set, must sign the controller certificate of new instances.
	ControllerCA *x509.CertPool
	Log          *slog.Logger
	// MaxBody bounds request bodies (default DefaultMaxBody); a longer one is a 413.
	MaxBody int64
}

// Handler wraps the REST handler with the APS protocol layer. Every request
// is counted in aps_requests_total and timed in aps_request_duration_seconds
// by its operation: the method and route template (when next is the mux of
// MuxOptions), or Unrouted.
func Handler(next http.Handler, o Options) http.Handler {
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &responseWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				o.Log.Error("panic in facade", "panic", p)
				WriteError(rw, http.StatusInternalServerError, apierr.Internal, "Internal error in the gateway.")
			}
			if o.Log.Enabled(r.Context(), slog.LevelInfo) {
				attrs := make([]slog.Attr, 0, 9)
				attrs = append(attrs, slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rw.status),
					slog.Int64("duration_ms", time.Since(start).Milliseconds()), slog.String("instance_id", r.Header.Get("APS-Instance-ID")),
					slog.String("aps_phase", r.Header.Get("APS-Request-Phase")), slog.String("aps_transaction_id", r.Header.Get("APS-Transaction-ID")),
					slog.String("aps_info", rw.Header().Get("APS-Info")))
				if rw.cause != nil {
					attrs = append(attrs, slog.String("error", rw.cause.Error()))
				}
				o.Log.LogAttrs(r.Context(), slog.LevelInfo, "aps request", attrs...)
			}
			record(r.Context(), rw, time.Since(start))
		}()
		serve(rw, r, next, o)
	})
}

func serve(w http.ResponseWriter, r *http.Request, next http.Handler, o Options) {
	path := r.URL.Path
	if o.BasePath != "" {
		if path != o.BasePath && !strings.HasPrefix(path, o.BasePath+"/") {
			WriteError(w, http.StatusNotFound, apierr.NotFound, "APS services are served under "+o.BasePath+"/.")
			return
		}
		path = strings.TrimPrefix(path, o.BasePath)
	}
	path = "/" + strings.Trim(path, "/")
	r.URL.Path, r.URL.RawPath = path, ""
	dropInternalHeaders(r)
	if f := checkRequestLine(r); f != nil {
		f.write(w)
		return
	}

	if r.Header.Get("APS-Instance-ID") == "" || r.Header.Get("APS-Controller-URI") == "" {
		WriteError(w, http.StatusBadRequest, apierr.InvalidRequest, "The APS-Instance-ID and APS-Controller-URI headers are required.")
		return
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		WriteError(w, http.StatusUnauthorized, apierr.Unauthenticated, "A client certificate is required.")
		return
	}
	presented := r.TLS.PeerCertificates[0].Raw
	instanceID := r.Header.Get("APS-Instance-ID")

	if r.Method == http.MethodPost && path == "/app" {
		body, f := readBody(w, r, o.MaxBody)
		if f != nil {
			f.write(w)
			return
		}
		ctrl, err := controllerFromBody(body)
		if err != nil {
			WriteError(w, http.StatusBadRequest, apierr.InvalidRequest, "Invalid instance creation: "+err.Error()+".")
			return
		}
		if !sameCert(presented, ctrl) {
			WriteError(w, http.StatusForbidden, apierr.Forbidden, "The client certificate is not the controller certificate of this instance.")
			return
		}
		if o.ControllerCA != nil && !chainsTo(presented, o.ControllerCA) {
			WriteError(w, http.StatusForbidden, apierr.Forbidden, "The controller certificate is not signed by the trusted controller CA.")
			return
		}
		// A repeated creation must come from the controller that created
		// the instance; a lookup that fails refuses rather than guesses.
		switch stored, err := o.Certs.ControllerCert(r.Context(), instanceID); {
		case err == nil && !sameCert(presented, stored):
			WriteError(w, http.StatusForbidden, apierr.Forbidden, "The instance exists and belongs to another controller.")
			return
		case err != nil && !errors.Is(err, ErrUnknownInstance):
			o.Log.ErrorContext(r.Context(), "instance lookup failed", "error", err.Error())
			WriteError(w, http.StatusServiceUnavailable, apierr.UpstreamUnavailable, "The gateway cannot check the instance right now (its tenant service is unavailable); try again.")
			return
		}
		// The lookup above may have remembered the id as unknown: the
		// instance exists once this call is through, on this replica at once.
		defer o.Certs.Forget(instanceID)
		next.ServeHTTP(w, r)
		return
	}

	stored, err := o.Certs.ControllerCert(r.Context(), instanceID)
	if errors.Is(err, ErrUnknownInstance) && isInstanceRemoval(r.Method, path) {
		// "Gone" must not come from this replica's memory of an unknown id:
		// the instance may have been created on another replica a moment
		// ago, and a 204 would then leave it behind. Ask again.
		o.Certs.Forget(instanceID)
		stored, err = o.Certs.ControllerCert(r.Context(), instanceID)
	}
	switch {
	case errors.Is(err, ErrUnknownInstance) && isInstanceRemoval(r.Method, path):
		// A re-send of an uninstall whose answer was lost finds the
		// instance gone: an unprovision of an unknown id answers 204. No
		// certificate can be checked, and none needs to be: nothing is
		// changed, and the answer tells no more than a 404 would.
		w.WriteHeader(http.StatusNoContent)
		return
	case errors.Is(err, ErrUnknownInstance):
		WriteError(w, http.StatusNotFound, apierr.UnknownInstance, "No application instance is registered under APS-Instance-ID "+instanceID+".")
		return
	case err != nil:
		o.Log.ErrorContext(r.Context(), "instance lookup failed", "error", err.Error())
		WriteError(w, http.StatusServiceUnavailable, apierr.UpstreamUnavailable, "The gateway cannot check the instance right now (its tenant service is unavailable); try again.")
		return
	}
	if !sameCert(presented, stored) {
		WriteError(w, http.StatusForbidden, apierr.Forbidden, "The client certificate is not the controller certificate of this instance.")
		return
	}
	if _, f := readBody(w, r, o.MaxBody); f != nil {
		f.write(w)
		return
	}
	next.ServeHTTP(w, r)
}

// responseWriter records the status and drops bodies of 204 answers.
type responseWriter struct {
	http.ResponseWriter
	status  int
	noBody  bool
	written bool
	// cause is an internal error the answer does not show; the request's
	// log line names it.
	cause error
	// route is the method and route template of the matched route (the
	// operation in the metrics); "" when none matched.
	route string
	// reason is the APS error type of an error answer.
	reason string
}

// noteCause records the internal cause of an answer for the log line.
func noteCause(w http.ResponseWriter, err error) {
	if rw, ok := w.(*responseWriter); ok {
		rw.cause = err
	}
}

func (w *responseWriter) WriteHeader(code int) {
	if w.written {
		return
	}
	w.written = true
	w.status = code
	w.noBody = code == http.StatusNoContent
	if w.noBody {
		w.Header().Del("Content-Type")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// isInstanceRemoval tells whether the request is the unprovision of an
// application instance: DELETE /app/{id} (path without the base path).
func isInstanceRemoval(method, path string) bool {
	id, ok := strings.CutPrefix(path, "/app/")
	return method == http.MethodDelete && ok && apsmd.IsID(id)
}
