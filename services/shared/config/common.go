package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Microsoft is the configuration of Microsoft calls every service shares.
type Microsoft struct {
	Cloud              string        `env:"CLOUD" default:"global" help:"the one Microsoft cloud this deployment serves: global, china or usgov"`
	MSLoginURL         string        `env:"MS_LOGIN_URL" help:"override of the cloud's Entra authority host (the simulator)"`
	MSPartnerCenterURL string        `env:"MS_PARTNER_CENTER_URL" help:"override of the cloud's Partner Center base URL"`
	MSGraphURL         string        `env:"MS_GRAPH_URL" help:"override of the cloud's Graph base URL (with /v1.0)"`
	MSCAFile           string        `env:"MS_CA_FILE" help:"extra CA certificate (PEM) trusted for Microsoft calls (the simulator's)"`
	MSTimeout          time.Duration `env:"MS_TIMEOUT" default:"60s" help:"timeout of one Microsoft HTTP attempt"`
	MSMaxRetryDelay    time.Duration `env:"MS_MAX_RETRY_DELAY" default:"30s" help:"longest Retry-After waited in process; longer ones reschedule the job"`
	// Microsoft's rate budgets, per service and shared by all its replicas
	// through its database (package budget). The defaults are Microsoft's
	// published limits; Microsoft's own signals (Retry-After,
	// x-ms-throttle-*) pause and lower the buckets at run time.
	GraphWritesPerSecond   float64 `env:"GRAPH_WRITES_PER_SECOND" default:"20" help:"refill rate of this service's Graph write budget per application and customer tenant, shared by all its replicas (Graph allows 3,000 writes per 150 s, 20/s, to all services together); Graph's Retry-After and x-ms-throttle-* headers pause and lower it"`
	GraphWriteBurst        float64 `env:"GRAPH_WRITE_BURST" default:"3000" help:"Graph writes that may go at once on a full budget: Graph's whole 150 s window, so that a burst that fits it is not slowed down"`
	PartnerCenterPerSecond float64 `env:"PARTNER_CENTER_PER_SECOND" default:"10" help:"refill rate of this service's Partner Center budget per partner, shared by all its replicas (Microsoft publishes no number; a 429's Retry-After pauses it, and each 429 lowers its rate to 70%, climbing back by this rate every 2 minutes without one); calls about one customer also draw on a budget per partner and customer of a quarter of this one"`
	PartnerCenterBurst     float64 `env:"PARTNER_CENTER_BURST" default:"600" help:"Partner Center calls per partner that may go at once on a full budget (a minute's worth)"`
}

// Validate checks the Microsoft settings.
func (m Microsoft) Validate() error {
	var errs []error
	for name, v := range map[string]float64{"GRAPH_WRITES_PER_SECOND": m.GraphWritesPerSecond, "GRAPH_WRITE_BURST": m.GraphWriteBurst, "PARTNER_CENTER_PER_SECOND": m.PartnerCenterPerSecond,
		"PARTNER_CENTER_BURST": m.PartnerCenterBurst} {
		// 0 (set explicitly) means Microsoft's published limit, as the default.
		if v < 0 || v > 1e6 {
			errs = append(errs, fmt.Errorf("%s must be between 0 (the default) and 1000000", name))
		}
	}
	return errors.Join(errs...)
}

// Simulated tells whether the endpoints are overridden (a private authority).
func (m Microsoft) Simulated() bool { return m.MSLoginURL != "" || m.MSPartnerCenterURL != "" }

// Jobs is the configuration of a service's durable job runner.
type Jobs struct {
	JobWorkers   int           `env:"JOB_WORKERS" default:"4" help:"concurrent job workers"`
	JobPoll      time.Duration `env:"JOB_POLL" default:"500ms" help:"job queue poll interval"`
	JobLease     time.Duration `env:"JOB_LEASE" default:"30s" help:"job lease; a job whose worker died runs again after it"`
	JobDrain     time.Duration `env:"JOB_DRAIN" default:"20s" help:"at shutdown, how long running jobs may finish before they are cancelled and handed back"`
	JobRetention time.Duration `env:"JOB_RETENTION" default:"168h" help:"how long finished (done or failed) jobs are kept before they are deleted"`
	WorkerID     string        `env:"WORKER_ID" help:"prefix of this replica's worker identity (default: host name); the process id and a random suffix are appended at each start"`
}

// Validate checks the job settings.
func (j Jobs) Validate() error {
	var errs []error
	if j.JobWorkers < 1 {
		errs = append(errs, errors.New("JOB_WORKERS must be at least 1"))
	}
	if j.JobLease < 3*time.Second {
		errs = append(errs, errors.New("JOB_LEASE must be at least 3s"))
	}
	if j.JobPoll <= 0 {
		errs = append(errs, errors.New("JOB_POLL must be positive"))
	}
	// A zero JOB_DRAIN or JOB_RETENTION means the runner's default.
	if j.JobDrain < 0 {
		errs = append(errs, errors.New("JOB_DRAIN must not be negative"))
	}
	if j.JobRetention != 0 && j.JobRetention < time.Hour {
		errs = append(errs, errors.New("JOB_RETENTION must be at least 1h"))
	}
	return errors.Join(errs...)
}

// Observability is the logging, tracing and metrics configuration, and
// the pacing of the process's garbage collector.
type Observability struct {
	LogLevel string `env:"LOG_LEVEL" default:"info" help:"debug, info, warn or error"`
	Traces   string `env:"TRACES" default:"none" help:"trace exporter: none, otlp (OTEL_EXPORTER_OTLP_*), or file:/path (at most 64 MiB and one rotated copy)"`
	// TraceSampleRatio is the share of new traces recorded; a request that
	// arrives with a sampled trace context is always recorded (parent-based).
	TraceSampleRatio float64 `env:"TRACE_SAMPLE_RATIO" default:"1" help:"share of the traces that start here which are recorded (0 to 1; a call within a recorded trace is always recorded)"`
	// TraceMaxPerSecond caps the traces started here that are recorded.
	TraceMaxPerSecond float64 `env:"TRACE_MAX_PER_SECOND" default:"0" help:"at most this many of the traces that start here are recorded each second (0: no cap); bounds tracing's cost under load"`
	// Pprof serves Go's profiles on the admin listener.
	Pprof bool `env:"PPROF" default:"false" help:"serve Go's profiles (/debug/pprof/) on the admin listener, for an operator profiling a live process"`
	// GCInterval and GCHeapMaxMiB pace the garbage collector (gcpace).
	GCInterval   time.Duration `env:"GC_INTERVAL" default:"1s" help:"under load, let the heap grow by about this much time's allocations between two garbage collections (fewer collections in the latency tail); idle, Go's default pacing; 0 keeps Go's default, and so does setting GOGC"`
	GCHeapMaxMiB int           `env:"GC_HEAP_MAX_MIB" default:"64" help:"the heap (MiB) GC_INTERVAL's pacing aims to stay under before collecting (a soft bound: GOMEMLIMIT is the hard one)"`
}

// Validate checks the observability settings.
func (o Observability) Validate() error {
	var errs []error
	if o.GCInterval < 0 {
		errs = append(errs, errors.New("GC_INTERVAL must not be negative"))
	}
	// Zero (a configuration built in code) means the default.
	if o.GCHeapMaxMiB != 0 && (o.GCHeapMaxMiB < 8 || o.GCHeapMaxMiB > 1<<20) {
		errs = append(errs, errors.New("GC_HEAP_MAX_MIB must be between 8 and 1048576"))
	}
	return errors.Join(errs...)
}

// GCPace is the garbage collector's pacing (gcpace.Settings): the
// interval, and the heap cap in bytes.
func (o Observability) GCPace() (time.Duration, uint64) {
	m := o.GCHeapMaxMiB
	if m == 0 {
		m = DefaultGCHeapMaxMiB
	}
	return o.GCInterval, uint64(m) << 20
}

// DefaultGCHeapMaxMiB is GC_HEAP_MAX_MIB's default.
const DefaultGCHeapMaxMiB = 64

// Observable is implemented by configurations that embed Observability.
type Observable interface{ Obs() Observability }

// Obs returns the observability settings.
func (o Observability) Obs() Observability { return o }

// Mesh is how a process proves its identity to the deployment's other
// processes (mutual TLS with certificates of the deployment's CA) and
// checks theirs.
type Mesh struct {
	MTLSCAFile   string `env:"MTLS_CA_FILE" help:"the deployment CA (PEM) that every internal certificate chains to; re-read when it changes"`
	MTLSCertFile string `env:"MTLS_CERT_FILE" help:"this process's certificate (PEM) whose one URI SAN is its SPIFFE ID, spiffe://TRUST_DOMAIN/<name>; re-read when it changes"`
	MTLSKeyFile  string `env:"MTLS_KEY_FILE" help:"the private key (PEM) of MTLS_CERT_FILE"`
	TrustDomain  string `env:"TRUST_DOMAIN" default:"o365gw.local" help:"the SPIFFE trust domain of the deployment's identities"`
	Plaintext    bool   `env:"INSECURE_PLAINTEXT" help:"gRPC without TLS, caller identities or authorization; for a test only (logged as an error)"`
}

// Validate checks the mesh settings.
func (m Mesh) Validate() error {
	files := m.MTLSCAFile != "" && m.MTLSCertFile != "" && m.MTLSKeyFile != ""
	switch {
	case m.Plaintext && (m.MTLSCAFile != "" || m.MTLSCertFile != "" || m.MTLSKeyFile != ""):
		return errors.New("INSECURE_PLAINTEXT and MTLS_* exclude each other")
	case !m.Plaintext && !files:
		return errors.New("MTLS_CA_FILE, MTLS_CERT_FILE and MTLS_KEY_FILE are required (or INSECURE_PLAINTEXT=true, for a test only)")
	case m.TrustDomain == "" || strings.ContainsAny(m.TrustDomain, "/:@ "):
		return errors.New("TRUST_DOMAIN must be a plain domain name")
	}
	return nil
}

// Server is what every gRPC service adds to serving: the admin listener,
// the operators' authorization rules and reflection.
type Server struct {
	AdminAddr       string `env:"ADMIN_ADDR" help:"optional plaintext HTTP address for kubelet and Prometheus: /healthz (liveness: fails once the health checks stop turning, a wedged process), /readyz (readiness: database and job runner), /metrics"`
	AuthzPolicyFile string `env:"AUTHZ_POLICY_FILE" help:"JSON rules {\"rules\":[{\"identity\",\"methods\",\"instances\"}]} added to the built-in ones: which operator tools may call which methods for which instances"`
	GRPCReflection  bool   `env:"GRPC_REFLECTION" help:"serve gRPC reflection (to authorized callers); off in production"`
}
