// Package registrar registers in the platform what the gateway adopts at
// Microsoft (a synchronization or the link of an existing customer): each
// adopted user and domain becomes an APS resource of the instance, linked
// to its tenant, through POST /aps/2/resources on the instance's controller
// with the instance certificate. Each registration is a durable job, so a
// controller that is down or a crash delays it and loses nothing; the
// resource keeps the id the gateway derived for it, so a registration
// repeated after a lost answer meets the first (409) and is done.
package registrar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/apsmd"
	"github.com/o365gateway/gateway/services/shared/jobs"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Kind is the job kind of one registration.
const Kind = "tenant.register.v1"

// Item is one adopted resource to register.
type Item struct {
	// Service is the APS service: "users" or "domains".
	Service string `json:"service"`
	// ID is the resource id the gateway gave it (its aps.id).
	ID string `json:"id"`
	// Props are its properties as the platform shows them.
	Props map[string]any `json:"props"`
}

type payload struct {
	InstanceID string `json:"instance_id"`
	TenantID   string `json:"tenant_id"`
	Item
}

// Store is what the registrar needs of the tenant store.
type Store interface {
	GetInstance(ctx context.Context, instanceID string) (*storage.Instance, error)
	EnqueueJobs(ctx context.Context, js []jobs.New) error
}

// Service registers adopted resources.
type Service struct {
	Store Store
	// Register posts one resource to the instance's controller.
	Register func(ctx context.Context, inst *storage.Instance, body map[string]any) error
	Notify   func()
	Log      *slog.Logger
}

var types = map[string]string{"users": apsmd.TypeUser, "domains": apsmd.TypeDomain}

// Enqueue plans the registration of items adopted for a tenant, unless the
// instance's register_adopted setting is false.
func (s *Service) Enqueue(ctx context.Context, inst *storage.Instance, tenantID string, items []Item) error {
	if !inst.Settings.Registers() || len(items) == 0 {
		return nil
	}
	js := make([]jobs.New, 0, len(items))
	for _, it := range items {
		if types[it.Service] == "" {
			return fmt.Errorf("registrar: unknown service %q", it.Service)
		}
		b, err := json.Marshal(payload{InstanceID: inst.InstanceID, TenantID: tenantID, Item: it})
		if err != nil {
			return err
		}
		js = append(js, jobs.New{Kind: Kind, Key: it.ID, Group: inst.InstanceID, Payload: b, MaxAttempts: 20})
	}
	if err := s.Store.EnqueueJobs(ctx, js); err != nil {
		return err
	}
	if s.Notify != nil {
		s.Notify()
	}
	return nil
}

// Body is the resource a registration posts: its type and id, the link to
// its tenant, and its properties.
func Body(tenantID string, it Item) map[string]any {
	body := map[string]any{}
	for k, v := range it.Props {
		body[k] = v
	}
	body["aps"] = map[string]any{"type": types[it.Service], "id": it.ID}
	body["tenant"] = map[string]any{"aps": map[string]any{"id": tenantID}}
	return body
}

// Handler is the registration job.
func (s *Service) Handler() jobs.Handler {
	return jobs.Handler{Run: func(ctx context.Context, job *jobs.Job) error {
		var p payload
		if err := json.Unmarshal(job.Payload, &p); err != nil {
			return jobs.Permanent(fmt.Errorf("registration payload: %w", err))
		}
		inst, err := s.Store.GetInstance(ctx, p.InstanceID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil // the instance is gone: nothing to register it in
		}
		if err != nil {
			return err
		}
		if !inst.Settings.Registers() {
			return nil // switched off since it was planned
		}
		if err := s.Register(ctx, inst, Body(p.TenantID, p.Item)); err != nil {
			s.Log.WarnContext(ctx, "adopted resource not registered in the platform yet", "service", p.Service, "id", p.ID,
				"attempt", job.Attempt, "cause", apierr.From(err).Message)
			return err
		}
		s.Log.InfoContext(ctx, "adopted resource registered in the platform", "service", p.Service, "id", p.ID, "tenant_id", p.TenantID)
		return nil
	}}
}
