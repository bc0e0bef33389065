package devstack

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/o365gateway/gateway/services/shared/rotate"
)

// servingLine is what the tenant service logs when its gRPC server serves.
var servingLine = regexp.MustCompile(`"msg"\s*:\s*"serving"`)

// tailLines is how many of a process's last output lines an error shows.
const tailLines = 30

// process is one started binary.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *output
	done chan struct{}

	mu       sync.Mutex
	expected bool // asked to exit
	waitErr  error
	// readyAfter is the time from the process's start to its first
	// passing readiness probe.
	readyAfter time.Duration
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) expect() {
	p.mu.Lock()
	p.expected = true
	p.mu.Unlock()
}

func (p *process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// kill sends SIGKILL to the process group.
func (p *process) kill() {
	p.expect()
	if !p.exited() {
		_ = killProcess(p.cmd.Process)
	}
}

// terminate asks the process to exit (SIGTERM) and kills it after grace.
func (p *process) terminate(grace time.Duration) {
	p.expect()
	if p.exited() {
		return
	}
	_ = termProcess(p.cmd.Process)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = killProcess(p.cmd.Process)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// output collects a process's output: the log file, the last lines, the
// ready line, and an optional copy with a prefix.
type output struct {
	mu      sync.Mutex
	file    io.Writer
	tail    []string
	pattern *regexp.Regexp
	ready   chan struct{}
	seen    bool
}

// LogMaxBytes caps each process's log file; past it the log is rotated,
// keeping one older copy (<name>.log.1).
const LogMaxBytes = 32 << 20

func newOutput(file io.Writer, pattern *regexp.Regexp) *output {
	return &output{file: file, pattern: pattern, ready: make(chan struct{})}
}

func (o *output) line(line []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = o.file.Write(line)
	o.tail = append(o.tail, strings.TrimRight(string(line), "\r\n"))
	if len(o.tail) > tailLines {
		o.tail = o.tail[len(o.tail)-tailLines:]
	}
	if o.pattern != nil && !o.seen && o.pattern.Match(line) {
		o.seen = true
		close(o.ready)
	}
}

func (o *output) sawReadyLine() bool {
	select {
	case <-o.ready:
		return true
	default:
		return false
	}
}

// tailText renders the last lines for an error message.
func (o *output) tailText() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.tail) == 0 {
		return "\n(no output)"
	}
	return "\nlast output:\n  " + strings.Join(o.tail, "\n  ")
}

// lineSink splits one stream into lines for an output.
type lineSink struct {
	out    *output
	tee    io.Writer
	teeMu  *sync.Mutex
	prefix string
	buf    []byte
}

func (l *lineSink) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 {
		l.flush()
	}
	return len(p), nil
}

func (l *lineSink) emit(line []byte) {
	l.out.line(line)
	if l.tee != nil {
		l.teeMu.Lock()
		_, _ = fmt.Fprintf(l.tee, "%s%s", l.prefix, line)
		l.teeMu.Unlock()
	}
}

// flush emits a last line without a newline.
func (l *lineSink) flush() {
	if len(l.buf) > 0 {
		l.emit(append(l.buf, '\n'))
		l.buf = nil
	}
}

// start launches a process and waits until it is ready.
func (s *Stack) start(ctx context.Context, name string) error {
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return errors.New("devstack: the stack is stopped")
	}
	// Under a size cap (the log and one rotated copy): a long run under load
	// keeps a bounded footprint.
	logFile, err := rotate.Open(s.LogFiles[name], LogMaxBytes)
	if err != nil {
		return fmt.Errorf("devstack: open the log of %s: %w", name, err)
	}
	fmt.Fprintf(logFile, "--- devstack: starting %s at %s ---\n", name, time.Now().Format(time.RFC3339))
	var pattern *regexp.Regexp
	if b := Base(name); b == Tenant || b == Subscription || b == User {
		pattern = servingLine
	}
	out := newOutput(logFile, pattern)
	stdout := &lineSink{out: out, tee: s.opts.Stdout, teeMu: &s.teeMu, prefix: "[" + name + "] "}
	stderr := &lineSink{out: out, tee: s.opts.Stderr, teeMu: &s.teeMu, prefix: "[" + name + "] "}

	cmd := exec.Command(filepath.Join(s.binDir, Base(name)), s.Args(name)...)
	cmd.Env = s.Env(name)
	cmd.Dir = s.WorkDir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 2 * time.Second
	setProcAttrs(cmd)
	started := time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("devstack: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	s.mu.Lock()
	s.procs[name] = p
	s.mu.Unlock()
	s.log.Info("devstack: started", "process", name, "pid", cmd.Process.Pid, "log", s.LogFiles[name])

	go func() {
		err := cmd.Wait()
		stdout.flush()
		stderr.flush()
		p.mu.Lock()
		p.waitErr = err
		expected := p.expected
		p.mu.Unlock()
		fmt.Fprintf(logFile, "--- devstack: %s exited (%s) at %s ---\n", name, exitText(err), time.Now().Format(time.RFC3339))
		logFile.Close()
		close(p.done)
		if !expected {
			select {
			case s.failed <- fmt.Errorf("devstack: %s exited unexpectedly (%s)%s", name, exitText(err), out.tailText()):
			default:
			}
		}
	}()

	if err := s.waitReady(ctx, p); err != nil {
		p.terminate(5 * time.Second)
		return err
	}
	p.mu.Lock()
	p.readyAfter = time.Since(started)
	p.mu.Unlock()
	s.log.Info("devstack: ready", "process", name, "after", p.readyAfter)
	return nil
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// waitReady polls a process's readiness probe until it passes, the process
// exits, the ready timeout passes or ctx is done.
func (s *Stack) waitReady(ctx context.Context, p *process) error {
	deadline := time.Now().Add(s.opts.ReadyTimeout)
	probeCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	tick := time.NewTicker(s.opts.ReadyPoll)
	defer tick.Stop()
	var lastErr error
	for {
		err := s.probe(probeCtx, p)
		if err == nil {
			return nil
		}
		if cutShort := probeCtx.Err() != nil || !time.Now().Before(deadline); lastErr == nil || !cutShort {
			lastErr = err // keep the last verdict of a probe that was not cut short
		}
		select {
		case <-p.done:
			return fmt.Errorf("devstack: %s exited before it was ready (%s)%s", p.name, exitText(p.exitErr()), p.out.tailText())
		case <-probeCtx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("devstack: waiting for %s: %w", p.name, err)
			}
			return fmt.Errorf("devstack: %s not ready after %s: %v%s", p.name, s.opts.ReadyTimeout, lastErr, p.out.tailText())
		case <-tick.C:
		}
	}
}

// probe checks once whether a process is ready.
func (s *Stack) probe(ctx context.Context, p *process) error {
	switch Base(p.name) {
	case MSCloud:
		pool, err := poolFromFile(s.SimCAFile)
		if err != nil {
			return fmt.Errorf("no CA file yet: %w", err)
		}
		return httpOK(ctx, s.SimAdminURL, &tls.Config{RootCAs: pool})
	case Tenant, Subscription, User:
		addr := s.listen[p.name]
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		conn.Close()
		if !p.out.sawReadyLine() {
			return errors.New(`port open, but no "msg":"serving" log line yet`)
		}
		return nil
	case Facade:
		return s.facadeReady(ctx)
	case AllInOne:
		// Every part: the services' gRPC listeners, then the facade (ready
		// once the tenant service serves).
		for _, name := range []string{Tenant, Subscription, User} {
			conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", s.listen[name])
			if err != nil {
				return err
			}
			conn.Close()
		}
		return s.facadeReady(ctx)
	}
	return nil
}

// facadeReady probes the facade's /healthz (its readiness).
func (s *Stack) facadeReady(ctx context.Context) error {
	// The readiness probe does not care who signed the certificate.
	return httpOK(ctx, s.FacadeBaseURL+"/healthz", &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness only
}

// httpOK checks that GET url answers 200.
func httpOK(ctx context.Context, url string, tlsConf *tls.Config) error {
	tr := &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	reqCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s answered %s", url, resp.Status)
	}
	return nil
}
