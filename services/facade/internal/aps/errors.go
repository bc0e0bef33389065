// Package aps is the facade's APS 2 protocol layer around the generated
// grpc-gateway handlers: base path and trailing slashes, the mandatory APS
// headers, certificate authentication per instance, 202/204 answers, and the
// APS error body for every error. It holds no business logic.
package aps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
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
	if rw, ok := w.(*responseWriter); ok {
		rw.reason = reason
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(ErrorBody{Code: code, Type: reason, Error: reason, Message: message})
}

// refusal is a request the APS layer answers itself, before any service
// sees it.
type refusal struct {
	status  int
	reason  string
	message string
}

func (f *refusal) write(w http.ResponseWriter) { WriteError(w, f.status, f.reason, f.message) }

// invalid is a 400 InvalidRequest refusal.
func invalid(format string, args ...any) *refusal {
	return &refusal{status: http.StatusBadRequest, reason: apierr.InvalidRequest, message: fmt.Sprintf(format, args...)}
}

// tooLarge is the 413 refusal of a body over limit bytes.
func tooLarge(limit int64) *refusal {
	return &refusal{status: http.StatusRequestEntityTooLarge, reason: apierr.InvalidRequest,
		message: fmt.Sprintf("The request body is larger than the gateway accepts (%d bytes).", limit)}
}

// errorHandler turns a gRPC status into the APS error body. A service's
// status carries its reason and a message meant for the operator. Any other
// error comes from grpc-gateway or the gRPC transport: its text is internal
// (addresses, marshalling details), so only grpc-gateway's own complaints
// about the request (InvalidArgument) are shown, and the rest is named in
// the request's log line instead.
func errorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	var httpErr *runtime.HTTPStatusError
	if errors.As(err, &httpErr) && httpErr.HTTPStatus >= 400 && httpErr.HTTPStatus < 500 {
		WriteError(w, httpErr.HTTPStatus, apierr.InvalidRequest, "The request path is malformed.")
		return
	}
	st := status.Convert(err)
	e := apierr.FromStatus(st)
	msg := e.Message
	if !fromService(st) && st.Code() != codes.InvalidArgument {
		noteCause(w, err)
		msg = gatewayMessage(st.Code())
	}
	if msg == "" {
		msg = http.StatusText(e.HTTPStatus())
	}
	WriteError(w, e.HTTPStatus(), e.Reason, msg)
}

// fromService tells whether st is a service's answer: services send every
// refusal with the gateway's ErrorInfo (package apierr).
func fromService(st *status.Status) bool {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == apierr.ErrorDomain {
			return true
		}
	}
	return false
}

// gatewayMessage is what an operator is told about a failure inside the
// gateway (not a service's refusal); "" for the HTTP status text.
func gatewayMessage(c codes.Code) string {
	switch c {
	case codes.Unavailable:
		return "A gateway service is unavailable right now; try again."
	case codes.DeadlineExceeded:
		return "The gateway did not answer in time; try again."
	case codes.Canceled:
		return "The request was cancelled."
	case codes.Unimplemented:
		return "This operation is not implemented by the gateway."
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return "Internal error in the gateway."
	default:
		return ""
	}
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
