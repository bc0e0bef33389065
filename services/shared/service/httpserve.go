package service

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ShutdownGrace is how long a server stopping with its context lets the
// requests in flight finish.
const ShutdownGrace = 10 * time.Second

// ServeHTTP runs serve (srv.Serve or srv.ServeTLS on a listener) until it
// fails or ctx ends; then srv shuts down gracefully within ShutdownGrace.
// A server closed on purpose is no error.
func ServeHTTP(ctx context.Context, srv *http.Server, serve func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	return srv.Shutdown(sctx)
}
