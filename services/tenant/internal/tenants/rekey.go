package tenants

import (
	"context"

	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Rekey seals the tenants' stale sealed values (the first admin password
// while its answer may be sent again) again under the active key
// (secret.Rekeyer), each tenant with optimistic concurrency: a write made
// meanwhile is read again, never lost.
func (s *Service) Rekey(ctx context.Context) (int, error) {
	fields := func(t *storage.Tenant) []secret.Field { return t.Sealed() }
	return secret.Sweep(ctx, s.Sealer, s.Store.ListSealedTenants, func(t *storage.Tenant) string { return t.ID }, fields,
		func(ctx context.Context, t *storage.Tenant) (int, error) {
			return s.machine().Reseal(ctx, t, s.Sealer, fields)
		})
}
