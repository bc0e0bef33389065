package serving

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/o365gateway/gateway/bench/internal/load"
	"github.com/o365gateway/gateway/bench/internal/report"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/config"
	"github.com/o365gateway/gateway/services/shared/mtls"
	"github.com/o365gateway/gateway/sim/devstack"
)

// apsHeaders are the headers APSC sends with a synchronous GET.
func (f *fixture) apsHeaders() http.Header {
	h := http.Header{}
	h.Set("APS-Controller-URI", f.ctrl.ControllerURI())
	h.Set("APS-Instance-ID", f.inst.InstanceID)
	h.Set("APS-Transaction-ID", "bench-0001")
	h.Set("APS-Request-Phase", "sync")
	h.Set("Accept", "application/json")
	h.Set("User-Agent", "o365gateway-bench/1.0")
	return h
}

func (f *fixture) clientTLS() *tls.Config {
	pool, _ := f.stack.FacadeCAPool()
	return &tls.Config{Certificates: []tls.Certificate{f.ctrl.ControllerCertificate()}, RootCAs: pool,
		ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
}

// facadeTarget is GET /aps/tenants/{id} at the facade, as APSC sends it.
func (f *fixture) facadeTarget() *load.Target {
	return &load.Target{Addr: f.stack.FacadeAddr, TLS: f.clientTLS(), Method: http.MethodGet,
		Path: "/aps/tenants/" + f.tenantID, Header: f.apsHeaders()}
}

// direct calls the tenant service's GetTenant over one shared connection
// with the facade's identity and the metadata the facade forwards.
func (f *fixture) direct() (load.Dialer, func(), error) {
	files := f.stack.Mesh[devstack.Facade]
	src, err := mtls.Open(config.Mesh{MTLSCAFile: files.CA, MTLSCertFile: files.Cert, MTLSKeyFile: files.Key, TrustDomain: "o365gw.local"}, slog.Default())
	if err != nil {
		return nil, nil, err
	}
	conn, err := grpc.NewClient("passthrough:///"+f.stack.TenantGRPCAddr, mtls.DialOption(src, "tenant"))
	if err != nil {
		return nil, nil, err
	}
	client := tenantv1.NewTenantServiceClient(conn)
	md := metadata.Pairs("aps-instance-id", f.inst.InstanceID, "aps-controller-uri", f.ctrl.ControllerURI(),
		"aps-transaction-id", "bench-0001", "aps-request-phase", "sync")
	req := &tenantv1.GetTenantRequest{Id: f.tenantID}
	dial := func(ctx context.Context) (load.Caller, error) {
		return grpcCaller(func() error {
			cctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, md), 10*time.Second)
			defer cancel()
			_, err := client.GetTenant(cctx, req)
			return err
		}), nil
	}
	return dial, func() { conn.Close() }, nil
}

type grpcCaller func() error

func (g grpcCaller) Do() error    { return g() }
func (g grpcCaller) Close() error { return nil }

// helper is a baseline server process (package servers).
type helper struct {
	cmd  *exec.Cmd
	addr string
}

func (h *helper) stop() {
	if h != nil && h.cmd.Process != nil {
		_ = h.cmd.Process.Kill()
		_ = h.cmd.Wait()
	}
}

// spawn starts "<self> serve kind -addr <free port> args..." and waits
// until it accepts connections.
func spawn(ctx context.Context, workDir, kind string, args ...string) (*helper, error) {
	self := strings.Fields(os.Getenv(report.SelfEnv))
	if len(self) == 0 {
		return nil, fmt.Errorf("%s is not set (run the benchmarks with make bench)", report.SelfEnv)
	}
	port, err := devstack.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	argv := append(append(self[1:], "serve", kind, "-addr", addr), args...)
	cmd := exec.Command(self[0], argv...)
	log, err := os.Create(filepath.Join(workDir, kind+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &helper{cmd: cmd, addr: addr}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return h, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			h.stop()
			out, _ := os.ReadFile(log.Name())
			return nil, fmt.Errorf("%s did not start: %v\n%s", kind, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// baselines are the bare server and the do-nothing chain, started beside
// the fixture's stack with the same certificates and the same answer.
type baselines struct {
	bare, nullGRPC, nullGateway *helper
}

func (b *baselines) stop() {
	b.bare.stop()
	b.nullGateway.stop()
	b.nullGRPC.stop()
}

func startBaselines(ctx context.Context, f *fixture, workDir string) (*baselines, error) {
	body := filepath.Join(workDir, "answer.json")
	if err := os.WriteFile(body, f.body, 0o600); err != nil {
		return nil, err
	}
	ctrlCert := filepath.Join(workDir, "controller.pem")
	if err := os.WriteFile(ctrlCert, f.ctrl.ControllerCertPEM(), 0o600); err != nil {
		return nil, err
	}
	cert, key := filepath.Join(f.stack.FacadeTLSDir, "cert.pem"), filepath.Join(f.stack.FacadeTLSDir, "key.pem")
	b := &baselines{}
	var err error
	if b.bare, err = spawn(ctx, workDir, "bare", "-cert", cert, "-key", key, "-client-cert", ctrlCert,
		"-path", "/aps/tenants/"+f.tenantID, "-body", body, "-content-type", f.contentType); err != nil {
		return nil, err
	}
	// The null gRPC server proves the tenant service's identity, the null
	// gateway the facade's.
	tm, fm := f.stack.Mesh[devstack.Tenant], f.stack.Mesh[devstack.Facade]
	if b.nullGRPC, err = spawn(ctx, workDir, "nullgrpc", "-body", body, "-mesh-ca", tm.CA, "-mesh-cert", tm.Cert, "-mesh-key", tm.Key); err != nil {
		b.stop()
		return nil, err
	}
	if b.nullGateway, err = spawn(ctx, workDir, "nullgateway", "-cert", cert, "-key", key, "-upstream", b.nullGRPC.addr,
		"-mesh-ca", fm.CA, "-mesh-cert", fm.Cert, "-mesh-key", fm.Key); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

// bareTarget and chainTarget send the facade's request to the baselines.
func (b *baselines) bareTarget(f *fixture) *load.Target {
	t := f.facadeTarget()
	t.Addr = b.bare.addr
	return t
}

func (b *baselines) chainTarget(f *fixture) *load.Target {
	t := f.facadeTarget()
	t.Addr, t.Path = b.nullGateway.addr, "/tenants/"+f.tenantID
	return t
}
