package aps

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/o365gateway/gateway/services/shared/apsmd"
)

// MuxOptions configure grpc-gateway for the APS protocol.
func MuxOptions(retryTimeout time.Duration) []runtime.ServeMuxOption {
	secs := int((retryTimeout + time.Second - 1) / time.Second)
	return []runtime.ServeMuxOption{
		// snake_case names as the APS schemas declare them; unknown properties
		// (aps.revision, aps.package, …) are ignored as the contract requires.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		}),
		runtime.WithIncomingHeaderMatcher(incomingHeaders),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithForwardResponseOption(func(ctx context.Context, w http.ResponseWriter, m proto.Message) error {
			return forwardResponse(ctx, w, m, secs)
		}),
		runtime.WithForwardResponseRewriter(emptyListAsArray),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
		// APSC sends JSON with the real method: no form POST stands for a GET
		// and no X-HTTP-Method-Override header changes the method.
		runtime.WithDisablePathLengthFallback(),
		runtime.WithDisableHTTPMethodOverride(),
		// The matched route names the request in the metrics (Handler).
		runtime.WithMiddlewares(noteRoute),
	}
}

// incomingHeaders forwards exactly the APS headers (as aps-* metadata) and
// the trace context; nothing else from the outside reaches the services.
func incomingHeaders(key string) (string, bool) {
	k := strings.ToLower(key)
	for _, h := range apsmd.Forwarded {
		if k == h {
			return k, true
		}
	}
	if k == "traceparent" || k == "tracestate" {
		return k, true
	}
	return "", false
}

// forwardResponse maps a service's answer to the APS status: 202 with
// APS-Retry-Timeout and APS-Info while a job runs, 204 for empty answers
// (unprovision done, link notifications), 200 otherwise. A list answer
// (e.g. offers) is never empty in that sense: no offers is 200 [].
func forwardResponse(ctx context.Context, w http.ResponseWriter, m proto.Message, retrySecs int) error {
	md, ok := runtime.ServerMetadataFromContext(ctx)
	if ok {
		if info := md.HeaderMD.Get(apsmd.AsyncInfo); len(info) > 0 {
			w.Header().Set("APS-Retry-Timeout", strconv.Itoa(retrySecs))
			w.Header().Set("APS-Info", info[0])
			w.WriteHeader(http.StatusAccepted)
			return nil
		}
		// A paged list names its next page relative to the request's own
		// path (RFC 8288; the query reference resolves against it).
		if next := md.HeaderMD.Get(apsmd.NextPage); len(next) > 0 && next[0] != "" {
			w.Header().Set("Link", "<?"+url.Values{"managed": {"false"}, "page_token": {next[0]}}.Encode()+`>; rel="next"`)
		}
	}
	if isEmpty(m) && !isList(m) {
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// isEmpty tells whether a message has no field set (it would marshal to
// nothing), looking no further than its first set field.
func isEmpty(m proto.Message) bool {
	empty := true
	m.ProtoReflect().Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool {
		empty = false
		return false
	})
	return empty
}

// isList tells whether an answer is a list: a message with a repeated field.
func isList(m proto.Message) bool {
	fields := m.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if fields.Get(i).IsList() {
			return true
		}
	}
	return false
}

// emptyListAsArray makes an empty list answer [] rather than null (the
// answer body of a list is the repeated field, which is nil when empty).
func emptyListAsArray(_ context.Context, m proto.Message) (any, error) {
	rb, ok := m.(interface{ XXX_ResponseBody() any })
	if !ok {
		return m, nil
	}
	if v := reflect.ValueOf(rb.XXX_ResponseBody()); v.Kind() == reflect.Slice && v.Len() == 0 {
		return []struct{}{}, nil
	}
	return m, nil
}
