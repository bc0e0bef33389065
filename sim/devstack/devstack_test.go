package devstack

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/o365gateway/gateway/sim/apsc"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStackLifecycleWithFakeBinaries(t *testing.T) {
	t.Setenv("TENANT_STRAY", "inherited") // dropped: a tenant variable the stack does not set
	t.Setenv("DEVSTACK_TEST_INHERITED", "kept")
	var out syncBuffer
	work := t.TempDir()
	opts := Options{
		BinDir:       fakeBinDir(t),
		WorkDir:      work,
		RetryTimeout: 2 * time.Second,
		LogLevel:     "debug", // overridden by ExtraEnv below
		ExtraEnv:     map[string][]string{Tenant: {"TENANT_LOG_LEVEL=info", "TENANT_EXTRA=1"}},
		Stdout:       &out,
		Stderr:       &out,
		ReadyTimeout: 20 * time.Second,
	}
	s, err := Start(ctxTimeout(t, 60*time.Second), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })

	for _, name := range Processes {
		if !s.Running(name) || s.Pid(name) == 0 {
			t.Fatalf("%s not running", name)
		}
	}
	if !strings.HasPrefix(s.FacadeURL, "https://127.0.0.1:") || !strings.HasSuffix(s.FacadeURL, "/aps/") ||
		s.SimAdminURL != s.SimURL+"/_sim/" || s.FacadeCAFile != filepath.Join(work, "facade-tls", "ca.pem") {
		t.Fatalf("URLs: %+v", s)
	}

	// What the fakes saw.
	tenantLog := readFile(t, s.LogFiles[Tenant])
	for _, want := range []string{
		"env TENANT_CLOUD=global",
		"env TENANT_DATABASE_URL=sqlite://" + filepath.Join(work, "tenant.db"),
		"env TENANT_MS_LOGIN_URL=" + s.SimURL + "/\n",
		"env TENANT_MS_PARTNER_CENTER_URL=" + s.SimURL + "\n",
		"env TENANT_MS_GRAPH_URL=" + s.SimURL + "/v1.0\n",
		"env TENANT_LOG_LEVEL=info", // ExtraEnv wins
		"env TENANT_EXTRA=1",
		`"msg":"serving"`,
	} {
		if !strings.Contains(tenantLog, want) {
			t.Errorf("tenant log lacks %q:\n%s", want, tenantLog)
		}
	}
	if strings.Contains(tenantLog, "TENANT_STRAY") || strings.Contains(tenantLog, "TENANT_LOG_LEVEL=debug") {
		t.Errorf("tenant environment not as configured:\n%s", tenantLog)
	}
	if env := s.Env(Facade); !slices.Contains(env, "DEVSTACK_TEST_INHERITED=kept") {
		t.Error("inherited environment lost")
	}
	facadeLog := readFile(t, s.LogFiles[Facade])
	for _, want := range []string{"env FACADE_RETRY_TIMEOUT=2s", "env FACADE_TENANT_ADDR=" + s.TenantGRPCAddr} {
		if !strings.Contains(facadeLog, want) {
			t.Errorf("facade log lacks %q:\n%s", want, facadeLog)
		}
	}
	if !strings.Contains(readFile(t, s.LogFiles[MSCloud]), "args addr="+s.SimAddr+" ca-out="+s.SimCAFile) {
		t.Error("mscloud arguments not passed")
	}
	if o := out.String(); !strings.Contains(o, "[tenant] env TENANT_CLOUD=global") || !strings.Contains(o, "[facade] ") {
		t.Errorf("output not copied with prefixes:\n%s", o)
	}

	// The key: 32 random bytes, base64, 0600.
	st, err := os.Stat(s.EncryptionKeyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v", st, err)
	}
	key1 := readFile(t, s.EncryptionKeyFile)
	if raw, err := base64.StdEncoding.DecodeString(key1); err != nil || len(raw) != 32 {
		t.Fatalf("key %q: %v", key1, err)
	}

	// Convenience clients.
	p, err := s.RegisterDemoPartner(ctxTimeout(t, 10*time.Second), "demo")
	if err != nil || p.TenantID != "tid-global" {
		t.Fatalf("partner %+v %v", p, err)
	}
	ctrl, err := s.NewController(apsc.Options{})
	if err != nil || ctrl.FacadeURL() != s.FacadeURL {
		t.Fatalf("controller: %v", err)
	}
	if b := s.Banner(p); !strings.Contains(b, s.FacadeURL) || !strings.Contains(b, "tool_operator-key.pem "+s.TenantGRPCAddr+" list") ||
		!strings.Contains(b, "csecret") || !strings.Contains(b, s.SimAdminURL) {
		t.Errorf("banner:\n%s", b)
	}

	// Kill and restart the tenant service.
	oldPid := s.Pid(Tenant)
	if err := s.Kill(Tenant); err != nil {
		t.Fatal(err)
	}
	if s.Running(Tenant) {
		t.Fatal("tenant still running after Kill")
	}
	if err := s.Restart(ctxTimeout(t, 30*time.Second), Tenant); err != nil {
		t.Fatal(err)
	}
	if !s.Running(Tenant) || s.Pid(Tenant) == oldPid {
		t.Fatal("tenant not restarted")
	}
	if strings.Count(readFile(t, s.LogFiles[Tenant]), "--- devstack: starting tenant") != 2 {
		t.Error("the log is not appended across restarts")
	}
	if readFile(t, s.EncryptionKeyFile) != key1 {
		t.Error("the key changed")
	}
	// Restart of a running process.
	if err := s.Restart(ctxTimeout(t, 30*time.Second), Facade); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.Failed():
		t.Fatalf("asked-for exits reported as failures: %v", err)
	default:
	}

	// A process dying on its own is reported.
	if err := syscall.Kill(s.Pid(MSCloud), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.Failed():
		if !strings.Contains(err.Error(), "mscloud exited unexpectedly") {
			t.Fatalf("failure: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("unexpected exit not reported")
	}

	tenantAddr := s.TenantGRPCAddr
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, name := range Processes {
		if s.Running(name) {
			t.Errorf("%s still running after Stop", name)
		}
	}
	if c, err := net.DialTimeout("tcp", tenantAddr, time.Second); err == nil {
		c.Close()
		t.Error("tenant port still open after Stop")
	}
	if err := s.Restart(context.Background(), Tenant); err == nil {
		t.Error("restart after Stop must fail")
	}
	if _, err := os.Stat(work); err != nil {
		t.Error("a given work directory must be kept")
	}
}

func TestReadyTimeoutStopsEverything(t *testing.T) {
	simPort, _ := FreePort()
	start := time.Now()
	_, err := Start(ctxTimeout(t, 60*time.Second), Options{
		BinDir:       fakeBinDir(t),
		WorkDir:      t.TempDir(),
		Ports:        Ports{Sim: simPort},
		ExtraEnv:     map[string][]string{Tenant: {"FAKE_NEVER_READY=1"}},
		ReadyTimeout: 3 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "tenant not ready after 3s") ||
		!strings.Contains(err.Error(), `no "msg":"serving" log line yet`) || !strings.Contains(err.Error(), "env TENANT_CLOUD") {
		t.Fatalf("error: %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(simPort), time.Second); err == nil {
		c.Close()
		t.Error("the simulator was left running")
	}
}

func TestExitBeforeReady(t *testing.T) {
	_, err := Start(ctxTimeout(t, 60*time.Second), Options{
		BinDir:   fakeBinDir(t),
		WorkDir:  t.TempDir(),
		ExtraEnv: map[string][]string{Tenant: {"FAKE_EXIT=1"}},
	})
	if err == nil || !strings.Contains(err.Error(), "tenant exited before it was ready (exit status 3)") ||
		!strings.Contains(err.Error(), "boom: configured to fail") {
		t.Fatalf("error: %v", err)
	}
}

func TestStartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(500 * time.Millisecond); cancel() }()
	_, err := Start(ctx, Options{
		BinDir:   fakeBinDir(t),
		WorkDir:  t.TempDir(),
		ExtraEnv: map[string][]string{Tenant: {"FAKE_NEVER_READY=1"}},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestMissingBinary(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, MSCloud), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{BinDir: dir, WorkDir: t.TempDir()})
	var mb *MissingBinaryError
	if !errors.As(err, &mb) || mb.Name != Tenant {
		t.Fatalf("error: %v", err)
	}
	for _, want := range []string{`binary "tenant" not found`, `binary "facade" not found`, `run "make build" first`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestNonExecutableBinary(t *testing.T) {
	dir := t.TempDir()
	for _, name := range Processes {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := checkBinaries(dir, Processes)
	if err == nil || !strings.Contains(err.Error(), "is not executable") {
		t.Fatalf("error: %v", err)
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("FACADE_LISTEN_ADDR", "0.0.0.0:1") // must not reach the facade
	work := t.TempDir()
	s, err := newStack(Options{
		BinDir:   fakeBinDir(t),
		WorkDir:  work,
		Cloud:    "china",
		Ports:    Ports{},
		ExtraEnv: map[string][]string{Facade: {"FACADE_BASE_PATH=/x/"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.removeWork {
		t.Error("a given work directory must not be removed")
	}
	wantTenant := []string{
		"TENANT_LISTEN_ADDR=" + s.TenantGRPCAddr,
		"TENANT_DATABASE_URL=sqlite://" + filepath.Join(work, "tenant.db"),
		"TENANT_CLOUD=china",
		"TENANT_ENCRYPTION_KEY_FILE=" + filepath.Join(work, "encryption.key"),
		"TENANT_APSC_CA_FILE=" + filepath.Join(work, "apsc-ca", "ca.pem"),
		"TENANT_USER_ADDR=" + s.UserGRPCAddr,
		"TENANT_SUBSCRIPTION_ADDR=" + s.SubscriptionGRPCAddr,
		"TENANT_MS_LOGIN_URL=" + s.SimURL + "/",
		"TENANT_MS_PARTNER_CENTER_URL=" + s.SimURL,
		"TENANT_MS_GRAPH_URL=" + s.SimURL + "/v1.0",
		"TENANT_MS_CA_FILE=" + filepath.Join(work, "mscloud-ca.pem"),
		"TENANT_LOG_LEVEL=info",
		"TENANT_TRACES=file:" + filepath.Join(work, "traces-tenant.jsonl"),
		"TENANT_TRACE_MAX_PER_SECOND=20",
		"TENANT_AUTHZ_POLICY_FILE=" + filepath.Join(work, "authz-policy.json"),
		"TENANT_GRPC_REFLECTION=true",
		"TENANT_AUDIT_KEY_FILE=" + filepath.Join(work, "audit-tenant.key"),
		"TENANT_MTLS_CA_FILE=" + filepath.Join(work, "pki", "ca.pem"),
		"TENANT_MTLS_CERT_FILE=" + filepath.Join(work, "pki", "tenant.pem"),
		"TENANT_MTLS_KEY_FILE=" + filepath.Join(work, "pki", "tenant-key.pem"),
		"TENANT_TRUST_DOMAIN=o365gw.local",
		"TENANT_ADMIN_ADDR=" + s.AdminAddr[Tenant],
	}
	if got := s.OwnEnv(Tenant); !slices.Equal(got, wantTenant) {
		t.Errorf("tenant env\n got %q\nwant %q", got, wantTenant)
	}
	wantFacade := []string{
		"FACADE_LISTEN_ADDR=" + s.FacadeAddr,
		"FACADE_TENANT_ADDR=" + s.TenantGRPCAddr,
		"FACADE_SUBSCRIPTION_ADDR=" + s.SubscriptionGRPCAddr,
		"FACADE_USER_ADDR=" + s.UserGRPCAddr,
		"FACADE_RETRY_TIMEOUT=1s",
		"FACADE_TLS_DIR=" + filepath.Join(work, "facade-tls"),
		"FACADE_REGISTRATION_POLICY=controller-ca",
		"FACADE_CONTROLLER_CA_FILE=" + filepath.Join(work, "apsc-ca", "ca.pem"),
		"FACADE_LOG_LEVEL=info",
		"FACADE_TRACES=file:" + filepath.Join(work, "traces-facade.jsonl"),
		"FACADE_TRACE_MAX_PER_SECOND=20",
		"FACADE_MTLS_CA_FILE=" + filepath.Join(work, "pki", "ca.pem"),
		"FACADE_MTLS_CERT_FILE=" + filepath.Join(work, "pki", "facade.pem"),
		"FACADE_MTLS_KEY_FILE=" + filepath.Join(work, "pki", "facade-key.pem"),
		"FACADE_TRUST_DOMAIN=o365gw.local",
		"FACADE_ADMIN_ADDR=" + s.AdminAddr[Facade],
	}
	if got := s.OwnEnv(Facade); !slices.Equal(got, wantFacade) {
		t.Errorf("facade env\n got %q\nwant %q", got, wantFacade)
	}
	env := s.Env(Facade)
	if slices.Contains(env, "FACADE_LISTEN_ADDR=0.0.0.0:1") || env[len(env)-1] != "FACADE_BASE_PATH=/x/" {
		t.Errorf("facade environment %q", env)
	}
	wantArgs := []string{"-addr", s.SimAddr, "-ca-out", filepath.Join(work, "mscloud-ca.pem"), "-tls-dir", filepath.Join(work, "mscloud-tls")}
	if got := s.Args(MSCloud); !slices.Equal(got, wantArgs) {
		t.Errorf("mscloud args %q", got)
	}
	ports := map[string]bool{s.SimAddr: true, s.TenantGRPCAddr: true, s.FacadeAddr: true}
	if len(ports) != 3 {
		t.Errorf("ports not distinct: %v", ports)
	}
}

// In the single-process mode one process gets every part's settings, each
// part's ExtraEnv and none of their inherited variables, and stands for
// each part.
func TestAllInOneEnvironment(t *testing.T) {
	t.Setenv("USER_LISTEN_ADDR", "0.0.0.0:1") // must not reach the process
	s, err := newStack(Options{BinDir: fakeBinDir(t), WorkDir: t.TempDir(), AllInOne: true,
		ExtraEnv: map[string][]string{Tenant: {"TENANT_JOB_POLL=1s"}, AllInOne: {"FACADE_PPROF=true"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.order, []string{MSCloud, AllInOne}) {
		t.Errorf("processes %q", s.order)
	}
	env := s.Env(AllInOne)
	for _, part := range parts {
		for _, kv := range s.OwnEnv(part) {
			if !slices.Contains(env, kv) {
				t.Errorf("%s is missing %s", AllInOne, kv)
			}
		}
	}
	if slices.Contains(env, "USER_LISTEN_ADDR=0.0.0.0:1") || !slices.Contains(env, "TENANT_JOB_POLL=1s") || env[len(env)-1] != "FACADE_PPROF=true" {
		t.Errorf("environment %q", env)
	}
	for _, part := range parts {
		if s.processOf(part) != AllInOne || s.LogFiles[part] != s.LogFiles[AllInOne] {
			t.Errorf("%s is not run by %s", part, AllInOne)
		}
	}
	if s.processOf(MSCloud) != MSCloud {
		t.Error("the simulator is its own process")
	}
	if _, err := newStack(Options{BinDir: fakeBinDir(t), WorkDir: t.TempDir(), AllInOne: true, Replicas: 2}); err == nil {
		t.Error("replicas of one process were accepted")
	}
}

func TestTempWorkDirRemovedByStop(t *testing.T) {
	s, err := newStack(Options{BinDir: fakeBinDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !s.removeWork {
		t.Fatal("temp work dir not marked for removal")
	}
	if _, err := os.Stat(s.EncryptionKeyFile); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.WorkDir); !os.IsNotExist(err) {
		t.Fatalf("work dir still there: %v", err)
	}
}

func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = Start(context.Background(), Options{BinDir: fakeBinDir(t), WorkDir: t.TempDir(), Ports: Ports{Facade: port}})
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(port)+" for the facade is not free") {
		t.Fatalf("error: %v", err)
	}
}

func TestFreePort(t *testing.T) {
	p, err := FreePort()
	if err != nil || p <= 0 {
		t.Fatalf("%d %v", p, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("free port not usable: %v", err)
	}
	l.Close()
}

func TestEnsureKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	if err := ensureKeyFile(path); err != nil {
		t.Fatal(err)
	}
	first := readFile(t, path)
	raw, err := base64.StdEncoding.DecodeString(first)
	if err != nil || len(raw) != 32 {
		t.Fatalf("%q %v", first, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if err := ensureKeyFile(path); err != nil || readFile(t, path) != first {
		t.Fatal("key not reused")
	}
}

func TestLineSinkReadyAcrossWrites(t *testing.T) {
	var file, tee bytes.Buffer
	o := newOutput(&file, servingLine)
	var mu sync.Mutex
	l := &lineSink{out: o, tee: &tee, teeMu: &mu, prefix: "[t] "}
	_, _ = l.Write([]byte(`{"level":"INFO","msg":"ser`))
	if o.sawReadyLine() {
		t.Fatal("ready too early")
	}
	_, _ = l.Write([]byte("ving\"}\nsecond line\nthird"))
	if !o.sawReadyLine() {
		t.Fatal("ready line missed")
	}
	l.flush()
	if tee.String() != "[t] {\"level\":\"INFO\",\"msg\":\"serving\"}\n[t] second line\n[t] third\n" {
		t.Fatalf("tee %q", tee.String())
	}
	if !strings.HasSuffix(o.tailText(), "  second line\n  third") {
		t.Fatalf("tail %q", o.tailText())
	}
}
