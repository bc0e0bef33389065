package gateway

import (
	"context"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/o365gateway/gateway/services/shared/apierr"
)

// DefaultWait is how long a call waits for a service that is not connected
// (Upstream): longer than a reconnection after a restart takes (the
// connections retry within about 3 s, package grpcclient), far shorter than
// the platform waits for an answer.
const DefaultWait = 5 * time.Second

// Upstream is the connection to one of the gateway's services as the
// facade's routes use it. A call waits up to the Upstream's wait for a
// service that is (re)connecting, as while a replica restarts, and is
// answered UpstreamUnavailable (503) if none becomes ready; once the service
// has been unreachable for longer than that, calls are answered at once. So
// a stopped service takes its own routes down, quickly and with an APS
// error, and costs the routes of the other services nothing.
type Upstream struct {
	name string
	conn *grpc.ClientConn
	wait time.Duration
	// down is when the connection began failing (unix nanoseconds), 0
	// while it is not failing.
	down atomic.Int64
}

// NewUpstream wraps conn, the connection to the service name ("tenant",
// "subscription", "user"), following its state until ctx ends; wait 0 is
// DefaultWait.
func NewUpstream(ctx context.Context, name string, conn *grpc.ClientConn, wait time.Duration) *Upstream {
	if wait <= 0 {
		wait = DefaultWait
	}
	u := &Upstream{name: name, conn: conn, wait: wait}
	go u.follow(ctx)
	return u
}

// follow records since when the connection has been failing. The channel
// stays in TRANSIENT_FAILURE while it retries, until a replica is ready.
func (u *Upstream) follow(ctx context.Context) {
	for {
		s := u.conn.GetState()
		switch s {
		case connectivity.Ready, connectivity.Idle:
			u.down.Store(0)
		case connectivity.TransientFailure:
			u.down.CompareAndSwap(0, time.Now().UnixNano())
		}
		if !u.conn.WaitForStateChange(ctx, s) {
			return
		}
	}
}

// Invoke implements grpc.ClientConnInterface.
func (u *Upstream) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if err := u.ready(ctx); err != nil {
		return err
	}
	// Ready now: a call that still finds no replica (one went away in
	// between) fails rather than waiting, and was not sent.
	err := u.conn.Invoke(ctx, method, args, reply, append(opts[:len(opts):len(opts)], grpc.WaitForReady(false))...)
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable && !fromService(st) {
		return u.unavailable()
	}
	return err
}

// NewStream implements grpc.ClientConnInterface (no route streams).
func (u *Upstream) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return u.conn.NewStream(ctx, desc, method, opts...)
}

// ready waits until the connection is ready, for u.wait at most, and not at
// all when it has been failing for longer than that.
func (u *Upstream) ready(ctx context.Context) error {
	s := u.conn.GetState()
	if s == connectivity.Ready {
		return nil
	}
	if since := u.down.Load(); s == connectivity.TransientFailure && since != 0 && time.Since(time.Unix(0, since)) >= u.wait {
		return u.unavailable()
	}
	u.conn.Connect() // an idle connection (the first call) connects now
	wctx, cancel := context.WithTimeout(ctx, u.wait)
	defer cancel()
	for s = u.conn.GetState(); s != connectivity.Ready; s = u.conn.GetState() {
		if !u.conn.WaitForStateChange(wctx, s) {
			if err := ctx.Err(); err != nil {
				return status.FromContextError(err).Err()
			}
			return u.unavailable()
		}
	}
	return nil
}

// unavailable is the answer of a call the service could not take.
func (u *Upstream) unavailable() error {
	return apierr.ToStatus(apierr.New(codes.Unavailable, apierr.UpstreamUnavailable,
		"The gateway's %s service is unavailable right now; try again later.", u.name))
}

// fromService tells whether st is a service's answer: services send every
// refusal with the gateway's ErrorInfo (package apierr). Any other
// Unavailable comes from the transport: no service took the call.
func fromService(st *status.Status) bool {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == apierr.ErrorDomain {
			return true
		}
	}
	return false
}
