package aps

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

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
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
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
// (unprovision done, link notifications), 200 otherwise.
func forwardResponse(ctx context.Context, w http.ResponseWriter, m proto.Message, retrySecs int) error {
	md, ok := runtime.ServerMetadataFromContext(ctx)
	if ok {
		if info := md.HeaderMD.Get(apsmd.AsyncInfo); len(info) > 0 {
			w.Header().Set("APS-Retry-Timeout", strconv.Itoa(retrySecs))
			w.Header().Set("APS-Info", info[0])
			w.WriteHeader(http.StatusAccepted)
			return nil
		}
	}
	if proto.Size(m) == 0 {
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}
