// Package tenantclienttest is an in-memory stand-in for the tenant service
// as the subscription and user services read it (their Tenants interfaces,
// which *tenantclient.Client implements), for their domain tests.
package tenantclienttest

import (
	"context"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/tenantclient"
)

// Fake answers instances and tenants from maps. Err, when set, answers
// every call first (nil: go on); it lets a test make the tenant service
// unreachable for a moment.
type Fake struct {
	mu        sync.Mutex
	instances map[string]*tenantclient.Instance
	tenants   map[string]*tenantclient.Tenant // instance/tenant id
	Err       func(method, instanceID, tenantID string) error
}

// AddInstance registers an instance.
func (f *Fake) AddInstance(inst tenantclient.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.instances == nil {
		f.instances = map[string]*tenantclient.Instance{}
	}
	f.instances[inst.InstanceID] = &inst
}

// SetTenant registers or replaces a tenant of an instance.
func (f *Fake) SetTenant(instanceID string, t tenantclient.Tenant) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tenants == nil {
		f.tenants = map[string]*tenantclient.Tenant{}
	}
	f.tenants[instanceID+"/"+t.ID] = &t
}

// SetErr sets Err under the fake's lock.
func (f *Fake) SetErr(fn func(method, instanceID, tenantID string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Err = fn
}

func (f *Fake) fail(method, instanceID, tenantID string) error {
	if f.Err == nil {
		return nil
	}
	return f.Err(method, instanceID, tenantID)
}

// Instance answers as the tenant service does: NotFound UnknownInstance for
// an unknown id.
func (f *Fake) Instance(_ context.Context, instanceID string) (*tenantclient.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("Instance", instanceID, ""); err != nil {
		return nil, err
	}
	inst, ok := f.instances[instanceID]
	if !ok {
		return nil, apierr.New(codes.NotFound, apierr.UnknownInstance, "No application instance is registered under this APS-Instance-ID.")
	}
	c := *inst
	return &c, nil
}

// Tenant answers as the tenant service does: NotFound for an unknown tenant.
func (f *Fake) Tenant(_ context.Context, instanceID, tenantID string) (*tenantclient.Tenant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("Tenant", instanceID, tenantID); err != nil {
		return nil, err
	}
	t, ok := f.tenants[instanceID+"/"+tenantID]
	if !ok {
		return nil, apierr.New(codes.NotFound, apierr.NotFound, "Tenant %s is not known to this instance.", tenantID)
	}
	c := *t
	return &c, nil
}
