package servers

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"os"

	"github.com/o365gateway/gateway/services/shared/config"
)

// Main runs one baseline server: args are "bare|nullgrpc|nullgateway"
// and its flags. It serves until ctx ends.
func Main(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("serve: want bare, nullgrpc or nullgateway")
	}
	fs := flag.NewFlagSet("serve "+args[0], flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	cert := fs.String("cert", "", "server certificate (PEM)")
	key := fs.String("key", "", "its key (PEM)")
	clientCert := fs.String("client-cert", "", "bare: the one accepted client certificate (PEM)")
	path := fs.String("path", "", "bare: the path served")
	bodyFile := fs.String("body", "", "bare, nullgrpc: the answer's body (the facade's JSON)")
	contentType := fs.String("content-type", "application/json", "bare: the answer's Content-Type")
	upstream := fs.String("upstream", "", "nullgateway: the null gRPC server's address")
	ca := fs.String("mesh-ca", "", "nullgrpc, nullgateway: the mesh CA (PEM)")
	meshCert := fs.String("mesh-cert", "", "nullgrpc, nullgateway: this process's mesh certificate")
	meshKey := fs.String("mesh-key", "", "nullgrpc, nullgateway: its key")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	mesh := config.Mesh{MTLSCAFile: *ca, MTLSCertFile: *meshCert, MTLSKeyFile: *meshKey, TrustDomain: "o365gw.local"}
	switch args[0] {
	case "bare":
		body, err := os.ReadFile(*bodyFile)
		if err != nil {
			return err
		}
		return Bare(ctx, BareOptions{Addr: *addr, CertFile: *cert, KeyFile: *key, ClientCertFile: *clientCert, Path: *path, Body: body, ContentType: *contentType})
	case "nullgrpc":
		body, err := os.ReadFile(*bodyFile)
		if err != nil {
			return err
		}
		return NullGRPC(ctx, *addr, mesh, body)
	case "nullgateway":
		c, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			return err
		}
		return NullGateway(ctx, *addr, c, *upstream, mesh)
	}
	return errors.New("serve: want bare, nullgrpc or nullgateway")
}
