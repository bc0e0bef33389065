package users

import (
	"context"

	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/user/internal/storage"
)

// Rekey seals the users' stale sealed values (initial passwords until the
// user exists, a generated one while its answer may be sent again) again
// under the active key (secret.Rekeyer), each user with optimistic
// concurrency: a write made meanwhile is read again, never lost.
func (s *Service) Rekey(ctx context.Context) (int, error) {
	fields := func(u *storage.User) []secret.Field { return u.Sealed() }
	return secret.Sweep(ctx, s.Sealer, s.Store.ListSealed, func(u *storage.User) string { return u.ID }, fields,
		func(ctx context.Context, u *storage.User) (int, error) {
			return s.machine().Reseal(ctx, u, s.Sealer, fields)
		})
}
