package grpcserver

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/o365gateway/gateway/services/shared/apierr"
)

// TestReadsThatSucceedAreLoggedAtDebug: at info, a successful read leaves
// no "rpc" line (the facade's request line names it); a change, and a read
// that fails, do.
func TestReadsThatSucceedAreLoggedAtDebug(t *testing.T) {
	var buf bytes.Buffer
	s := New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), Options{})
	call := func(method string, err error) string {
		buf.Reset()
		_, _ = s.logUnary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: method},
			func(context.Context, any) (any, error) { return "ok", err })
		return buf.String()
	}
	const read, change = "/o365.tenant.v1.TenantService/GetTenant", "/o365.tenant.v1.TenantService/ConfigureTenant"
	if out := call(read, nil); out != "" {
		t.Fatalf("a successful read was logged at info: %s", out)
	}
	if out := call(change, nil); !strings.Contains(out, `"msg":"rpc"`) || !strings.Contains(out, change) {
		t.Fatalf("a change was not logged: %q", out)
	}
	if out := call(read, apierr.Invalid("bad id")); !strings.Contains(out, `"reason":"InvalidRequest"`) {
		t.Fatalf("a failed read was not logged with its reason: %q", out)
	}
}
