// Package apierr is the one place where the gateway's errors become gRPC
// statuses, and where the facade turns them back into APS error bodies.
//
// Every refusal carries a machine-readable reason (the APS error `type`), a
// message for a person, and a standard gRPC code. The reason travels as a
// google.rpc.ErrorInfo detail so that it survives the gRPC hop.
package apierr

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every gateway error
// (the namespace of its reasons; nothing to do with DNS domains).
const ErrorDomain = "o365gateway.org"

// Reasons that the APS contract requires (more may be added).
const (
	InvalidRequest              = "InvalidRequest"
	UnknownInstance             = "UnknownInstance"
	Unauthenticated             = "Unauthenticated"
	Forbidden                   = "Forbidden"
	WrongCloud                  = "WrongCloud"
	NotFound                    = "NotFound"
	CustomerCountryNotSupported = "CustomerCountryNotSupported"
	DomainAlreadyTaken          = "DomainAlreadyTaken"
	InvalidAddress              = "InvalidAddress"
	CustomerNotFound            = "CustomerNotFound"
	OfferNotFound               = "OfferNotFound"
	QuantityOutOfRange          = "QuantityOutOfRange"
	CancellationWindowClosed    = "CancellationWindowClosed"
	NotEnoughLicenses           = "NotEnoughLicenses"
	UsageLocationRequired       = "UsageLocationRequired"
	NotSupportedInCloud         = "NotSupportedInCloud"
	Throttled                   = "Throttled"
	MicrosoftUnavailable        = "MicrosoftUnavailable"
	MicrosoftRefused            = "MicrosoftRefused"
	AddOnParentRequired         = "AddOnParentRequired"
	CustomerAgreementRequired   = "CustomerAgreementRequired"
	TenantNotReady              = "TenantNotReady"
	SandboxLimitReached         = "SandboxLimitReached"
	DomainNotVerified           = "DomainNotVerified"
	UserAlreadyExists           = "UserAlreadyExists"
	// UpstreamUnavailable: the facade cannot reach the gateway's own
	// service behind a route (stopped, restarting, unreachable); the
	// routes of the other services keep working. Try again later.
	UpstreamUnavailable = "UpstreamUnavailable"
	// GdapPendingApproval: an app+user instance cannot act in the
	// customer's directory before the customer approves the partner's
	// delegated admin relationship (the message carries the link).
	GdapPendingApproval = "GdapPendingApproval"
	// Cancelled: an operator cancelled the operation before Microsoft
	// was called (o365ctl jobs cancel); re-run the task to try again.
	Cancelled = "Cancelled"
	// CredentialsExpired: the instance's client secret or refresh token has
	// expired at Microsoft; the partner must enter new ones (PUT /app/{id}).
	CredentialsExpired = "CredentialsExpired"
	// CredentialsInvalid: Microsoft refuses the instance's credentials
	// (wrong secret, revoked refresh token, consent withdrawn).
	CredentialsInvalid = "CredentialsInvalid"
	Conflict           = "Conflict"
	Internal           = "InternalError"
)

// CountryNotSupportedMessage is the text operators know from the vendor gateway.
const CountryNotSupportedMessage = "Customer Country is currently not Supported"

// metaJobFailed marks an error as the final outcome of a failed asynchronous job:
// the APS contract answers those with 500 whatever the reason.
const metaJobFailed = "job_failed"

// Error is a refusal with a reason. It implements GRPCStatus, so returning it
// from a gRPC handler sends the right code and the reason.
type Error struct {
	Code      codes.Code
	Reason    string
	Message   string
	JobFailed bool
	cause     error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Message, e.cause)
	}
	return e.Reason + ": " + e.Message
}

// Unwrap returns the internal cause (never shown to callers).
func (e *Error) Unwrap() error { return e.cause }

// GRPCStatus converts the error to a status with an ErrorInfo detail.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(e.Code, e.Message)
	info := &errdetails.ErrorInfo{Reason: e.Reason, Domain: ErrorDomain}
	if e.JobFailed {
		info.Metadata = map[string]string{metaJobFailed: "true"}
	}
	if d, err := st.WithDetails(info); err == nil {
		return d
	}
	return st
}

// New builds an error with a code, a reason and a message for a person.
func New(code codes.Code, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Wrap is New with an internal cause kept for logs.
func Wrap(cause error, code codes.Code, reason, format string, args ...any) *Error {
	e := New(code, reason, format, args...)
	e.cause = cause
	return e
}

// Invalid is a 400 InvalidRequest.
func Invalid(format string, args ...any) *Error {
	return New(codes.InvalidArgument, InvalidRequest, format, args...)
}

// JobFailed rebuilds, from what was recorded of it, the final failure of an
// asynchronous job, which answers the platform's re-sends of the request
// (500 with the job's reason). A code of 0 (none recorded) is
// FailedPrecondition.
func JobFailed(code codes.Code, reason, format string, args ...any) *Error {
	if code == codes.OK {
		code = codes.FailedPrecondition
	}
	e := New(code, reason, format, args...)
	e.JobFailed = true
	return e
}

// AsJobFailure marks err as the final outcome of an asynchronous job.
func AsJobFailure(err error) *Error {
	e := From(err)
	c := *e
	c.JobFailed = true
	return &c
}

// From returns err as an *Error, mapping context and unknown errors to
// standard codes without leaking their text.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Wrap(err, codes.DeadlineExceeded, Internal, "The operation timed out.")
	case errors.Is(err, context.Canceled):
		return Wrap(err, codes.Canceled, Internal, "The operation was cancelled.")
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return FromStatus(st)
	}
	return Wrap(err, codes.Internal, Internal, "Internal error in the gateway.")
}

// ToStatus converts any error to a gRPC status error for returning from a handler.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	return From(err).GRPCStatus().Err()
}

// FromStatus reads reason and job marker back from a status (the facade side).
func FromStatus(st *status.Status) *Error {
	e := &Error{Code: st.Code(), Message: st.Message(), Reason: defaultReason(st.Code())}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			e.Reason = info.GetReason()
			e.JobFailed = info.GetMetadata()[metaJobFailed] == "true"
		}
	}
	return e
}

func defaultReason(c codes.Code) string {
	switch c {
	case codes.InvalidArgument, codes.OutOfRange:
		return InvalidRequest
	case codes.NotFound:
		return NotFound
	case codes.AlreadyExists, codes.Aborted:
		return Conflict
	case codes.Unauthenticated:
		return Unauthenticated
	case codes.PermissionDenied:
		return Forbidden
	case codes.ResourceExhausted:
		return Throttled
	case codes.Unavailable:
		return MicrosoftUnavailable
	default:
		return Internal
	}
}

// HTTPStatus is the HTTP status the APS facade answers for e: the standard
// gRPC-to-HTTP mapping, except that a failed asynchronous job is always 500.
func (e *Error) HTTPStatus() int {
	if e.JobFailed {
		return http.StatusInternalServerError
	}
	switch e.Code {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Canceled:
		return 499
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}
