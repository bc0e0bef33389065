package grpcserver

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/o365gateway/gateway/services/shared/authz"
	"github.com/o365gateway/gateway/services/shared/mtls"
)

// The server runs calls on a fixed number of workers (StreamWorkers), and
// more calls than that still run at once: a call that waits for others
// (here, for all of them) is not stuck behind busy workers.
func TestMoreCallsThanWorkersRunAtOnce(t *testing.T) {
	pki, load := testMesh(t)
	s := New(slog.New(slog.DiscardHandler), Options{Mesh: load("tenant"), TrustDomain: pki.TrustDomain,
		Rules: []authz.Rule{{Identity: "facade", Methods: []string{"/" + echoName + "/*"}, Instances: []string{authz.Any}}}})
	s.RegisterService(echoDesc(), echo{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Serve(ctx, lis) }()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), mtls.DialOption(load("facade"), "tenant"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	n := 2*int(StreamWorkers()) + 1
	var b sync.WaitGroup
	b.Add(n)
	barriers.Store(t.Name(), &b)
	defer barriers.Delete(t.Name())
	cctx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- conn.Invoke(cctx, "/"+echoName+"/Wait", wrapperspb.String(t.Name()), new(wrapperspb.StringValue))
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("%d calls at once on %d workers: %v", n, StreamWorkers(), err)
		}
	}
}
