package tenants

import (
	"context"
	"errors"

	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// rekeyBatch is how many rows a re-sealing pass reads at a time.
const rekeyBatch = 100

// Rekey seals the tenants' stale sealed values (the first admin password
// while its answer may be sent again) again under the active key
// (secret.Rekeyer), each tenant with optimistic concurrency: a write made
// meanwhile is read again, never lost.
func (s *Service) Rekey(ctx context.Context) (int, error) {
	var p secret.Pass
	after := ""
	fields := func(t *storage.Tenant) []secret.Field { return t.Sealed() }
	for {
		page, err := s.Store.ListSealedTenants(ctx, after, rekeyBatch)
		if err != nil {
			return p.Resealed, errors.Join(err, p.Err())
		}
		for _, t := range page {
			after = t.ID
			if s.Sealer.AnyStale(t.Sealed()...) {
				p.Add(s.machine().Reseal(ctx, t, s.Sealer, fields))
			}
		}
		if len(page) < rekeyBatch {
			return p.Resealed, p.Err()
		}
	}
}
