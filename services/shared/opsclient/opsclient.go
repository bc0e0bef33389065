// Package opsclient is the operators' client of a deployment: it dials the
// tenant, subscription and user services over mutual TLS with a tool
// certificate, and fans the admin API (o365.admin.v1) out over them, so
// that a tool sees one list of jobs and resources. o365ctl and the web
// console are built on it.
package opsclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/config"
	"github.com/o365gateway/gateway/services/shared/grpcclient"
	"github.com/o365gateway/gateway/services/shared/mtls"
)

// Services of a deployment, in the order their answers are merged.
var Services = []string{"tenant", "subscription", "user"}

// Config is where the services are and the tool's identity.
type Config struct {
	// Addresses by service name (tenant, subscription, user).
	Addresses map[string]string `json:"addresses"`
	// The deployment CA, and the tool's certificate and key (PEM files).
	CAFile   string `json:"ca_file"`
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	// TrustDomain of the deployment's SPIFFE identities.
	TrustDomain string `json:"trust_domain"`
	// FacadeURL and SimURL are informative (the dev stack writes them).
	FacadeURL string `json:"facade_url,omitempty"`
	SimURL    string `json:"sim_url,omitempty"`
}

// StackFile is the name of the file the dev stack writes in its work
// directory (make run: .run/stack.json), which tools read by default.
const StackFile = "stack.json"

// WriteStack writes c as dir/stack.json (the dev stack does, at start).
func WriteStack(dir string, c Config) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, StackFile), append(b, '\n'), 0o600)
}

// ReadStack reads a stack file.
func ReadStack(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// FindStack looks for the dev stack's file: ./.run/stack.json and in the
// parents of the working directory (a tool run from a subdirectory of the
// repository finds it too).
func FindStack() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, ".run", StackFile)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("no dev stack found (.run/stack.json): start one with `make run`, or give the services' addresses and a tool certificate")
		}
	}
}

// Client talks to every service of a deployment.
type Client struct {
	conns  map[string]*grpc.ClientConn
	Admin  map[string]adminv1.AdminServiceClient
	Tenant tenantv1.TenantServiceClient
	Inst   tenantv1.InstanceServiceClient
}

// Dial connects (lazily) to the services of c.
func Dial(c Config) (*Client, error) {
	if c.TrustDomain == "" {
		c.TrustDomain = "o365gw.local"
	}
	src, err := mtls.Open(config.Mesh{MTLSCAFile: c.CAFile, MTLSCertFile: c.CertFile, MTLSKeyFile: c.KeyFile, TrustDomain: c.TrustDomain},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, fmt.Errorf("the tool certificate: %w", err)
	}
	cl := &Client{conns: map[string]*grpc.ClientConn{}, Admin: map[string]adminv1.AdminServiceClient{}}
	for _, svc := range Services {
		addr := c.Addresses[svc]
		if addr == "" {
			cl.Close()
			return nil, fmt.Errorf("no address for the %s service", svc)
		}
		conn, err := grpcclient.Dial(addr, src, svc)
		if err != nil {
			cl.Close()
			return nil, err
		}
		cl.conns[svc] = conn
		cl.Admin[svc] = adminv1.NewAdminServiceClient(conn)
	}
	cl.Tenant = tenantv1.NewTenantServiceClient(cl.conns["tenant"])
	cl.Inst = tenantv1.NewInstanceServiceClient(cl.conns["tenant"])
	return cl, nil
}

// Close closes the connections.
func (c *Client) Close() {
	for _, conn := range c.conns {
		conn.Close()
	}
}

// ForInstance is the context of a call made for an instance through a
// service's APS-facing RPCs (the APS-Instance-ID the facade would pass).
func ForInstance(ctx context.Context, instanceID string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, apsmd.InstanceID, instanceID)
}

// Job is a job of one service.
type Job struct {
	Service string `json:"service"`
	*adminv1.Job
}

// Ref names a job across services: "tenant/42".
func (j Job) Ref() string { return j.Service + "/" + strconv.FormatInt(j.GetId(), 10) }

// ParseRef reads a job reference.
func ParseRef(ref string) (string, int64, error) {
	svc, id, ok := strings.Cut(ref, "/")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n <= 0 || !known(svc) {
		return "", 0, fmt.Errorf("%q is not a job reference: want service/id, e.g. tenant/42", ref)
	}
	return svc, n, nil
}

func known(svc string) bool {
	for _, s := range Services {
		if s == svc {
			return true
		}
	}
	return false
}

// ListJobs lists the jobs of every service (or of one, when service is
// set) that match, newest first within each service. Errors of a service
// are collected, not fatal: the others still answer.
func (c *Client) ListJobs(ctx context.Context, service string, req *adminv1.ListJobsRequest) ([]Job, error) {
	var out []Job
	var errs []error
	for _, svc := range Services {
		if service != "" && svc != service {
			continue
		}
		resp, err := c.Admin[svc].ListJobs(ctx, req)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", svc, err))
			continue
		}
		for _, j := range resp.GetJobs() {
			out = append(out, Job{Service: svc, Job: j})
		}
	}
	return out, errors.Join(errs...)
}

// OwnerOf is the service that owns a resource type.
func OwnerOf(typ string) (string, error) {
	switch typ {
	case "instance", "tenant", "domain":
		return "tenant", nil
	case "subscription":
		return "subscription", nil
	case "user":
		return "user", nil
	}
	return "", fmt.Errorf("unknown resource type %q (instance, tenant, domain, subscription, user)", typ)
}
