package grpcserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/o365gateway/gateway/services/shared/authz"
	"github.com/o365gateway/gateway/services/shared/mtls"
	"github.com/o365gateway/gateway/services/shared/mtls/devpki"
)

// testMesh is a development PKI and a loader of the mesh identity of a
// name in it.
func testMesh(t *testing.T) (devpki.PKI, func(name string) *mtls.Source) {
	t.Helper()
	pki := devpki.PKI{Dir: t.TempDir(), TrustDomain: "o365gw.test"}
	return pki, func(name string) *mtls.Source {
		f, err := pki.Files(name)
		if err != nil {
			t.Fatal(err)
		}
		src, err := mtls.Load(mtls.Files(f), pki.TrustDomain, nil)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
}

// Streaming calls (here gRPC reflection) go through the authorization
// policy too: an identity the policy does not name cannot list services.
func TestStreamsAreAuthorized(t *testing.T) {
	pki, load := testMesh(t)
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Mesh: load("tenant"), TrustDomain: pki.TrustDomain, Reflection: true,
		Rules: []authz.Rule{{Identity: "tool/ops", Methods: []string{authz.Any}, Instances: []string{authz.Any}}}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Server.Serve(lis) }()
	t.Cleanup(s.Server.Stop)
	list := func(name string) error {
		conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), mtls.DialOption(load(name), "tenant"))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		if err != nil {
			return err
		}
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
			return err
		}
		_, err = stream.Recv()
		return err
	}
	if err := list("tool/ops"); err != nil {
		t.Fatalf("an authorized tool cannot list services: %v", err)
	}
	if err := list("tool/mallory"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("an identity the policy does not name listed services: %v", err)
	}
}
