package web

import (
	"context"
	"fmt"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	apsv1 "github.com/o365gateway/gateway/gen/go/o365/aps/v1"
	tenantv1 "github.com/o365gateway/gateway/gen/go/o365/tenant/v1"
	"github.com/o365gateway/gateway/services/shared/opsclient"
)

// Ops is what the console reads and does in a deployment: the operators'
// API of its services, narrowed to what the pages need. Client adapts an
// opsclient.Client to it; the handlers' tests use a fake.
type Ops interface {
	// ListResources returns one page of a type of resource (from the
	// service that owns the type).
	ListResources(ctx context.Context, req *adminv1.ListResourcesRequest) (*adminv1.ListResourcesResponse, error)
	// GetResource returns one resource.
	GetResource(ctx context.Context, req *adminv1.GetResourceRequest) (*adminv1.Resource, error)
	// InstanceHealth is the last health check of an instance (APS-Instance-ID
	// instanceID, app resource appID); the tenant service checks it first
	// when it never did.
	InstanceHealth(ctx context.Context, instanceID, appID string) (*tenantv1.InstanceHealth, error)
	// TenantDrift is the latest drift report of a tenant.
	TenantDrift(ctx context.Context, instanceID, tenantID string) (*apsv1.DriftReport, error)
	// ListJobs lists the jobs of every service (or of one), newest first
	// within each; a service's error is joined, and the others answer.
	ListJobs(ctx context.Context, service string, req *adminv1.ListJobsRequest) ([]opsclient.Job, error)
	// GetJob returns one job of a service. The job's instance, when the
	// caller knows it, goes with the call (an identity limited to some
	// instances must name one).
	GetJob(ctx context.Context, service string, id int64, instanceID string) (*adminv1.Job, error)
	// RetryJob re-runs a failed job of an instance; the message says what
	// was done. The service's audit entry of the retry names the instance.
	RetryJob(ctx context.Context, service string, id int64, instanceID string) (*adminv1.Job, string, error)
	// CancelJob ends a pending or running job of an instance; the message
	// says what was done.
	CancelJob(ctx context.Context, service string, id int64, instanceID string) (*adminv1.Job, string, error)
	// ListAudit returns one page of a service's audit log, oldest first.
	ListAudit(ctx context.Context, service string, req *adminv1.ListAuditEntriesRequest) (*adminv1.ListAuditEntriesResponse, error)
}

// Client is Ops over the services' gRPC APIs.
func Client(c *opsclient.Client) Ops { return grpcOps{c} }

type grpcOps struct{ c *opsclient.Client }

func (g grpcOps) admin(service string) (adminv1.AdminServiceClient, error) {
	a, ok := g.c.Admin[service]
	if !ok {
		return nil, fmt.Errorf("unknown service %q", service)
	}
	return a, nil
}

func (g grpcOps) ListResources(ctx context.Context, req *adminv1.ListResourcesRequest) (*adminv1.ListResourcesResponse, error) {
	svc, err := opsclient.OwnerOf(req.GetType())
	if err != nil {
		return nil, err
	}
	return g.c.Admin[svc].ListResources(ctx, req)
}

func (g grpcOps) GetResource(ctx context.Context, req *adminv1.GetResourceRequest) (*adminv1.Resource, error) {
	svc, err := opsclient.OwnerOf(req.GetType())
	if err != nil {
		return nil, err
	}
	resp, err := g.c.Admin[svc].GetResource(ctx, req)
	return resp.GetResource(), err
}

func (g grpcOps) InstanceHealth(ctx context.Context, instanceID, appID string) (*tenantv1.InstanceHealth, error) {
	resp, err := g.c.Inst.GetInstanceHealth(opsclient.ForInstance(ctx, instanceID), &tenantv1.GetInstanceHealthRequest{Id: appID})
	return resp.GetHealth(), err
}

func (g grpcOps) TenantDrift(ctx context.Context, instanceID, tenantID string) (*apsv1.DriftReport, error) {
	resp, err := g.c.Tenant.GetTenantDrift(opsclient.ForInstance(ctx, instanceID), &tenantv1.GetTenantDriftRequest{Id: tenantID})
	return resp.GetReport(), err
}

func (g grpcOps) ListJobs(ctx context.Context, service string, req *adminv1.ListJobsRequest) ([]opsclient.Job, error) {
	return g.c.ListJobs(ctx, service, req)
}

// forInstance names the instance of a call when it is known.
func forInstance(ctx context.Context, instanceID string) context.Context {
	if instanceID == "" {
		return ctx
	}
	return opsclient.ForInstance(ctx, instanceID)
}

func (g grpcOps) GetJob(ctx context.Context, service string, id int64, instanceID string) (*adminv1.Job, error) {
	a, err := g.admin(service)
	if err != nil {
		return nil, err
	}
	resp, err := a.GetJob(forInstance(ctx, instanceID), &adminv1.GetJobRequest{Id: id})
	return resp.GetJob(), err
}

func (g grpcOps) RetryJob(ctx context.Context, service string, id int64, instanceID string) (*adminv1.Job, string, error) {
	a, err := g.admin(service)
	if err != nil {
		return nil, "", err
	}
	resp, err := a.RetryJob(forInstance(ctx, instanceID), &adminv1.RetryJobRequest{Id: id})
	return resp.GetJob(), resp.GetMessage(), err
}

func (g grpcOps) CancelJob(ctx context.Context, service string, id int64, instanceID string) (*adminv1.Job, string, error) {
	a, err := g.admin(service)
	if err != nil {
		return nil, "", err
	}
	resp, err := a.CancelJob(forInstance(ctx, instanceID), &adminv1.CancelJobRequest{Id: id})
	return resp.GetJob(), resp.GetMessage(), err
}

func (g grpcOps) ListAudit(ctx context.Context, service string, req *adminv1.ListAuditEntriesRequest) (*adminv1.ListAuditEntriesResponse, error) {
	a, err := g.admin(service)
	if err != nil {
		return nil, err
	}
	return a.ListAuditEntries(ctx, req)
}
