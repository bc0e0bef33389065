package lifecycle

import (
	"context"

	"github.com/o365gateway/gateway/services/shared/apsmd"
)

// Header marks the gRPC answer of a running attempt as accepted (the facade
// answers 202 with APS-Info); other answers are left alone.
func Header[T any](ctx context.Context, a *Answer[T]) error {
	if a.Running() {
		return apsmd.SetAccepted(ctx, a.Accepted)
	}
	return nil
}
