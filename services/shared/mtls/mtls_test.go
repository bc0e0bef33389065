package mtls_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/o365gateway/gateway/services/shared/mtls"
	"github.com/o365gateway/gateway/services/shared/mtls/devpki"
)

const td = "o365gw.test"

func source(t *testing.T, pki devpki.PKI, name string) *mtls.Source {
	t.Helper()
	files, err := pki.Files(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := mtls.Load(mtls.Files(files), td, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serve starts a gRPC health server with src's credentials; it records the
// identity of the last caller.
func serve(t *testing.T, src *mtls.Source) (string, *string) {
	t.Helper()
	var caller string
	srv := grpc.NewServer(mtls.ServerOption(src), grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		caller, _ = mtls.Peer(ctx, td)
		return next(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), &caller
}

func check(addr string, opt grpc.DialOption) error {
	conn, err := grpc.NewClient("passthrough:///"+addr, opt)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestMutualTLS(t *testing.T) {
	pki := devpki.PKI{Dir: t.TempDir(), TrustDomain: td}
	tenant := source(t, pki, "tenant")
	facade := source(t, pki, "facade")
	addr, caller := serve(t, tenant)

	if err := check(addr, mtls.DialOption(facade, "tenant")); err != nil {
		t.Fatalf("the facade cannot call the tenant service: %v", err)
	}
	if *caller != "spiffe://o365gw.test/facade" {
		t.Fatalf("caller %q", *caller)
	}
	// Refused: plaintext; TLS without a client certificate; a certificate
	// of another CA; a server that is not the service the client wants.
	if err := check(addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err == nil {
		t.Error("a plaintext call was served")
	}
	noCert := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13} //nolint:gosec // the test's point
	if err := check(addr, grpc.WithTransportCredentials(credentials.NewTLS(noCert))); err == nil {
		t.Error("a call without a client certificate was served")
	}
	other := source(t, devpki.PKI{Dir: t.TempDir(), TrustDomain: td}, "facade")
	if err := check(addr, mtls.DialOption(other, "tenant")); err == nil {
		t.Error("a certificate of another CA was accepted")
	}
	if err := check(addr, mtls.DialOption(facade, "user")); err == nil || !strings.Contains(err.Error(), "not spiffe://o365gw.test/user") {
		t.Errorf("the client accepted the tenant service as the user service: %v", err)
	}
}

// A certificate replaced in place is picked up without a restart.
func TestCertificatesReload(t *testing.T) {
	dir := t.TempDir()
	pki := devpki.PKI{Dir: dir, TrustDomain: td}
	src := source(t, pki, "tool/alice")
	src.Recheck = 0
	if src.Self() != "spiffe://o365gw.test/tool/alice" {
		t.Fatalf("self %q", src.Self())
	}
	bob, err := pki.Files("tool/bob")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{bob.Cert, filepath.Join(dir, "tool_alice.pem")}, {bob.Key, filepath.Join(dir, "tool_alice-key.pem")}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	server := source(t, pki, "tenant")
	addr, caller := serve(t, server)
	if err := check(addr, mtls.DialOption(src, "tenant")); err != nil {
		t.Fatal(err)
	}
	if *caller != "spiffe://o365gw.test/tool/bob" {
		t.Fatalf("the reloaded certificate was not used: caller %q", *caller)
	}
	// The in-process peer follows the reload too.
	if id, ok := mtls.Peer(peer.NewContext(context.Background(), src.LocalPeer()), td); !ok || id != "spiffe://o365gw.test/tool/bob" {
		t.Fatalf("in-process peer after the reload: %q %v", id, ok)
	}
}

// The in-process peer of a process names its identity, as the same
// process seen over mutual TLS does, and is built once per certificate.
func TestLocalPeer(t *testing.T) {
	src := source(t, devpki.PKI{Dir: t.TempDir(), TrustDomain: td}, "facade")
	p := src.LocalPeer()
	id, ok := mtls.Peer(peer.NewContext(context.Background(), p), td)
	if !ok || id != src.Self() {
		t.Fatalf("in-process peer %q %v, want %s", id, ok, src.Self())
	}
	if src.LocalPeer() != p {
		t.Error("the peer was built again for the same certificate")
	}
	if p.Addr.String() != "in-process" {
		t.Errorf("address %s", p.Addr)
	}
}

func TestIdentityRules(t *testing.T) {
	if _, err := mtls.Load(mtls.Files{CA: "/nonexistent", Cert: "/x", Key: "/y"}, td, nil); err == nil {
		t.Fatal("loaded missing files")
	}
	pki := devpki.PKI{Dir: t.TempDir(), TrustDomain: "elsewhere.test"}
	files, err := pki.Files("facade")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mtls.Load(mtls.Files(files), td, nil); err == nil || !strings.Contains(err.Error(), "trust domain") {
		t.Fatalf("a certificate of another trust domain was loaded: %v", err)
	}
}

// Only canonical SPIFFE IDs of the trust domain are identities.
func TestIdentityOfIsStrict(t *testing.T) {
	for raw, ok := range map[string]bool{
		"spiffe://o365gw.test/tenant":         true,
		"spiffe://o365gw.test/tool/alice":     true,
		"spiffe://o365gw.test/tenan%74":       false,
		"spiffe://user@o365gw.test/tenant":    false,
		"spiffe://o365gw.test:8443/tenant":    false,
		"spiffe://o365gw.test/a//b":           false,
		"spiffe://o365gw.test/tool/../tenant": false,
		"spiffe://o365gw.test/":               false,
		"spiffe://other.test/tenant":          false,
		"https://o365gw.test/tenant":          false,
		"spiffe://o365gw.test/tenant?x=1":     false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = mtls.IdentityOf(&x509.Certificate{URIs: []*url.URL{u}}, td)
		if (err == nil) != ok {
			t.Errorf("%s: %v", raw, err)
		}
	}
}
