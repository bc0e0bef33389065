// Package authz decides which caller of a service may call which gRPC
// method, for which application instances. A caller is the SPIFFE ID its
// client certificate proves (package mtls); the instances of a call are
// the one named by the aps-instance-id metadata and the one in the
// request's instance_id field, when present. Nothing in a call is believed
// before the policy allows its caller to act for those instances.
//
// A policy is a list of rules; a call is allowed when one rule names the
// caller, matches the method and covers every instance of the call. A
// caller limited to some instances may make no call that names none.
// Refusals are PermissionDenied.
package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/mtls"
)

// Any matches every method or every instance.
const Any = "*"

// Rule lets an identity call methods for instances.
type Rule struct {
	// Identity is a SPIFFE ID, or a name in the deployment's trust domain
	// ("facade", "tool/alice").
	Identity string `json:"identity"`
	// Methods are full gRPC method names ("/o365.tenant.v1.TenantService/GetTenant"),
	// a service's every method ("/o365.tenant.v1.TenantService/*"), or "*".
	Methods []string `json:"methods"`
	// Instances are APS instance ids, or "*" for all of them.
	Instances []string `json:"instances"`
}

// File is the JSON of an operator's policy file.
type File struct {
	Rules []Rule `json:"rules"`
}

// LoadFile reads an operator's policy file ({"rules": [...]}).
func LoadFile(path string) ([]Rule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authorization policy: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("authorization policy %s: %w", path, err)
	}
	for i, r := range f.Rules {
		if r.Identity == "" || len(r.Methods) == 0 || len(r.Instances) == 0 {
			return nil, fmt.Errorf("authorization policy %s: rule %d needs identity, methods and instances", path, i+1)
		}
	}
	return f.Rules, nil
}

// Policy is a set of rules for one trust domain.
type Policy struct {
	trustDomain string
	rules       map[string][]Rule // by SPIFFE ID
	log         *slog.Logger
}

// New builds a policy.
func New(trustDomain string, log *slog.Logger, rules ...Rule) *Policy {
	if log == nil {
		log = slog.Default()
	}
	p := &Policy{trustDomain: trustDomain, rules: map[string][]Rule{}, log: log}
	for _, r := range rules {
		id := r.Identity
		if !strings.HasPrefix(id, "spiffe://") {
			id = mtls.ID(trustDomain, id)
		}
		p.rules[id] = append(p.rules[id], r)
	}
	return p
}

// health methods may be called by any identity of the deployment.
const healthService = "/grpc.health.v1.Health/"

// Authorize tells whether identity may call method for instances.
func (p *Policy) Authorize(identity, method string, instances []string) error {
	if strings.HasPrefix(method, healthService) {
		return nil
	}
	for _, r := range p.rules[identity] {
		if matchMethod(r.Methods, method) && covers(r.Instances, instances) {
			return nil
		}
	}
	switch {
	case len(p.rules[identity]) == 0:
		return apierr.New(codes.PermissionDenied, apierr.Forbidden, "%s may not call this service.", identity)
	case len(instances) == 0:
		return apierr.New(codes.PermissionDenied, apierr.Forbidden, "%s may not call %s without naming an instance it may act for.", identity, method)
	default:
		return apierr.New(codes.PermissionDenied, apierr.Forbidden, "%s may not call %s for instance %s.", identity, method, strings.Join(instances, ", "))
	}
}

func matchMethod(patterns []string, method string) bool {
	for _, m := range patterns {
		if m == Any || m == method || (strings.HasSuffix(m, "/*") && strings.HasPrefix(method, strings.TrimSuffix(m, "*"))) {
			return true
		}
	}
	return false
}

func covers(allowed, instances []string) bool {
	if slices.Contains(allowed, Any) {
		return true
	}
	if len(instances) == 0 {
		return false
	}
	for _, i := range instances {
		if !slices.Contains(allowed, i) {
			return false
		}
	}
	return true
}

// Instances returns the instances a call names: the aps-instance-id
// metadata and the request's top-level instance_id field.
func Instances(ctx context.Context, req any) []string {
	var out []string
	if id := apsmd.FromContext(ctx).InstanceID; id != "" {
		out = append(out, id)
	}
	if m, ok := req.(proto.Message); ok {
		r := m.ProtoReflect()
		if f := r.Descriptor().Fields().ByName("instance_id"); f != nil && f.Kind() == protoreflect.StringKind {
			if id := r.Get(f).String(); id != "" && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

type callerKey struct{}

type scopeKey struct{}

// scope is what the rules that allowed a call let its caller reach.
type scope struct {
	all       bool
	instances []string
}

// scopeOf is the union of the instances the identity's rules matching
// method allow.
func (p *Policy) scopeOf(identity, method string) scope {
	var sc scope
	for _, r := range p.rules[identity] {
		if !matchMethod(r.Methods, method) {
			continue
		}
		if slices.Contains(r.Instances, Any) {
			return scope{all: true}
		}
		sc.instances = append(sc.instances, r.Instances...)
	}
	return sc
}

// Scope returns the instances the caller of the call ctx serves may act
// for: all of them, or a list. Handlers whose answers span instances (an
// audit query with no instance filter) narrow them to it. Without an
// authorization policy (a plaintext test server) it is all.
func Scope(ctx context.Context) (all bool, instances []string) {
	sc, ok := ctx.Value(scopeKey{}).(scope)
	if !ok {
		return true, nil
	}
	return sc.all, sc.instances
}

// RequireAll refuses a call whose caller may act only for some instances:
// for operations that touch every instance at once.
func RequireAll(ctx context.Context, what string) error {
	if all, _ := Scope(ctx); !all {
		return apierr.New(codes.PermissionDenied, apierr.Forbidden, "%s needs an identity allowed every instance.", what)
	}
	return nil
}

// RequireInstance refuses an instance filter outside the caller's scope,
// and no filter at all from a caller limited to some instances.
func RequireInstance(ctx context.Context, instanceID string) error {
	all, ids := Scope(ctx)
	switch {
	case all:
		return nil
	case instanceID == "":
		return apierr.New(codes.PermissionDenied, apierr.Forbidden, "Name an instance you may act for (instance_id).")
	case !slices.Contains(ids, instanceID):
		return apierr.New(codes.PermissionDenied, apierr.Forbidden, "You may not act for instance %s.", instanceID)
	}
	return nil
}

// Caller returns the identity that made the call ctx serves ("" on a
// plaintext server).
func Caller(ctx context.Context) string {
	id, _ := ctx.Value(callerKey{}).(string)
	return id
}

// UnaryInterceptor authorizes every call: the caller's identity from its
// certificate, the instances from the call. A refusal is logged and
// answered PermissionDenied; an allowed call carries its caller (Caller).
func (p *Policy) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		id, ok := mtls.Peer(ctx, p.trustDomain)
		if !ok {
			return nil, apierr.ToStatus(apierr.New(codes.Unauthenticated, apierr.Unauthenticated, "A client certificate of the deployment is required."))
		}
		instances := Instances(ctx, req)
		if err := p.Authorize(id, info.FullMethod, instances); err != nil {
			p.log.WarnContext(ctx, "call refused by the authorization policy", "caller", id, "method", info.FullMethod,
				"instances", instances)
			return nil, apierr.ToStatus(err)
		}
		ctx = context.WithValue(ctx, callerKey{}, id)
		return next(context.WithValue(ctx, scopeKey{}, p.scopeOf(id, info.FullMethod)), req)
	}
}

// WithFile returns the built-in rules followed by those of the operator's
// policy file (none when path is empty).
func WithFile(builtin []Rule, path string) ([]Rule, error) {
	if path == "" {
		return builtin, nil
	}
	extra, err := LoadFile(path)
	if err != nil {
		return nil, err
	}
	return append(append([]Rule(nil), builtin...), extra...), nil
}

// StreamInterceptor authorizes streaming calls (gRPC reflection, health
// watches) as UnaryInterceptor does unary ones; their instances are those
// the metadata names.
func (p *Policy) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
		ctx := ss.Context()
		id, ok := mtls.Peer(ctx, p.trustDomain)
		if !ok {
			return apierr.ToStatus(apierr.New(codes.Unauthenticated, apierr.Unauthenticated, "A client certificate of the deployment is required."))
		}
		instances := Instances(ctx, nil)
		if err := p.Authorize(id, info.FullMethod, instances); err != nil {
			p.log.WarnContext(ctx, "call refused by the authorization policy", "caller", id, "method", info.FullMethod,
				"instances", instances)
			return apierr.ToStatus(err)
		}
		return next(srv, ss)
	}
}
