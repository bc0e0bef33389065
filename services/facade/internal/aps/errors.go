// Package aps is the facade's APS 2 protocol layer around the generated
// grpc-gateway handlers: base path and trailing slashes, the mandatory APS
// headers, certificate authentication per instance, 202/204 answers, and the
// APS error body for every error. It holds no business logic.
package aps

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/status"

	"github.com/o365gateway/gateway/services/shared/apierr"
)

// ErrorBody is the APS error answer.
type ErrorBody struct {
	Code    int    `json:"code"`
	Type    string `json:"type"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// WriteError writes an APS error answer.
func WriteError(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(ErrorBody{Code: code, Type: reason, Error: reason, Message: message})
}

// errorHandler turns a gRPC status from a service into the APS error body.
func errorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	st := status.Convert(err)
	e := apierr.FromStatus(st)
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.HTTPStatus())
	}
	WriteError(w, e.HTTPStatus(), e.Reason, msg)
}

// routingErrorHandler answers unknown paths and methods with the APS body.
func routingErrorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
	switch code {
	case http.StatusMethodNotAllowed:
		WriteError(w, code, apierr.InvalidRequest, "Method "+r.Method+" is not allowed on this path.")
	case http.StatusNotFound:
		WriteError(w, code, apierr.NotFound, "No APS service or operation at "+r.URL.Path+".")
	default:
		WriteError(w, code, apierr.InvalidRequest, http.StatusText(code))
	}
}
