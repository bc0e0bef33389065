package grpcserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Readiness follows the checks; liveness stays SERVING while the process
// serves.
func TestWatchFollowsChecks(t *testing.T) {
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	var down atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Watch(ctx, 20*time.Millisecond, func(context.Context) error {
		if down.Load() {
			return errors.New("database gone")
		}
		return nil
	})
	status := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		r, err := s.Health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			return healthpb.HealthCheckResponse_UNKNOWN
		}
		return r.GetStatus()
	}
	wait := func(service string, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); status(service) != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%q is %v, want %v", service, status(service), want)
			}
		}
	}
	wait(Liveness, healthpb.HealthCheckResponse_SERVING)
	wait("", healthpb.HealthCheckResponse_SERVING)
	down.Store(true)
	wait("", healthpb.HealthCheckResponse_NOT_SERVING)
	wait(Liveness, healthpb.HealthCheckResponse_SERVING)
	down.Store(false)
	wait("", healthpb.HealthCheckResponse_SERVING)
}
