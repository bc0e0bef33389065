// Package servers are the baselines the facade is measured against, each
// run as a process of its own (cmd/benchreport serve-*):
//
//   - Bare: a Go HTTPS server that answers the facade's exact bytes after
//     the same checks (the client certificate is the instance's
//     controller certificate; the APS headers are there): what the facade
//     would cost if the APS layer, grpc-gateway, the gRPC hop and the
//     tenant service were free.
//   - NullGRPC and NullGateway: a plain grpc-gateway in front of a gRPC
//     server that does no work, with the deployment's mutual TLS between
//     them: what the facade's architecture costs by itself.
package servers

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/config"
	"github.com/o365gateway/gateway/services/shared/mtls"
)

// BareOptions configure Bare.
type BareOptions struct {
	Addr              string
	CertFile, KeyFile string
	// ClientCertFile is the one client certificate (PEM) accepted.
	ClientCertFile string
	// Path is the one path served; Body and ContentType its answer.
	Path        string
	Body        []byte
	ContentType string
}

// Bare serves until ctx ends.
func Bare(ctx context.Context, o BareOptions) error {
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return err
	}
	client, err := certOnly(o.ClientCertFile)
	if err != nil {
		return err
	}
	want := client.Certificate[0]
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || !bytes.Equal(r.TLS.PeerCertificates[0].Raw, want) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		if r.Header.Get("APS-Instance-ID") == "" || r.Header.Get("APS-Controller-URI") == "" {
			http.Error(w, "APS headers required", http.StatusBadRequest)
			return
		}
		if r.URL.Path != o.Path {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", o.ContentType)
		_, _ = w.Write(o.Body)
	})
	return serveTLS(ctx, o.Addr, h, cert)
}

func certOnly(file string) (tls.Certificate, error) {
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return tls.Certificate{}, err
	}
	var c tls.Certificate
	for rest := pemBytes; ; {
		var der []byte
		der, rest = nextCert(rest)
		if der == nil {
			break
		}
		c.Certificate = append(c.Certificate, der)
	}
	if len(c.Certificate) == 0 {
		return c, fmt.Errorf("no certificate in %s", file)
	}
	return c, nil
}

func serveTLS(ctx context.Context, addr string, h http.Handler, cert tls.Certificate) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12},
		ErrorLog:  slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ServeTLS(lis, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// nullTenants answers GetTenant with one fixed message and does nothing else.
type nullTenants struct {
	tenantv1.UnimplementedTenantServiceServer
	answer *tenantv1.GetTenantResponse
}

func (n nullTenants) GetTenant(context.Context, *tenantv1.GetTenantRequest) (*tenantv1.GetTenantResponse, error) {
	return n.answer, nil
}

// NullGRPC serves the tenant service's GetTenant on addr with the mesh's
// mutual TLS (mesh names this process's certificate), answering body (the
// facade's JSON answer, read as a GetTenantResponse) every time.
func NullGRPC(ctx context.Context, addr string, mesh config.Mesh, body []byte) error {
	// The facade's answer is the response body: the tenant message.
	answer := &tenantv1.GetTenantResponse{Tenant: &tenantv1.Tenant{}}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, answer.Tenant); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	src, err := mtls.Open(mesh, slog.Default())
	if err != nil {
		return err
	}
	s := grpc.NewServer(mtls.ServerOption(src))
	tenantv1.RegisterTenantServiceServer(s, nullTenants{answer: answer})
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
	return s.Serve(lis)
}

// NullGateway serves the tenant service's REST routes on addr (HTTPS with
// cert, a client certificate requested), translating each to a gRPC call
// to upstream over the mesh's mutual TLS, with grpc-gateway's defaults but
// the APS names (proto field names).
func NullGateway(ctx context.Context, addr string, cert tls.Certificate, upstream string, mesh config.Mesh) error {
	src, err := mtls.Open(mesh, slog.Default())
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient("passthrough:///"+upstream, mtls.DialOption(src, "tenant"))
	if err != nil {
		return err
	}
	defer conn.Close()
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
		MarshalOptions: protojson.MarshalOptions{UseProtoNames: true}}))
	if err := tenantv1.RegisterTenantServiceHandlerClient(ctx, mux, tenantv1.NewTenantServiceClient(conn)); err != nil {
		return err
	}
	return serveTLS(ctx, addr, mux, cert)
}
