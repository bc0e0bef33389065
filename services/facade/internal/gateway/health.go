package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/o365gateway/gateway/services/shared/telemetry"
)

// Service is one of the gateway's services as Health follows it.
type Service struct {
	Name string
	Conn grpc.ClientConnInterface
	// Required: the facade is not ready without it.
	Required bool
}

// Health follows the gRPC health of the services behind the facade, for the
// facade's probes. The facade is ready while every required service serves
// (the tenant service, which authenticates every request: no route works
// without it). An outage of another service leaves the facade ready;
// only that service's routes answer UpstreamUnavailable (Upstream), and the
// platform keeps reaching everything else.
type Health struct {
	log      *slog.Logger
	services []Service

	mu    sync.Mutex
	state map[string]error // outcome of each service's last check
	beat  telemetry.Heartbeat
}

// healthCheckTimeout bounds one service's health check.
const healthCheckTimeout = 2 * time.Second

// NewHealth follows services (Run).
func NewHealth(log *slog.Logger, services ...Service) *Health {
	return &Health{log: log, services: services, state: map[string]error{}}
}

// Run checks every service at once every interval (sooner while the facade
// is not ready) until ctx ends, and logs each change.
func (h *Health) Run(ctx context.Context, interval time.Duration) {
	overdue := 3 * (interval + healthCheckTimeout)
	h.beat.Beat(overdue)
	retry := 25 * time.Millisecond
	for {
		h.check(ctx)
		if ctx.Err() != nil {
			return
		}
		h.beat.Beat(overdue)
		// While not ready, look again soon (from 25 ms, doubling up to
		// 500 ms): at start the services are ready within tens of
		// milliseconds.
		wait := interval
		if h.Ready(ctx) != nil {
			wait = min(interval, retry)
			retry = min(2*retry, 500*time.Millisecond)
		} else {
			retry = 25 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (h *Health) check(ctx context.Context) {
	results := make([]error, len(h.services))
	var wg sync.WaitGroup
	for i, s := range h.services {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
			defer cancel()
			resp, err := healthpb.NewHealthClient(s.Conn).Check(cctx, &healthpb.HealthCheckRequest{})
			switch {
			case err != nil:
				results[i] = fmt.Errorf("the %s service is unavailable (%s)", s.Name, status.Code(err))
			case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
				results[i] = fmt.Errorf("the %s service is not ready (%s)", s.Name, resp.GetStatus())
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, s := range h.services {
		prev, seen := h.state[s.Name]
		h.state[s.Name] = results[i]
		switch err := results[i]; {
		case err != nil && (!seen || prev == nil):
			h.log.Warn("upstream unavailable", "upstream", s.Name, "required", s.Required, "reason", err.Error())
		case err == nil && seen && prev != nil:
			h.log.Info("upstream available again", "upstream", s.Name)
		}
	}
}

// Ready is the facade's readiness (Probes.Ready): nil while every required
// service served at the last check.
func (h *Health) Ready(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, s := range h.services {
		if !s.Required {
			continue
		}
		err, seen := h.state[s.Name]
		if !seen {
			err = fmt.Errorf("the %s service was not checked yet", s.Name)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Live is the facade's liveness (Probes.Live): the checks keep running,
// whatever they find.
func (h *Health) Live(ctx context.Context) error { return h.beat.Check(ctx) }
