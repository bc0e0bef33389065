package users

import (
	"context"
	"errors"

	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/user/internal/storage"
)

// rekeyBatch is how many users a re-sealing pass reads at a time.
const rekeyBatch = 100

// Rekey seals the users' stale sealed values (initial passwords until the
// user exists, a generated one while its answer may be sent again) again
// under the active key (secret.Rekeyer), each user with optimistic
// concurrency: a write made meanwhile is read again, never lost.
func (s *Service) Rekey(ctx context.Context) (int, error) {
	var p secret.Pass
	after := ""
	fields := func(u *storage.User) []secret.Field { return u.Sealed() }
	for {
		page, err := s.Store.ListSealed(ctx, after, rekeyBatch)
		if err != nil {
			return p.Resealed, errors.Join(err, p.Err())
		}
		for _, u := range page {
			after = u.ID
			if s.Sealer.AnyStale(u.Sealed()...) {
				p.Add(s.machine().Reseal(ctx, u, s.Sealer, fields))
			}
		}
		if len(page) < rekeyBatch {
			return p.Resealed, p.Err()
		}
	}
}
