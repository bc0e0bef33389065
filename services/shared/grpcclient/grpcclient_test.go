package grpcclient

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func server(t *testing.T, calls *atomic.Int32) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		calls.Add(1)
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// Calls to a list of replicas are spread over all of them, and the loss of
// one leaves the others serving.
func TestReplicasShareCalls(t *testing.T) {
	var a, b atomic.Int32
	addrA, addrB := server(t, &a), server(t, &b)
	conn, err := Dial(addrA+", "+addrB, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 20 {
		if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
			t.Fatal(err)
		}
	}
	if a.Load() == 0 || b.Load() == 0 {
		t.Fatalf("calls not spread: %d and %d", a.Load(), b.Load())
	}
	if _, err := Dial(" , ", nil, "test"); err == nil {
		t.Fatal("an empty list was accepted")
	}
}

func TestSingleAddress(t *testing.T) {
	var n atomic.Int32
	conn, err := Dial(server(t, &n), nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil || n.Load() != 1 {
		t.Fatalf("%v %d", err, n.Load())
	}
}
