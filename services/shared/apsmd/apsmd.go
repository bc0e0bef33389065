// Package apsmd names the gRPC metadata that carries the APS request headers
// from the facade to the services, and the response header by which a service
// says "accepted, still running" (the facade answers 202).
package apsmd

import (
	"context"
	"log/slog"
	"strings"

	"github.com/google/uuid"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/o365gateway/gateway/services/shared/logging"
)

// Metadata keys (lower case, as gRPC requires). The facade forwards the APS
// headers of the same name (APS-Instance-ID → aps-instance-id).
const (
	InstanceID       = "aps-instance-id"
	ControllerURI    = "aps-controller-uri"
	RequestPhase     = "aps-request-phase"
	TransactionID    = "aps-transaction-id"
	IdentityID       = "aps-identity-id"
	ActorID          = "aps-actor-id"
	AccountHierarchy = "aps-account-hierarchy"
	// AsyncInfo is a response header: the operation was accepted and runs as a
	// job; its value describes the work (the facade's APS-Info).
	AsyncInfo = "aps-async-info"
	// NextPage is the response metadata of a paged list: the page token
	// of the next page (the facade answers it as a Link header, rel=next).
	NextPage = "aps-next-page-token"
)

// Forwarded lists the APS request headers the facade forwards.
var Forwarded = []string{InstanceID, ControllerURI, RequestPhase, TransactionID, IdentityID, ActorID, AccountHierarchy}

// Request is what a service knows about the APS request it serves.
type Request struct {
	InstanceID       string
	ControllerURI    string
	Phase            string
	TransactionID    string
	IdentityID       string
	ActorID          string
	AccountHierarchy string
}

// Async tells whether this is one of the controller's re-sends.
func (r Request) Async() bool { return strings.EqualFold(r.Phase, "async") }

// FromContext reads the APS metadata of an incoming call: from the
// context's Request when WithRequest put one there (the server's first
// interceptor does, so that a call's metadata is read once, not by every
// interceptor and handler), otherwise from the incoming metadata.
func FromContext(ctx context.Context) Request {
	if r, ok := ctx.Value(requestKey{}).(*Request); ok {
		return *r
	}
	md, _ := metadata.FromIncomingContext(ctx)
	get := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return Request{
		InstanceID: get(InstanceID), ControllerURI: get(ControllerURI), Phase: get(RequestPhase),
		TransactionID: get(TransactionID), IdentityID: get(IdentityID), ActorID: get(ActorID),
		AccountHierarchy: get(AccountHierarchy),
	}
}

type requestKey struct{}

// WithRequest returns ctx carrying r, which FromContext then returns: r
// must be what FromContext read from ctx's incoming metadata, which does not
// change during a call, or, for work outside a call (a job), what Carry
// brought of the request that started it.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, &r)
}

// LogContext adds the request's audit attributes to ctx's log records.
func (r Request) LogContext(ctx context.Context) context.Context {
	attrs := []slog.Attr{}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("instance_id", r.InstanceID)
	add("aps_transaction_id", r.TransactionID)
	add("aps_identity_id", r.IdentityID)
	add("aps_actor_id", r.ActorID)
	add("aps_account_hierarchy", r.AccountHierarchy)
	return logging.With(ctx, attrs...)
}

// SetAccepted marks the response as accepted-and-running with a description.
func SetAccepted(ctx context.Context, info string) error {
	return grpc.SetHeader(ctx, metadata.Pairs(AsyncInfo, info))
}

// IsID tells whether s is an APS resource id: a canonical UUID.
func IsID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}
