package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/storeerr"
)

// Reseal seals v's stale sealed values again under s's active key (the
// re-sealing pass after a key rotation, secret.Rekeyer): fields lists them
// with their places, the operation's Secret among them. v is written only
// when a value changed; on a concurrent update it is read again and looked
// at afresh, so that no write made meanwhile is lost. A resource that is
// gone is no error. It returns how many values it re-sealed.
func (m *Machine[T]) Reseal(ctx context.Context, v *T, s *secret.Sealer, fields func(v *T) []secret.Field) (int, error) {
	for range 20 {
		n, err := s.Reseal(fields(v)...)
		if err != nil || n == 0 {
			return 0, err
		}
		err = m.Store.Update(ctx, v, nil)
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, storeerr.ErrNotFound):
			return 0, nil
		case !errors.Is(err, storeerr.ErrConflict):
			return 0, err
		}
		inst, id := m.Ref(v)
		fresh, err := m.Store.Get(ctx, inst, id)
		if errors.Is(err, storeerr.ErrNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		*v = *fresh
	}
	inst, id := m.Ref(v)
	return 0, fmt.Errorf("%s %s/%s: too many concurrent updates", m.Name, inst, id)
}
