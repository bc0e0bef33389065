// Package load drives an HTTPS server as APSC does (keep-alive connections,
// a client certificate, the same request over and over) and measures it:
// Closed finds the throughput of a fixed number of connections, each
// sending its next request as soon as the last is answered; Open sends at a
// fixed rate whatever the answers' pace (open loop) and measures each
// request's latency from the moment it was due, so that a stalled server
// shows in the percentiles instead of slowing the load down.
//
// The client is lean on purpose: the request's bytes are built once and
// each connection reads answers with one buffered reader, so that on a
// small machine the load generator takes as little of the CPU the servers
// compete for as it can.
package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one request to send.
type Target struct {
	// Addr is host:port; TLS configures the connection (client
	// certificate, roots, server name).
	Addr string
	TLS  *tls.Config
	// Method, Path and Header make the request (Host is Addr).
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// Want is the status every answer must have (default 200).
	Want int
}

// request renders the request once.
func (t *Target) request() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", t.Method, t.Path, t.Addr)
	for k, vs := range t.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if len(t.Body) > 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(t.Body))
	}
	b.WriteString("\r\n")
	b.Write(t.Body)
	return b.Bytes()
}

// conn is one keep-alive connection.
type conn struct {
	t   *Target
	req []byte
	c   net.Conn
	r   *bufio.Reader
}

func (t *Target) dial(ctx context.Context) (*conn, error) {
	d := tls.Dialer{Config: t.TLS}
	c, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, err
	}
	return &conn{t: t, req: t.request(), c: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

// do sends the request and reads the whole answer.
func (c *conn) do() error {
	if _, err := c.c.Write(c.req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	want := c.t.Want
	if want == 0 {
		want = http.StatusOK
	}
	if resp.StatusCode != want {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, want)
	}
	if resp.Close {
		return errors.New("the server closed the connection")
	}
	return nil
}

// Caller makes one call at a time (one worker's connection).
type Caller interface {
	// Do makes the call and fails unless the answer is the wanted one.
	Do() error
	Close() error
}

// Dialer opens a worker's Caller.
type Dialer func(ctx context.Context) (Caller, error)

// Dialer opens a keep-alive connection per worker.
func (t *Target) Dialer() Dialer {
	return func(ctx context.Context) (Caller, error) { return t.dial(ctx) }
}

// Do implements Caller.
func (c *conn) Do() error { return c.do() }

// Close implements Caller.
func (c *conn) Close() error { return c.c.Close() }

// Check makes the call once.
func Check(ctx context.Context, dial Dialer) error {
	c, err := dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Do()
}

// Result of a run.
type Result struct {
	Requests int
	Errors   int
	// FirstError is the first failure seen, for the report.
	FirstError error
	Elapsed    time.Duration
	// Latencies (Open only) from each request's due time to its answer.
	P50, P99, Max time.Duration
}

// RPS is the answered requests per second.
func (r Result) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

type errs struct {
	n     atomic.Int64
	once  sync.Once
	first error
}

func (e *errs) add(err error) {
	e.n.Add(1)
	e.once.Do(func() { e.first = err })
}

// Closed keeps conns connections busy for d (after warm of warm-up) and
// counts the answers. A connection that fails is replaced.
func Closed(ctx context.Context, dial Dialer, conns int, warm, d time.Duration) (Result, error) {
	cs, err := dialAll(ctx, dial, conns)
	if err != nil {
		return Result{}, err
	}
	var (
		measuring atomic.Bool
		stop      atomic.Bool
		done      atomic.Int64
		failed    errs
		wg        sync.WaitGroup
	)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := c.Do(); err != nil {
					if measuring.Load() {
						failed.add(err)
					}
					c.Close()
					if c, err = dial(ctx); err != nil {
						failed.add(err)
						return
					}
					continue
				}
				if measuring.Load() {
					done.Add(1)
				}
			}
			c.Close()
		}()
	}
	sleep(ctx, warm)
	measuring.Store(true)
	start := time.Now()
	sleep(ctx, d)
	measuring.Store(false)
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	return Result{Requests: int(done.Load()), Errors: int(failed.n.Load()), FirstError: failed.first, Elapsed: elapsed}, ctx.Err()
}

// Open sends rate requests per second for d over up to conns connections
// (a request waits for a free one, and that wait counts in its latency),
// after warm of warm-up at the same rate.
func Open(ctx context.Context, dial Dialer, conns int, rate float64, warm, d time.Duration) (Result, error) {
	cs, err := dialAll(ctx, dial, conns)
	if err != nil {
		return Result{}, err
	}
	total := int((warm + d).Seconds() * rate)
	warmN := int(warm.Seconds() * rate)
	due := make(chan time.Time, total)
	lat := make([]time.Duration, total)
	var (
		next   atomic.Int64
		failed errs
		wg     sync.WaitGroup
	)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = c.Close() }()
			for at := range due {
				i := int(next.Add(1)) - 1
				err := c.Do()
				lat[i] = time.Since(at)
				if err != nil {
					lat[i] = -1
					if i >= warmN {
						failed.add(err)
					}
					c.Close()
					if c, err = dial(ctx); err != nil {
						failed.add(err)
						return
					}
				}
			}
		}()
	}
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range total {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil {
			break
		}
		due <- at
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start.Add(warm))
	ok := make([]time.Duration, 0, total)
	for _, l := range lat[warmN:] {
		if l > 0 {
			ok = append(ok, l)
		}
	}
	slices.Sort(ok)
	r := Result{Requests: len(ok), Errors: int(failed.n.Load()), FirstError: failed.first, Elapsed: elapsed}
	if len(ok) > 0 {
		r.P50, r.P99, r.Max = ok[len(ok)/2], ok[min(len(ok)-1, len(ok)*99/100)], ok[len(ok)-1]
	}
	return r, ctx.Err()
}

func dialAll(ctx context.Context, dial Dialer, n int) ([]Caller, error) {
	cs := make([]Caller, 0, n)
	for range n {
		c, err := dial(ctx)
		if err != nil {
			for _, c := range cs {
				c.Close()
			}
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
