package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	userv1 "github.com/o365gateway/gateway/gen/go/o365/user/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/grpcclient"

	"github.com/o365gateway/gateway/services/facade/internal/aps"
	"github.com/o365gateway/gateway/services/facade/internal/gateway"
)

const (
	tenantID = "7a1e0c52-0000-4000-8000-000000000001"
	userID   = "7a1e0c52-0000-4000-8000-000000000002"
	// msDownID is a user whose service answers that Microsoft is unavailable.
	msDownID = "7a1e0c52-0000-4000-8000-000000000003"
)

type fakeTenants struct {
	tenantv1.UnimplementedTenantServiceServer
}

func (fakeTenants) GetTenant(_ context.Context, r *tenantv1.GetTenantRequest) (*tenantv1.GetTenantResponse, error) {
	return &tenantv1.GetTenantResponse{Tenant: &tenantv1.Tenant{Aps: &apsv1.Meta{Id: r.GetId()}, InitialSubdomain: "contoso"}}, nil
}

type fakeUsers struct {
	userv1.UnimplementedUserServiceServer
}

func (fakeUsers) GetUser(_ context.Context, r *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
	if r.GetId() == msDownID {
		return nil, apierr.ToStatus(apierr.New(codes.Unavailable, apierr.MicrosoftUnavailable, "Microsoft Graph is unavailable."))
	}
	return &userv1.GetUserResponse{User: &userv1.User{Aps: &apsv1.Meta{Id: r.GetId()}, Login: "ann@contoso.com"}}, nil
}

// service is a gRPC service on a fixed loopback address that can be stopped
// and started again there.
type service struct {
	t        *testing.T
	addr     string
	register func(*grpc.Server)
	srv      *grpc.Server
}

func newService(t *testing.T, register func(*grpc.Server)) *service {
	s := &service{t: t, register: register}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *service) start() {
	s.t.Helper()
	var lis net.Listener
	var err error
	if s.addr != "" {
		lis, err = net.Listen("tcp", s.addr)
	} else {
		// A port below Linux's ephemeral range (32768–60999), so that no
		// outgoing connection takes it while the service is stopped and it
		// can listen there again.
		for range 50 {
			if lis, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))); err == nil {
				break
			}
		}
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = lis.Addr().String()
	s.srv = grpc.NewServer()
	healthpb.RegisterHealthServer(s.srv, health.NewServer())
	s.register(s.srv)
	go func() { _ = s.srv.Serve(lis) }()
}

func (s *service) stop() { s.srv.Stop() }

// logs collects the lines logged.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

func (l *logs) has(msg, upstream string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, `"msg":"`+msg+`"`) && strings.Contains(line, `"upstream":"`+upstream+`"`) {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

// One service that is down takes only its own routes down: they answer 503
// with the APS error body (UpstreamUnavailable), soon and then at once,
// while the routes of the other services keep working and the facade stays
// ready. The tenant service, which every request needs, is required for
// readiness; liveness follows neither.
func TestOneServiceDown(t *testing.T) {
	ctx := t.Context()
	tenantSvc := newService(t, func(s *grpc.Server) { tenantv1.RegisterTenantServiceServer(s, fakeTenants{}) })
	userSvc := newService(t, func(s *grpc.Server) { userv1.RegisterUserServiceServer(s, fakeUsers{}) })
	dial := func(s *service, name string) *gateway.Upstream {
		conn, err := grpcclient.Dial(s.addr, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return gateway.NewUpstream(ctx, name, conn, time.Second)
	}
	tenant, user := dial(tenantSvc, "tenant"), dial(userSvc, "user")
	mux, err := gateway.New(ctx, gateway.Upstreams{Tenant: tenant, User: user}, aps.MuxOptions(time.Second)...)
	if err != nil {
		t.Fatal(err)
	}
	var logged logs
	h := gateway.NewHealth(slog.New(slog.NewJSONHandler(&logged, nil)),
		gateway.Service{Name: "tenant", Conn: tenant, Required: true}, gateway.Service{Name: "user", Conn: user})
	go h.Run(ctx, 50*time.Millisecond)

	get := func(path string) (int, map[string]any, time.Duration) {
		t.Helper()
		start := time.Now()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		took := time.Since(start)
		var body map[string]any
		if err := json.NewDecoder(bytes.NewReader(rec.Body.Bytes())).Decode(&body); err != nil {
			t.Fatalf("GET %s: %d %q", path, rec.Code, rec.Body.String())
		}
		return rec.Code, body, took
	}
	ok := func(path string) {
		t.Helper()
		if code, body, _ := get(path); code != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, code, body)
		}
	}
	ok("/tenants/" + tenantID)
	ok("/users/" + userID)
	// A service's own Unavailable keeps its reason.
	if code, body, _ := get("/users/" + msDownID); code != http.StatusServiceUnavailable || body["type"] != apierr.MicrosoftUnavailable {
		t.Fatalf("the service's answer: %d %v", code, body)
	}
	eventually(t, "never ready", func() bool { return h.Ready(ctx) == nil })

	userSvc.stop()
	code, body, took := get("/users/" + userID)
	if code != http.StatusServiceUnavailable || body["code"] != float64(503) || body["type"] != apierr.UpstreamUnavailable ||
		body["error"] != apierr.UpstreamUnavailable || !strings.Contains(body["message"].(string), "user service") {
		t.Fatalf("a route of the stopped service: %d %v", code, body)
	}
	if took > 3*time.Second {
		t.Fatalf("the first answer took %s; the wait is 1s", took)
	}
	// Down for longer than the wait: answered at once. The wait counts from
	// when the channel saw the failure, a little after the stop (the first
	// call may have been refused by the dying connection before that), so
	// the test waits a margin past it.
	time.Sleep(time.Second + 500*time.Millisecond)
	if code, _, took := get("/users/" + userID); code != http.StatusServiceUnavailable || took > 500*time.Millisecond {
		t.Fatalf("a route of a service down for a while: %d after %s", code, took)
	}
	ok("/tenants/" + tenantID)
	eventually(t, "the outage was not noticed", func() bool { return logged.has("upstream unavailable", "user") })
	if err := h.Ready(ctx); err != nil {
		t.Fatalf("the facade is not ready while the user service is down: %v", err)
	}
	if err := h.Live(ctx); err != nil {
		t.Fatalf("not live: %v", err)
	}

	// Back: its routes work again.
	userSvc.start()
	eventually(t, "the user route did not come back", func() bool { code, _, _ := get("/users/" + userID); return code == http.StatusOK })
	eventually(t, "the return was not noticed", func() bool { return logged.has("upstream available again", "user") })

	// Without the tenant service the facade is not ready, and still live.
	tenantSvc.stop()
	eventually(t, "ready without the tenant service", func() bool {
		err := h.Ready(ctx)
		return err != nil && strings.Contains(err.Error(), "tenant service")
	})
	if err := h.Live(ctx); err != nil {
		t.Fatalf("not live: %v", err)
	}
}
