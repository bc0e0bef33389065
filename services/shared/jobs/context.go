package jobs

import "context"

// Context is context.Context; the alias keeps Store's signatures short.
type Context = context.Context

type fenceKey struct{}

type claim struct{ id, fence int64 }

// WithFence returns ctx carrying job's claim: stores refuse the writes made
// with it (jobs.ErrLeaseLost) once the claim is no longer current. The runner
// passes such a context to Handler.Run and Handler.Failed.
func WithFence(ctx context.Context, job *Job) context.Context {
	return context.WithValue(ctx, fenceKey{}, claim{id: job.ID, fence: job.Fence})
}

// FenceFrom returns the job claim ctx carries, if any.
func FenceFrom(ctx context.Context) (jobID, fence int64, ok bool) {
	c, ok := ctx.Value(fenceKey{}).(claim)
	return c.id, c.fence, ok
}

// Unfenced returns ctx without a job claim, for a write that must land even
// when the job lost its claim because it is not the job's state (a rotated
// refresh token: Microsoft already invalidated the old one).
func Unfenced(ctx context.Context) context.Context {
	return context.WithValue(ctx, fenceKey{}, nil)
}
