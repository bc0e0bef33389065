package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/mtls/devpki"
	"github.com/o365gateway/gateway/sim/apsc"
	"github.com/o365gateway/gateway/sim/devstack"
)

// http2Preface opens every gRPC connection.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// TestServicesRefuseCallersOutsideTheMesh: every service (each replica)
// refuses a plaintext caller, a TLS caller without a client certificate
// and one whose certificate another CA issued; a caller with the
// deployment's certificate gets through the handshake.
func TestServicesRefuseCallersOutsideTheMesh(t *testing.T) {
	e := start(t)
	s := e.stack
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(s.Mesh[devstack.ToolIdentity].CA)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("CA: %v", err)
	}
	tool := s.Mesh[devstack.ToolIdentity]
	own, err := tls.LoadX509KeyPair(tool.Cert, tool.Key)
	if err != nil {
		t.Fatal(err)
	}
	foreignFiles, err := devpki.PKI{Dir: t.TempDir(), TrustDomain: devstack.TrustDomain}.Files(devstack.ToolIdentity)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := tls.LoadX509KeyPair(foreignFiles.Cert, foreignFiles.Key)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, list := range []string{s.TenantGRPCAddr, s.SubscriptionGRPCAddr, s.UserGRPCAddr} {
		addrs = append(addrs, strings.Split(list, ",")...)
	}
	for _, addr := range addrs {
		if err := plaintextCall(addr); err == nil {
			t.Errorf("%s answered a plaintext HTTP/2 call", addr)
		}
		if err := tlsCall(addr, pool, nil); err == nil {
			t.Errorf("%s served a TLS caller without a certificate", addr)
		}
		if err := tlsCall(addr, pool, &foreign); err == nil {
			t.Errorf("%s served a certificate of another CA", addr)
		}
		if err := tlsCall(addr, pool, &own); err != nil {
			t.Errorf("%s refused the deployment's certificate: %v", addr, err)
		}
	}
}

// plaintextCall sends the HTTP/2 preface in the clear and waits for the
// server's SETTINGS frame; nil means the server spoke plaintext HTTP/2.
func plaintextCall(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(conn, http2Preface+"\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		return err
	}
	head := make([]byte, 9)
	if _, err := io.ReadFull(conn, head); err != nil {
		return err
	}
	if head[3] != 0x4 { // frame type SETTINGS
		return errors.New("not an HTTP/2 SETTINGS frame")
	}
	return nil
}

// tlsCall completes a TLS 1.3 handshake (with cert, if any) and the HTTP/2
// preface, and reads the server's first frame: with TLS 1.3 a refused client
// certificate shows there, as an alert.
func tlsCall(addr string, roots *x509.CertPool, cert *tls.Certificate) error {
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS13}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(conn, http2Preface+"\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		return err
	}
	head := make([]byte, 9)
	_, err = io.ReadFull(conn, head)
	return err
}

// TestRegistrationNeedsTheControllerCA: with FACADE_REGISTRATION_POLICY=
// controller-ca (the stack's setting) a controller whose certificate
// another CA issued cannot register an instance; one of the stack's
// controller CA can.
func TestRegistrationNeedsTheControllerCA(t *testing.T) {
	e := start(t)
	pool, err := e.stack.FacadeCAPool()
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := apsc.NewController(apsc.Options{FacadeURL: e.stack.FacadeURL, FacadeCAPool: pool, CADir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := rogue.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rogue.Close() })
	if _, err := rogue.Install(e.ctx, apsc.DemoSettings(e.partner)); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a controller of another CA registered an instance: %v", err)
	}
	e.install(nil) // the stack's own controller
}
