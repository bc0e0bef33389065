package sqlite

import (
	"context"

	"github.com/o365gateway/gateway/services/shared/sqldb"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// domains keeps domains as documents; sqldb.Docs fences the writes of jobs.
func (s *Store) domains() sqldb.Typed[storage.Domain] {
	return sqldb.Typed[storage.Domain]{Docs: sqldb.Docs{DB: s.db, Table: "domains"},
		Keys: func(d *storage.Domain) (string, string, string, string, *int64) {
			return d.ID, d.InstanceID, d.TenantID, d.State, &d.Version
		}}
}

// CreateDomain implements storage.DomainStore.
func (s *Store) CreateDomain(ctx context.Context, d *storage.Domain) error {
	return s.domains().Create(ctx, d, nil)
}

// GetDomain implements storage.DomainStore.
func (s *Store) GetDomain(ctx context.Context, instanceID, id string) (*storage.Domain, error) {
	return s.domains().Get(ctx, instanceID, id)
}

// UpdateDomain implements storage.DomainStore.
func (s *Store) UpdateDomain(ctx context.Context, d *storage.Domain) error {
	return s.domains().Update(ctx, d, nil)
}

// DeleteDomain implements storage.DomainStore.
func (s *Store) DeleteDomain(ctx context.Context, instanceID, id string) error {
	return s.domains().Delete(ctx, instanceID, id)
}

// ListDomains implements storage.DomainStore.
func (s *Store) ListDomains(ctx context.Context, instanceID, tenantID string) ([]*storage.Domain, error) {
	return s.domains().List(ctx, instanceID, tenantID)
}
