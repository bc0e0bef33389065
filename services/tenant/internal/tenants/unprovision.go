package tenants

import (
	"context"
	"errors"
	"net/http"

	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/mserr"
	"github.com/o365gateway/gateway/services/shared/partnercenter"

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
	m := s.machine()
	t, a, d, err := m.Begin(ctx, inst.InstanceID, id, lifecycle.Unprovision, req.Async())
	if d == lifecycle.Answered {
		return a, err // an unknown id is unprovisioned already (nil: 204)
	}
	if !t.Op.Busy() && (!inst.TestPartner || t.MSCustomerID == "" && !t.Op.Touched() || t.Linked) {
		if err := s.Store.DeleteTenant(ctx, inst.InstanceID, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		s.Log.InfoContext(ctx, "tenant released; the Microsoft customer is kept", "tenant_id", id, "ms_customer_id", t.MSCustomerID)
		return nil, nil
	}
	// A sandbox customer is deleted at Microsoft; a running attempt (a
	// provisioning still under way) is superseded, and the job, which runs
	// after that attempt's job, reads back what it created.
	t.State = storage.StateDeleting
	return m.Start(ctx, t, lifecycle.Unprovision, false)
}

// runUnprovision deletes the sandbox customer (found by domain when the
// create's outcome was unknown); a production customer is kept, since
// Microsoft offers no deletion, and only the tenant is released.
func (s *Service) runUnprovision(ctx context.Context, t *storage.Tenant) (func(*storage.Tenant), error) {
	inst, pc, err := s.instanceOf(ctx, t)
	if err != nil {
		return nil, err
	}
	id := t.MSCustomerID
	if id == "" && t.Op.Touched() {
		found, err := pc.FindCustomerByDomain(ctx, t.InitialDomain)
		if err != nil {
			return nil, mserr.Job(err)
		}
		if found != nil {
			id = found.ID
		}
	}
	if id == "" || !inst.TestPartner || t.Linked {
		s.Log.InfoContext(ctx, "tenant released; the Microsoft customer is kept", "tenant_id", t.ID, "ms_customer_id", id)
		return nil, nil
	}
	if err := pc.DeleteCustomer(ctx, id); err != nil {
		if e, ok := partnercenter.AsError(err); !ok || e.StatusCode != http.StatusNotFound {
			return nil, mserr.Job(err)
		}
	}
	s.Log.InfoContext(ctx, "customer deleted at Microsoft", "tenant_id", t.ID, "ms_customer_id", id)
	return nil, nil
}
