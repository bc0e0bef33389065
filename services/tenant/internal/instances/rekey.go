package instances

import (
	"context"
	"errors"

	"github.com/o365gateway/gateway/services/shared/secret"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
)

// Rekey seals the instances' stale sealed values (instance key, client
// secret, refresh token) again under the active key (secret.Rekeyer). Each
// instance is re-sealed under its lock, which the redemption of its refresh
// token and every change of its configuration hold too, so that a token
// rotated meanwhile is never overwritten with the one before.
func (s *Service) Rekey(ctx context.Context) (int, error) {
	return secret.Sweep(ctx, s.Sealer, s.Store.ListInstances, func(in *storage.Instance) string { return in.InstanceID },
		func(in *storage.Instance) []secret.Field { return in.Sealed() },
		func(ctx context.Context, in *storage.Instance) (int, error) { return s.reseal(ctx, in.InstanceID) })
}

func (s *Service) reseal(ctx context.Context, instanceID string) (int, error) {
	unlock, err := s.Store.LockInstance(ctx, instanceID)
	if err != nil {
		return 0, err
	}
	defer unlock()
	in, err := s.Store.GetInstance(ctx, instanceID)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := s.Sealer.Reseal(in.Sealed()...)
	if err != nil || n == 0 {
		return 0, err
	}
	if err := s.Store.UpdateInstance(ctx, in); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return 0, nil
		}
		return 0, err
	}
	return n, nil
}
