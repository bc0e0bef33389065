package apsmd

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// carriedTransaction is the carrier key of the APS transaction id.
const carriedTransaction = "aps-transaction-id"

// Carry is a propagator of the APS transaction id for work that outlives
// the request that started it (a job): Inject writes the id of the request
// ctx serves (FromContext) into the carrier stored with the work, Extract
// puts it back into the context the work runs in, so that the work's log
// lines name the platform's transaction, as the request's own do. Only the
// transaction id is carried; the work's context has no other APS metadata.
// It is not a global propagator: nothing sends it to Microsoft. Work that
// calls the platform's controller after the request was answered must not
// join the transaction with it (the task may be over by then).
type Carry struct{}

var _ propagation.TextMapPropagator = Carry{}

// Inject implements propagation.TextMapPropagator.
func (Carry) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	if id := FromContext(ctx).TransactionID; id != "" {
		c.Set(carriedTransaction, id)
	}
}

// Extract implements propagation.TextMapPropagator.
func (Carry) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	id := c.Get(carriedTransaction)
	if id == "" {
		return ctx
	}
	r := FromContext(ctx)
	r.TransactionID = id
	// Every log record made with the work's context names it.
	return Request{TransactionID: id}.LogContext(WithRequest(ctx, r))
}

// Fields implements propagation.TextMapPropagator.
func (Carry) Fields() []string { return []string{carriedTransaction} }
