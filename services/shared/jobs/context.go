package jobs

import "context"

// Context is context.Context; the alias keeps Store's signatures short.
type Context = context.Context
