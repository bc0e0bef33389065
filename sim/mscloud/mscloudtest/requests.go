package mscloudtest

import (
	"context"
	"log/slog"
	"sync"
)

// Request is one request the simulator served, as its request log line
// names it.
type Request struct {
	API, Method, Path string
	Status            int
	// MSRequestID is the MS-RequestId header (Partner Center's idempotency key).
	MSRequestID string
}

// Requests records the simulator's request log: pass Logger() as
// mscloud.Options.Logger. It lets a test see what reached Microsoft, e.g.
// which MS-RequestId each try of a step carried.
type Requests struct {
	mu   sync.Mutex
	list []Request
}

// Logger returns the logger to give the simulator.
func (r *Requests) Logger() *slog.Logger { return slog.New(requestHandler{r}) }

// Match returns the requests with this method and path, in the order they
// were served.
func (r *Requests) Match(method, path string) []Request {
	return r.Filter(func(q Request) bool { return q.Method == method && q.Path == path })
}

// Filter returns the requests keep accepts, in the order they were served.
func (r *Requests) Filter(keep func(Request) bool) []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Request
	for _, q := range r.list {
		if keep(q) {
			out = append(out, q)
		}
	}
	return out
}

type requestHandler struct{ r *Requests }

func (h requestHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h requestHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h requestHandler) WithGroup(string) slog.Handler            { return h }

func (h requestHandler) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "request" {
		return nil
	}
	var q Request
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "api":
			q.API = a.Value.String()
		case "method":
			q.Method = a.Value.String()
		case "path":
			q.Path = a.Value.String()
		case "status":
			q.Status = int(a.Value.Int64())
		case "ms_request_id":
			q.MSRequestID = a.Value.String()
		}
		return true
	})
	h.r.mu.Lock()
	h.r.list = append(h.r.list, q)
	h.r.mu.Unlock()
	return nil
}
