// Package devstack starts the gateway's processes (the Microsoft cloud
// simulator, the tenant service and the REST facade) from built binaries,
// wired together on loopback, and waits until each one is ready. It is used
// by the devstack command (make run, make demo) and by end-to-end tests.
//
// Every process writes its standard output and error to
// <WorkDir>/<name>.log (appended across restarts), optionally copied to
// Options.Stdout/Stderr with a "[name] " prefix.
package devstack

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/o365gateway/gateway/services/shared/mtls/devpki"
	"github.com/o365gateway/gateway/sim/apsc"
)

// Names of the processes, in start order.
const (
	MSCloud      = "mscloud"
	Tenant       = "tenant"
	Subscription = "subscription"
	User         = "user"
	Facade       = "facade"
	// AllInOne is the single process of Options.AllInOne.
	AllInOne = "allinone"
)

// Processes lists the processes a stack runs, in start order.
var Processes = []string{MSCloud, Tenant, Subscription, User, Facade}

// Ports are the loopback ports of the processes; 0 picks a free one.
type Ports struct {
	Sim          int // Microsoft simulator (HTTPS)
	Tenant       int // tenant service (gRPC, plaintext)
	Subscription int // subscription service (gRPC, plaintext)
	User         int // user/license service (gRPC, plaintext)
	Facade       int // REST facade (HTTPS)
}

// Options configure Start.
type Options struct {
	// BinDir holds the binaries mscloud, tenant and facade (default ./bin).
	BinDir string
	// WorkDir holds databases, keys, certificates, logs and traces. It is
	// reused when it exists. Empty creates a temporary directory that Stop
	// removes.
	WorkDir string
	// Cloud is the deployment's Microsoft cloud (default global).
	Cloud string
	// RetryTimeout is the facade's APS-Retry-Timeout (default 1s).
	RetryTimeout time.Duration
	// Ports of the processes; 0 picks free ports.
	Ports Ports
	// DatabaseURL, when set, is a postgres:// URL every service stores its
	// data at, each in its own schema (search_path=<service>, created on
	// first start); empty keeps the embedded SQLite files in WorkDir.
	DatabaseURL string
	// Replicas is how many processes of each service (tenant, subscription,
	// user) run, sharing the database (default 1). The second replica of
	// the tenant service is named "tenant-2" in Kill, Restart and LogFiles;
	// its callers spread their calls over all of them.
	Replicas int
	// AllInOne runs the services and the facade as one process, the
	// allinone binary (the single-process mode), with the same settings
	// as the separate processes: Kill, Restart, Pid and LogFiles of any of
	// them are those of that process. It needs Replicas 1.
	AllInOne bool
	// SchemaPrefix, with DatabaseURL, names the schemas <prefix>_<service>,
	// so that several stacks (tests) can share one database.
	SchemaPrefix string
	// ExtraEnv adds KEY=VALUE entries to a process's environment, by
	// process name; they override the stack's own.
	ExtraEnv map[string][]string
	// Stdout and Stderr, when set, also receive the processes' output, each
	// line prefixed with "[name] ".
	Stdout, Stderr io.Writer
	// ReadyTimeout bounds the wait for each process to become ready
	// (default 60s).
	ReadyTimeout time.Duration
	// LogLevel of the services and the facade (default info; the tests
	// run at debug, so that their checks for leaked secrets see every
	// line).
	LogLevel string
	// TraceMaxPerSecond caps the traces each process records a second
	// (its *_TRACE_MAX_PER_SECOND; default 20, -1 for no cap): every
	// request of someone trying the stack is traced, and a load test does
	// not spend the machine on writing trace files.
	TraceMaxPerSecond float64
	// ReadyPoll is how often readiness is probed while waiting (default
	// 100ms); it bounds the precision of ReadyAfter.
	ReadyPoll time.Duration
	// Logger receives the stack's own progress (nil discards it).
	Logger *slog.Logger
}

// Stack is a running set of processes.
type Stack struct {
	// FacadeURL is the endpoint URI to give APSC: https://127.0.0.1:PORT/aps/.
	FacadeURL string
	// FacadeBaseURL is https://127.0.0.1:PORT, serving /healthz and
	// /openapi.json (its metrics are on its admin listener, AdminAddr).
	FacadeBaseURL string
	FacadeAddr    string
	// FacadeTLSDir is where the facade keeps its server certificate;
	// FacadeCAFile (<dir>/ca.pem) is the certificate to trust.
	FacadeTLSDir string
	FacadeCAFile string
	// SimURL is the simulator's base URL, SimAdminURL its admin API.
	SimURL      string
	SimAdminURL string
	SimAddr     string
	// SimCAFile is the CA of the simulator's TLS certificates.
	SimCAFile string
	SimTLSDir string
	// TenantGRPCAddr is the tenant service's gRPC address (plaintext).
	TenantGRPCAddr string
	// WorkDir is the absolute work directory.
	WorkDir string
	// SubscriptionGRPCAddr is the subscription service's gRPC address.
	SubscriptionGRPCAddr string
	// UserGRPCAddr is the user/license service's gRPC address.
	UserGRPCAddr string
	// EncryptionKeyFile is the tenant service's key for secrets at rest.
	EncryptionKeyFile string
	// AuditKeyFiles are the keys of the services' audit logs (their MAC
	// chains), by service name (tenant, subscription, user): audit-<name>.key.
	AuditKeyFiles map[string]string
	// PKIDir holds the development CA of the stack's mutual TLS (ca.pem)
	// and a certificate per process and for the operator's tool
	// (tool_operator.pem), created on first start and reused.
	PKIDir string
	// Mesh are the certificate files by process name and ToolIdentity.
	Mesh map[string]devpki.Files
	// AdminAddr is the admin listener (plaintext HTTP: /healthz, /readyz,
	// /metrics) of each process but the simulator, by process name.
	AdminAddr map[string]string
	// ControllerCADir keeps the CA of the stack's APS controller emulators
	// (NewController), and ControllerCAFile is its certificate, which the
	// tenant service trusts for its calls back into APSC.
	ControllerCADir, ControllerCAFile string
	// PolicyFile is the services' authorization policy file: it lets the
	// operator's tool certificate act for every instance.
	PolicyFile string
	// LogFiles are the processes' log files, by process name.
	LogFiles map[string]string
	Cloud    string

	opts       Options
	binDir     string
	order      []string          // the processes in start order, replicas included
	listen     map[string]string // a service replica's own gRPC address
	removeWork bool
	log        *slog.Logger
	failed     chan error

	mu       sync.Mutex
	teeMu    sync.Mutex
	procs    map[string]*process
	stopOnce sync.Once
	stopErr  error
	stopped  bool
}

// Start checks the binaries, prepares the work directory and starts every
// process in order, waiting until each is ready. ctx bounds the start
// only; the stack then runs until Stop. On failure nothing is left running.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	s, err := newStack(opts)
	if err != nil {
		return nil, err
	}
	for _, name := range s.order {
		if err := s.start(ctx, name); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// newStack resolves options, binaries, ports and the work directory
// without starting anything.
func newStack(opts Options) (*Stack, error) {
	if opts.BinDir == "" {
		opts.BinDir = "./bin"
	}
	if opts.Cloud == "" {
		opts.Cloud = "global"
	}
	if opts.RetryTimeout <= 0 {
		opts.RetryTimeout = time.Second
	}
	if u := opts.DatabaseURL; u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
			return nil, errors.New("devstack: the database URL must be postgres://user@host:port/database (the default is SQLite)")
		}
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if opts.TraceMaxPerSecond == 0 {
		opts.TraceMaxPerSecond = 20
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	if opts.ReadyPoll <= 0 {
		opts.ReadyPoll = 100 * time.Millisecond
	}
	s := &Stack{
		opts:     opts,
		Cloud:    opts.Cloud,
		log:      opts.Logger,
		failed:   make(chan error, len(Processes)*4),
		procs:    map[string]*process{},
		LogFiles: map[string]string{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	binDir, err := filepath.Abs(opts.BinDir)
	if err != nil {
		return nil, err
	}
	s.binDir = binDir
	binaries := Processes
	if opts.AllInOne {
		if opts.Replicas > 1 {
			return nil, errors.New("devstack: one process runs everything: no replicas")
		}
		binaries = []string{MSCloud, AllInOne}
	}
	if err := checkBinaries(binDir, binaries); err != nil {
		return nil, err
	}

	ports, err := resolvePorts(opts.Ports)
	if err != nil {
		return nil, err
	}

	work := opts.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "devstack-"); err != nil {
			return nil, err
		}
		s.removeWork = true
	}
	if work, err = filepath.Abs(work); err != nil {
		return nil, err
	}
	s.WorkDir = work
	s.SimTLSDir = filepath.Join(work, "mscloud-tls")
	s.FacadeTLSDir = filepath.Join(work, "facade-tls")
	for _, d := range []string{work, s.SimTLSDir, s.FacadeTLSDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("devstack: create %s: %w", d, err)
		}
	}
	s.EncryptionKeyFile = filepath.Join(work, "encryption.key")
	if err := ensureKeyFile(s.EncryptionKeyFile); err != nil {
		return nil, err
	}
	s.AuditKeyFiles = map[string]string{}
	for _, name := range []string{Tenant, Subscription, User} {
		s.AuditKeyFiles[name] = filepath.Join(work, "audit-"+name+".key")
		if err := ensureKeyFile(s.AuditKeyFiles[name]); err != nil {
			return nil, err
		}
	}
	if err := s.ensureMesh(); err != nil {
		return nil, err
	}
	// The controllers' CA, trusted by the tenant service for its calls back
	// into APSC; the stack's APSC emulators issue their certificates from it.
	s.ControllerCADir = filepath.Join(work, "apsc-ca")
	if s.ControllerCAFile, err = apsc.EnsureAuthority(s.ControllerCADir); err != nil {
		return nil, fmt.Errorf("devstack: controller CA: %w", err)
	}

	s.SimAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports.Sim))
	s.SimURL = "https://" + s.SimAddr
	s.SimAdminURL = s.SimURL + "/_sim/"
	s.SimCAFile = filepath.Join(work, "mscloud-ca.pem")
	if opts.Replicas < 1 {
		opts.Replicas = 1
		s.opts.Replicas = 1
	}
	s.listen = map[string]string{}
	first := map[string]int{Tenant: ports.Tenant, Subscription: ports.Subscription, User: ports.User}
	addrs := map[string][]string{}
	for _, name := range Processes {
		if first[name] == 0 {
			s.order = append(s.order, name)
			continue
		}
		for r := 1; r <= opts.Replicas; r++ {
			port, replica := first[name], name
			if r > 1 {
				if port, err = FreePort(); err != nil {
					return nil, err
				}
				replica = fmt.Sprintf("%s-%d", name, r)
			}
			s.listen[replica] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			addrs[name] = append(addrs[name], s.listen[replica])
			s.order = append(s.order, replica)
		}
	}
	s.TenantGRPCAddr = strings.Join(addrs[Tenant], ",")
	s.SubscriptionGRPCAddr = strings.Join(addrs[Subscription], ",")
	s.UserGRPCAddr = strings.Join(addrs[User], ",")
	s.FacadeAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports.Facade))
	s.FacadeBaseURL = "https://" + s.FacadeAddr
	s.FacadeURL = s.FacadeBaseURL + "/aps/"
	s.FacadeCAFile = filepath.Join(s.FacadeTLSDir, "ca.pem")
	s.AdminAddr = map[string]string{}
	for _, name := range s.order {
		s.LogFiles[name] = filepath.Join(work, name+".log")
		if name == MSCloud {
			continue
		}
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		s.AdminAddr[name] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	if opts.AllInOne {
		// One process, one log, every listener of the separate processes.
		s.order = []string{MSCloud, AllInOne}
		for _, name := range []string{Tenant, Subscription, User, Facade, AllInOne} {
			s.LogFiles[name] = filepath.Join(work, AllInOne+".log")
		}
		s.AdminAddr[AllInOne] = s.AdminAddr[Facade]
	}
	return s, nil
}

// parts are the processes the allinone process runs.
var parts = []string{Tenant, Subscription, User, Facade}

// processOf is the process that runs name: the allinone process for any
// of its parts in the single-process mode, name itself otherwise.
func (s *Stack) processOf(name string) string {
	if s.opts.AllInOne && slices.Contains(parts, name) {
		return AllInOne
	}
	return name
}

// TrustDomain is the development stack's SPIFFE trust domain, and
// ToolIdentity the name of the operator's tool certificate in it.
const (
	TrustDomain  = "o365gw.local"
	ToolIdentity = "tool/operator"
)

// ensureMesh creates (or reuses) the development CA and the certificates
// of the processes and of the operator's tool, and the policy file that
// lets that tool act for every instance.
func (s *Stack) ensureMesh() error {
	s.PKIDir = filepath.Join(s.WorkDir, "pki")
	pki := devpki.PKI{Dir: s.PKIDir, TrustDomain: TrustDomain}
	s.Mesh = map[string]devpki.Files{}
	for _, name := range []string{Tenant, Subscription, User, Facade, ToolIdentity} {
		f, err := pki.Files(name)
		if err != nil {
			return fmt.Errorf("devstack: development certificates: %w", err)
		}
		s.Mesh[name] = f
	}
	s.PolicyFile = filepath.Join(s.WorkDir, "authz-policy.json")
	policy := `{"rules": [{"identity": "` + ToolIdentity + `", "methods": ["*"], "instances": ["*"]}]}` + "\n"
	return os.WriteFile(s.PolicyFile, []byte(policy), 0o600)
}

// meshEnv are the mutual TLS settings of a process (prefix "TENANT_", …).
func (s *Stack) meshEnv(prefix, name string) []string {
	f := s.Mesh[name]
	return []string{prefix + "MTLS_CA_FILE=" + f.CA, prefix + "MTLS_CERT_FILE=" + f.Cert, prefix + "MTLS_KEY_FILE=" + f.Key,
		prefix + "TRUST_DOMAIN=" + TrustDomain}
}

// MissingBinaryError names a binary that the binaries directory lacks.
type MissingBinaryError struct {
	Name, Dir string
}

func (e *MissingBinaryError) Error() string {
	return fmt.Sprintf("devstack: binary %q not found in %s (run \"make build\" first)", e.Name, e.Dir)
}

// checkBinaries makes sure every process has an executable in dir.
func checkBinaries(dir string, names []string) error {
	var errs []error
	for _, name := range names {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.IsDir() {
			errs = append(errs, &MissingBinaryError{Name: name, Dir: dir})
			continue
		}
		if st.Mode().Perm()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("devstack: %s is not executable (run \"make build\" first)", filepath.Join(dir, name)))
		}
	}
	return errors.Join(errs...)
}

// resolvePorts picks free ports for the zero ones and checks the fixed ones
// are free.
func resolvePorts(p Ports) (Ports, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	resolve := func(port *int, what string) error {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
		if err != nil {
			return fmt.Errorf("devstack: port %d for the %s is not free: %w", *port, what, err)
		}
		held = append(held, l) // hold it until every port is chosen
		*port = l.Addr().(*net.TCPAddr).Port
		return nil
	}
	if err := resolve(&p.Sim, "Microsoft simulator"); err != nil {
		return p, err
	}
	if err := resolve(&p.Tenant, "tenant service"); err != nil {
		return p, err
	}
	if err := resolve(&p.Subscription, "subscription service"); err != nil {
		return p, err
	}
	if err := resolve(&p.User, "user service"); err != nil {
		return p, err
	}
	if err := resolve(&p.Facade, "facade"); err != nil {
		return p, err
	}
	return p, nil
}

// Ports picked by FreePort lie below Linux's default ephemeral range
// (32768–60999): a port taken from that range could be handed to another
// process's outgoing connection before the stack's process binds it.
const (
	freePortLow  = 20000
	freePortHigh = 32000
)

// FreePort returns a TCP port on 127.0.0.1 that is free right now, picked
// at random outside the ephemeral range, or one the system assigns when
// none of a few tries is free.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 50 {
		n, err := rand.Int(rand.Reader, big.NewInt(freePortHigh-freePortLow))
		if err != nil {
			break
		}
		port := freePortLow + int(n.Int64())
		if handedOut[port] {
			continue // free now, but another process of a stack will bind it
		}
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			l.Close()
			handedOut[port] = true
			return port, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	handedOut[port] = true
	return port, nil
}

// handedOut are the ports FreePort has given this process: a port is free
// when it is picked and bound only later by the process it is for, so it
// is never picked twice (two processes of one stack, or of two stacks of
// one test run, would otherwise collide now and then).
var (
	portsMu   sync.Mutex
	handedOut = map[int]bool{}
)

// ensureKeyFile creates the encryption key file once: 32 random bytes,
// base64 (standard encoding), mode 0600. An existing file is kept.
func ensureKeyFile(path string) error {
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("devstack: create the encryption key: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ownPrefixes are the environment prefixes a process reads; inherited
// variables with them are dropped so that the stack's configuration is the
// whole configuration.
var ownPrefixes = map[string]string{MSCloud: "MSCLOUD_", Tenant: "TENANT_", Subscription: "SUBSCRIPTION_", User: "USER_", Facade: "FACADE_"}

// Args returns the command-line arguments of a process.
func (s *Stack) Args(name string) []string {
	if name == MSCloud {
		return []string{"-addr", s.SimAddr, "-ca-out", s.SimCAFile, "-tls-dir", s.SimTLSDir}
	}
	return nil
}

// databaseURL is where service keeps its data: its schema of the stack's
// PostgreSQL database, or its SQLite file in the work directory.
func (s *Stack) databaseURL(service string) string {
	if s.opts.DatabaseURL == "" {
		return "sqlite://" + filepath.Join(s.WorkDir, service+".db")
	}
	u, err := url.Parse(s.opts.DatabaseURL)
	if err != nil {
		return s.opts.DatabaseURL // Start validated it
	}
	q := u.Query()
	schema := service
	if s.opts.SchemaPrefix != "" {
		schema = s.opts.SchemaPrefix + "_" + service
	}
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// OwnEnv returns the variables the stack sets for a process (without the
// inherited environment and ExtraEnv).
func (s *Stack) OwnEnv(name string) []string {
	env := s.serviceEnv(name)
	if base := Base(name); base != name {
		// A second replica: its own worker identity and trace file.
		p := ownPrefixes[base]
		env = append(env, p+"WORKER_ID="+name, p+"TRACES=file:"+filepath.Join(s.WorkDir, "traces-"+name+".jsonl"))
	}
	return env
}

// Base is the process name of a replica's service ("tenant" for "tenant-2").
func Base(name string) string {
	base, _, _ := strings.Cut(name, "-")
	return base
}

func (s *Stack) serviceEnv(name string) []string {
	base := Base(name)
	env := s.processEnv(name)
	p := ownPrefixes[base]
	switch base {
	case Tenant, Subscription, User:
		// Reflection on, for grpcurl with the operator's certificate.
		env = append(env, p+"AUTHZ_POLICY_FILE="+s.PolicyFile, p+"GRPC_REFLECTION=true", p+"AUDIT_KEY_FILE="+s.AuditKeyFiles[base])
	case Facade:
	default:
		return env
	}
	env = append(env, s.meshEnv(p, base)...)
	return append(env, p+"ADMIN_ADDR="+s.AdminAddr[name])
}

func (s *Stack) processEnv(name string) []string {
	switch Base(name) {
	case Tenant:
		return []string{
			"TENANT_LISTEN_ADDR=" + s.listen[name],
			"TENANT_DATABASE_URL=" + s.databaseURL("tenant"),
			"TENANT_CLOUD=" + s.Cloud,
			"TENANT_ENCRYPTION_KEY_FILE=" + s.EncryptionKeyFile,
			"TENANT_APSC_CA_FILE=" + s.ControllerCAFile,
			"TENANT_USER_ADDR=" + s.UserGRPCAddr,
			"TENANT_SUBSCRIPTION_ADDR=" + s.SubscriptionGRPCAddr,
			"TENANT_MS_LOGIN_URL=" + s.SimURL + "/",
			"TENANT_MS_PARTNER_CENTER_URL=" + s.SimURL,
			"TENANT_MS_GRAPH_URL=" + s.SimURL + "/v1.0",
			"TENANT_MS_CA_FILE=" + s.SimCAFile,
			"TENANT_LOG_LEVEL=" + s.opts.LogLevel,
			"TENANT_TRACES=file:" + filepath.Join(s.WorkDir, "traces-tenant.jsonl"),
			"TENANT_TRACE_MAX_PER_SECOND=" + strconv.FormatFloat(max(0, s.opts.TraceMaxPerSecond), 'g', -1, 64),
		}
	case Subscription:
		return []string{
			"SUBSCRIPTION_LISTEN_ADDR=" + s.listen[name],
			"SUBSCRIPTION_DATABASE_URL=" + s.databaseURL("subscription"),
			"SUBSCRIPTION_TENANT_ADDR=" + s.TenantGRPCAddr,
			"SUBSCRIPTION_CLOUD=" + s.Cloud,
			"SUBSCRIPTION_MS_LOGIN_URL=" + s.SimURL + "/",
			"SUBSCRIPTION_MS_PARTNER_CENTER_URL=" + s.SimURL,
			"SUBSCRIPTION_MS_GRAPH_URL=" + s.SimURL + "/v1.0",
			"SUBSCRIPTION_MS_CA_FILE=" + s.SimCAFile,
			"SUBSCRIPTION_LOG_LEVEL=" + s.opts.LogLevel,
			"SUBSCRIPTION_TRACES=file:" + filepath.Join(s.WorkDir, "traces-subscription.jsonl"),
			"SUBSCRIPTION_TRACE_MAX_PER_SECOND=" + strconv.FormatFloat(max(0, s.opts.TraceMaxPerSecond), 'g', -1, 64),
		}
	case User:
		return []string{
			"USER_LISTEN_ADDR=" + s.listen[name],
			"USER_DATABASE_URL=" + s.databaseURL("user"),
			"USER_TENANT_ADDR=" + s.TenantGRPCAddr,
			"USER_SUBSCRIPTION_ADDR=" + s.SubscriptionGRPCAddr,
			"USER_ENCRYPTION_KEY_FILE=" + s.EncryptionKeyFile,
			"USER_CLOUD=" + s.Cloud,
			"USER_MS_LOGIN_URL=" + s.SimURL + "/",
			"USER_MS_PARTNER_CENTER_URL=" + s.SimURL,
			"USER_MS_GRAPH_URL=" + s.SimURL + "/v1.0",
			"USER_MS_CA_FILE=" + s.SimCAFile,
			"USER_LOG_LEVEL=" + s.opts.LogLevel,
			"USER_TRACES=file:" + filepath.Join(s.WorkDir, "traces-user.jsonl"),
			"USER_TRACE_MAX_PER_SECOND=" + strconv.FormatFloat(max(0, s.opts.TraceMaxPerSecond), 'g', -1, 64),
		}
	case Facade:
		return []string{
			"FACADE_LISTEN_ADDR=" + s.FacadeAddr,
			"FACADE_TENANT_ADDR=" + s.TenantGRPCAddr,
			"FACADE_SUBSCRIPTION_ADDR=" + s.SubscriptionGRPCAddr,
			"FACADE_USER_ADDR=" + s.UserGRPCAddr,
			"FACADE_RETRY_TIMEOUT=" + s.opts.RetryTimeout.String(),
			"FACADE_TLS_DIR=" + s.FacadeTLSDir,
			// The stack's controllers are issued by its controller CA.
			"FACADE_REGISTRATION_POLICY=controller-ca",
			"FACADE_CONTROLLER_CA_FILE=" + s.ControllerCAFile,
			"FACADE_LOG_LEVEL=" + s.opts.LogLevel,
			"FACADE_TRACES=file:" + filepath.Join(s.WorkDir, "traces-facade.jsonl"),
			"FACADE_TRACE_MAX_PER_SECOND=" + strconv.FormatFloat(max(0, s.opts.TraceMaxPerSecond), 'g', -1, 64),
		}
	}
	return nil
}

// Env returns the whole environment a process is started with: the
// inherited one (minus the process's own prefix), the stack's variables,
// then Options.ExtraEnv.
func (s *Stack) Env(name string) []string {
	own := []string{name}
	if name == AllInOne {
		own = parts
	}
	var env []string
	for _, kv := range os.Environ() {
		if !slices.ContainsFunc(own, func(n string) bool {
			p := ownPrefixes[Base(n)]
			return p != "" && strings.HasPrefix(kv, p)
		}) {
			env = append(env, kv)
		}
	}
	for _, n := range own {
		env = append(env, s.OwnEnv(n)...)
	}
	for _, n := range own {
		env = append(env, s.opts.ExtraEnv[Base(n)]...)
		if Base(n) != n {
			env = append(env, s.opts.ExtraEnv[n]...)
		}
	}
	if name == AllInOne {
		env = append(env, s.opts.ExtraEnv[AllInOne]...)
	}
	return env
}

// ReadyAfter is the time the process took from its start to ready (0 if it
// is not running).
func (s *Stack) ReadyAfter(name string) time.Duration {
	p, err := s.proc(s.processOf(name))
	if err != nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readyAfter
}

// Failed reports processes that exit without being asked to.
func (s *Stack) Failed() <-chan error { return s.failed }

// Running tells whether a process is running.
func (s *Stack) Running(name string) bool {
	s.mu.Lock()
	p := s.procs[s.processOf(name)]
	s.mu.Unlock()
	return p != nil && !p.exited()
}

// Pid returns the process id of a running process (0 if not running).
func (s *Stack) Pid(name string) int {
	s.mu.Lock()
	p := s.procs[s.processOf(name)]
	s.mu.Unlock()
	if p == nil || p.exited() {
		return 0
	}
	return p.cmd.Process.Pid
}

func (s *Stack) proc(name string) (*process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.procs[s.processOf(name)]
	if !ok {
		return nil, fmt.Errorf("devstack: no process %q", name)
	}
	return p, nil
}

// Kill sends SIGKILL to a process (and its process group) and waits for it
// to exit. It is not restarted; use Restart.
func (s *Stack) Kill(name string) error {
	p, err := s.proc(name)
	if err != nil {
		return err
	}
	p.kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("devstack: %s (pid %d) did not die after SIGKILL", name, p.cmd.Process.Pid)
	}
}

// Signal sends sig to a running process (e.g. SIGSTOP and SIGCONT, to
// freeze a replica past its job lease and wake it again).
func (s *Stack) Signal(name string, sig os.Signal) error {
	p, err := s.proc(name)
	if err != nil {
		return err
	}
	return p.cmd.Process.Signal(sig)
}

// Restart stops a process if it runs (SIGTERM, then SIGKILL after 10s),
// starts it again with the same configuration and waits until it is ready.
func (s *Stack) Restart(ctx context.Context, name string) error {
	name = s.processOf(name)
	if _, ok := ownPrefixes[Base(name)]; (!ok && name != AllInOne) || s.LogFiles[name] == "" {
		return fmt.Errorf("devstack: no process %q", name)
	}
	s.mu.Lock()
	p, stopped := s.procs[name], s.stopped
	s.mu.Unlock()
	if stopped {
		return errors.New("devstack: the stack is stopped")
	}
	if p != nil {
		p.terminate(10 * time.Second)
	}
	return s.start(ctx, name)
}

// Stop terminates every process in reverse start order (SIGTERM, then
// SIGKILL after 10s) and removes the work directory if Start created it.
func (s *Stack) Stop() error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		for i := len(s.order) - 1; i >= 0; i-- {
			s.mu.Lock()
			p := s.procs[s.order[i]]
			s.mu.Unlock()
			if p != nil {
				p.terminate(10 * time.Second)
			}
		}
		if s.removeWork {
			s.stopErr = os.RemoveAll(s.WorkDir)
		}
	})
	return s.stopErr
}

// FacadeCAPool returns a pool trusting the facade's certificate (ca.pem).
func (s *Stack) FacadeCAPool() (*x509.CertPool, error) {
	return poolFromFile(s.FacadeCAFile)
}

// SimCAPEM returns the simulator's CA certificate.
func (s *Stack) SimCAPEM() ([]byte, error) { return os.ReadFile(s.SimCAFile) }

// SimClient returns a client of the simulator's admin API trusting its CA.
func (s *Stack) SimClient() (*apsc.SimClient, error) {
	ca, err := s.SimCAPEM()
	if err != nil {
		return nil, err
	}
	return apsc.NewSimClient(s.SimURL, ca)
}

// RegisterDemoPartner registers a sandbox CSP partner selling in US, CA,
// GB and DE at the simulator.
func (s *Stack) RegisterDemoPartner(ctx context.Context, name string) (*apsc.Partner, error) {
	sim, err := s.SimClient()
	if err != nil {
		return nil, err
	}
	req := apsc.DemoPartnerRequest(name)
	req.Cloud = s.Cloud
	return sim.RegisterPartner(ctx, req)
}

// NewController builds an APS controller emulator aimed at the facade,
// trusting the facade's certificate unless opts names a pool. Start it
// before use.
func (s *Stack) NewController(opts apsc.Options) (*apsc.Controller, error) {
	if opts.FacadeURL == "" {
		opts.FacadeURL = s.FacadeURL
	}
	if opts.CADir == "" {
		opts.CADir = s.ControllerCADir
	}
	if opts.FacadeCAPool == nil {
		pool, err := s.FacadeCAPool()
		if err != nil {
			return nil, err
		}
		opts.FacadeCAPool = pool
	}
	return apsc.NewController(opts)
}

func poolFromFile(path string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("devstack: %s holds no PEM certificate", path)
	}
	return pool, nil
}
