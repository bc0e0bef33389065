package sqlite

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/o365gateway/gateway/services/shared/sqldb"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

func (s *Store) domains() sqldb.Docs { return sqldb.Docs{DB: s.db, Table: "domains"} }

func docErr(err error) error {
	switch {
	case errors.Is(err, sqldb.ErrMissing):
		return storage.ErrNotFound
	case errors.Is(err, sqldb.ErrDuplicate):
		return storage.ErrAlreadyExists
	case errors.Is(err, sqldb.ErrStale):
		return storage.ErrConflict
	}
	return err
}

func domainRecord(d *storage.Domain) (sqldb.Record, error) {
	data, err := json.Marshal(d)
	return sqldb.Record{ID: d.ID, InstanceID: d.InstanceID, ParentID: d.TenantID, State: d.State, Version: d.Version, Data: data}, err
}

// CreateDomain implements storage.DomainStore.
func (s *Store) CreateDomain(ctx context.Context, d *storage.Domain) error {
	d.Version = 1
	r, err := domainRecord(d)
	if err != nil {
		return err
	}
	return docErr(s.domains().Create(ctx, r, nil))
}

// GetDomain implements storage.DomainStore.
func (s *Store) GetDomain(ctx context.Context, instanceID, id string) (*storage.Domain, error) {
	r, err := s.domains().Get(ctx, instanceID, id)
	if err != nil {
		return nil, docErr(err)
	}
	var d storage.Domain
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return nil, err
	}
	d.Version = r.Version
	return &d, nil
}

// UpdateDomain implements storage.DomainStore.
func (s *Store) UpdateDomain(ctx context.Context, d *storage.Domain) error {
	r, err := domainRecord(d)
	if err != nil {
		return err
	}
	v, err := s.domains().Update(ctx, r, nil)
	if err != nil {
		return docErr(err)
	}
	d.Version = v
	return nil
}

// DeleteDomain implements storage.DomainStore.
func (s *Store) DeleteDomain(ctx context.Context, instanceID, id string) error {
	return docErr(s.domains().Delete(ctx, instanceID, id))
}

// ListDomains implements storage.DomainStore.
func (s *Store) ListDomains(ctx context.Context, instanceID, tenantID string) ([]*storage.Domain, error) {
	recs, err := s.domains().List(ctx, instanceID, tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]*storage.Domain, 0, len(recs))
	for _, r := range recs {
		var d storage.Domain
		if err := json.Unmarshal(r.Data, &d); err != nil {
			return nil, err
		}
		d.Version = r.Version
		out = append(out, &d)
	}
	return out, nil
}
