package grpcserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
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

// Liveness and readiness are separate: a failing check makes the server
// unready and leaves it live; a check that ignores its deadline stops the
// health loop, and Live fails once the round is long overdue.
func TestLiveFollowsTheHealthLoop(t *testing.T) {
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	// Live fails once a round is 3×(interval+timeout) overdue: 930 ms here,
	// long enough that a stalled test process does not cross it by chance,
	// short enough that the stuck loop below is seen within the wait.
	s.checkTimeout = 300 * time.Millisecond
	if err := s.Live(context.Background()); err != nil {
		t.Fatalf("live before Watch: %v", err)
	}
	var mode atomic.Int32 // 0 passes, 1 fails, 2 hangs
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Watch(ctx, 10*time.Millisecond, func(context.Context) error {
		switch mode.Load() {
		case 1:
			return errors.New("database gone")
		case 2:
			<-release // ignores its context: the loop is stuck
		}
		return nil
	})
	until := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	ready := func() bool { return s.Ready(context.Background()) == nil }
	live := func() bool { return s.Live(context.Background()) == nil }
	until("never ready", ready)

	mode.Store(1)
	until("still ready with a failing check", func() bool { return !ready() })
	for range 10 { // several rounds: their length is within the bound
		time.Sleep(20 * time.Millisecond)
		if err := s.Live(context.Background()); err != nil {
			t.Fatalf("a failing check made the server not live: %v", err)
		}
	}

	mode.Store(2)
	until("live with a stuck health loop", func() bool { return !live() })
	if err := s.Live(context.Background()); err == nil || !strings.Contains(err.Error(), "wedged") {
		t.Fatalf("Live: %v", err)
	}
}
