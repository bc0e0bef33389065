package grpcserver

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/audit"
)

// auditUnary records every call of a state-changing method (audit.IsChange)
// after it ran, with its outcome, refusals included: identity returns the
// caller's certificate identity. It goes outside the authorization policy,
// so that refused changes are recorded too. A failed append is logged and
// counted (audit.Log.Add); the call's answer stands, since the change may
// have been made.
func auditUnary(l *audit.Log, identity func(context.Context) string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if !audit.IsChange(info.FullMethod) {
			return next(ctx, req)
		}
		resp, err := next(ctx, req)
		l.Add(ctx, CallEntry(ctx, info.FullMethod, req, identity(ctx), err))
		return resp, err
	}
}

// CallEntry describes a call for the audit log: the APS metadata of ctx,
// the caller's identity, the resource the request names and the outcome of
// err (nil: OK). Only ids are taken from the request.
func CallEntry(ctx context.Context, fullMethod string, req any, identity string, err error) audit.Entry {
	r := apsmd.FromContext(ctx)
	e := audit.Entry{Kind: audit.KindCall, InstanceID: audit.SafeID(r.InstanceID),
		Caller: audit.Caller{Identity: audit.SafeID(identity), APSIdentityID: audit.SafeID(r.IdentityID),
			APSActorID: audit.SafeID(r.ActorID), APSAccountHierarchy: audit.SafeID(r.AccountHierarchy),
			APSTransactionID: audit.SafeID(r.TransactionID)},
		Resource:  audit.Resource{Type: resourceType(fullMethod), ID: audit.SafeID(resourceID(req))},
		Operation: audit.Operation{Method: fullMethod, Phase: strings.ToLower(audit.SafeID(r.Phase))},
		Outcome:   audit.Outcome{Code: "OK"}}
	if e.InstanceID == "" {
		e.InstanceID = audit.SafeID(stringField(req, "instance_id"))
	}
	if isTool(identity) {
		// A tool is its certificate: APSC's headers are believed only from
		// the deployment's own processes (the facade, and services passing
		// them on), so a tool cannot make its changes look like the
		// platform's.
		e.Caller = audit.Caller{Identity: e.Caller.Identity}
		e.Operation.Phase = ""
	}
	if err != nil {
		ae := apierr.From(err)
		e.Outcome = audit.Outcome{Code: ae.Code.String(), Reason: ae.Reason}
	}
	return e
}

// isTool tells whether a SPIFFE ID names an operator's tool
// (spiffe://<trust domain>/tool/<name>), not a process of the deployment.
func isTool(identity string) bool {
	rest, ok := strings.CutPrefix(identity, "spiffe://")
	if !ok {
		return false
	}
	_, path, _ := strings.Cut(rest, "/")
	return strings.HasPrefix(path, "tool/")
}

// resourceType is the resource kind of a gRPC service: its name without
// the package and the Service suffix, in lower case
// ("/o365.tenant.v1.DomainService/VerifyDomain" → "domain").
func resourceType(fullMethod string) string {
	svc, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if i := strings.LastIndexByte(svc, '.'); i >= 0 {
		svc = svc[i+1:]
	}
	return strings.ToLower(strings.TrimSuffix(svc, "Service"))
}

// resourceID is the id a request names: its top-level id field, else the
// aps.id of the resource it carries (a provision's body).
func resourceID(req any) string {
	if id := stringField(req, "id"); id != "" {
		return id
	}
	m, ok := req.(proto.Message)
	if !ok || m == nil {
		return ""
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return ""
	}
	fields := r.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Kind() != protoreflect.MessageKind || f.IsList() || f.IsMap() || !r.Has(f) {
			continue
		}
		body := r.Get(f).Message()
		if af := body.Descriptor().Fields().ByName("aps"); af != nil && af.Kind() == protoreflect.MessageKind && body.Has(af) {
			if id := stringField(body.Get(af).Message().Interface(), "id"); id != "" {
				return id
			}
		}
	}
	return ""
}

// stringField is the value of a top-level string field of a request.
func stringField(req any, name protoreflect.Name) string {
	m, ok := req.(proto.Message)
	if !ok || m == nil {
		return ""
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return ""
	}
	f := r.Descriptor().Fields().ByName(name)
	if f == nil || f.Kind() != protoreflect.StringKind || f.IsList() {
		return ""
	}
	return r.Get(f).String()
}
