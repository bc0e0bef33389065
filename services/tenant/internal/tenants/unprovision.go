package tenants

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/partnercenter"
	"github.com/o365gateway/gateway/services/shared/pcerr"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Unprovision answers DELETE /tenants/{id}. For a test (sandbox) partner the
// customer the gateway created is deleted at Microsoft (a job). For a
// production partner Microsoft offers no deletion: the tenant is released by
// the gateway at once and the customer stays at Microsoft (its subscriptions
// are cancelled by the subscription service as APSC unprovisions them). A
// returned nil View means done (204).
func (s *Service) Unprovision(ctx context.Context, req apsmd.Request, id string) (*View, error) {
	inst, err := s.Instances.Load(ctx, req.InstanceID)
	if err != nil {
		return nil, err
	}
	if !apsmd.IsID(id) {
		return nil, apierr.Invalid("The tenant id %q is not a UUID.", id)
	}
	t, err := s.Store.GetTenant(ctx, inst.InstanceID, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if t.Operation == storage.OpUnprovision && (t.OperationState == storage.OpRunning || req.Async()) {
		v, err := s.outcome(ctx, t, storage.OpUnprovision)
		if err != nil || v.Accepted != "" {
			return v, err
		}
	}
	if t.OperationState == storage.OpRunning {
		return nil, apierr.New(codes.Aborted, apierr.Conflict, "The tenant is busy (%s in progress); unprovision it when that has finished.", t.Operation)
	}
	if !inst.TestPartner || t.MSCustomerID == "" || t.Linked {
		if err := s.Store.DeleteTenant(ctx, inst.InstanceID, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		s.Log.InfoContext(ctx, "tenant released; the Microsoft customer is kept", "tenant_id", id, "ms_customer_id", t.MSCustomerID)
		return nil, nil
	}
	t.State, t.Operation, t.OperationState, t.FailureReason, t.FailureMessage = storage.StateDeleting, storage.OpUnprovision, storage.OpRunning, "", ""
	if err := s.Store.UpdateTenant(ctx, t, newJob(KindUnprovision, t)); err != nil {
		return nil, err
	}
	s.notify()
	return &View{Tenant: t, Accepted: describe(storage.OpUnprovision, t)}, nil
}

// runUnprovision deletes the sandbox customer, then the tenant row.
func (s *Service) runUnprovision(ctx context.Context, job *jobs.Job) error {
	t, err := s.jobTenant(ctx, job)
	if err != nil || t == nil {
		return err
	}
	if t.Operation != storage.OpUnprovision || t.OperationState != storage.OpRunning {
		return nil
	}
	inst, err := s.Instances.Load(ctx, t.InstanceID)
	if err != nil {
		return jobs.Permanent(err)
	}
	pc, err := s.PC(inst)
	if err != nil {
		return jobs.Permanent(err)
	}
	if err := pc.DeleteCustomer(ctx, t.MSCustomerID); err != nil {
		if e, ok := partnercenter.AsError(err); !ok || e.StatusCode != http.StatusNotFound {
			return pcerr.Job(err)
		}
	}
	s.Log.InfoContext(ctx, "customer deleted at Microsoft", "tenant_id", t.ID, "ms_customer_id", t.MSCustomerID)
	if err := s.Store.DeleteTenant(ctx, t.InstanceID, t.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}
