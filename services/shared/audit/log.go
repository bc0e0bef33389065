package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Store keeps a service's chain of entries (sqldb.AuditLog). It only ever
// adds entries.
type Store interface {
	// Append stores the entry that seal makes from the chain's head as the
	// chain's next entry. Appends of every process working on the database
	// are serialised (a database lock held from reading the head to the
	// insert), so that the chain stays linear.
	Append(ctx context.Context, seal func(head Head) (Entry, error)) (Entry, error)
	// Head returns the last entry's sequence number and MAC (the zero Head
	// for an empty chain).
	Head(ctx context.Context) (Head, error)
	// List returns up to limit entries that match f and come after the
	// sequence number after, in chain order.
	List(ctx context.Context, f Filter, after int64, limit int) ([]Entry, error)
}

// Filter selects entries; a zero field selects all.
type Filter struct {
	InstanceID string
	// Since (inclusive) and Until (exclusive) bound the entries' times.
	Since, Until time.Time
	// Method is a full gRPC method or a job kind.
	Method string
	// Caller matches the caller's identity, APS identity id or APS actor id.
	Caller string
	// Code is a gRPC code name, e.g. "OK".
	Code string
}

// Log appends a service's entries: those of its gRPC calls (the server's
// interceptor, package grpcserver), of its jobs' outcomes
// (lifecycle.AuditTo) and any other (Record, Add).
type Log struct {
	Store Store
	// Key seals new entries.
	Key *Key
	// Service names the chain (tenant, subscription, user).
	Service string
	// Self is the service's own identity, the caller of its jobs' outcomes.
	Self string
	Log  *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// appendTimeout bounds one append, which runs even when the call that
// caused it was cancelled: the change may have been made.
const appendTimeout = 10 * time.Second

// instruments are the audit log's metrics, made on first use (after the
// process set its meter provider up).
var instruments = sync.OnceValue(func() (m struct {
	failedAppend     metric.Int64Counter
	headSeq, headMAC metric.Int64Gauge
}) {
	meter := otel.Meter("o365gateway/audit")
	m.failedAppend, _ = meter.Int64Counter("audit_append_failures_total",
		metric.WithDescription("audit entries that could not be written (the change itself stands; see the error log)"))
	m.headSeq, _ = meter.Int64Gauge("audit_chain_head_seq",
		metric.WithDescription("sequence number of the last entry of the service's audit chain"))
	m.headMAC, _ = meter.Int64Gauge("audit_chain_head_mac48",
		metric.WithDescription("the first 48 bits of the last audit entry's MAC, as a number: with audit_chain_head_seq, a head to verify the chain against"))
	return m
})

// Record completes e (time, service, key id) and appends it to the chain.
// It returns the entry as stored.
func (l *Log) Record(ctx context.Context, e Entry) (Entry, error) {
	if l == nil || l.Store == nil || l.Key == nil {
		return Entry{}, errors.New("audit: log not configured")
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	e.Time = now().UTC().Truncate(time.Microsecond)
	e.Service, e.KeyID = l.Service, l.Key.ID
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	return l.Store.Append(ctx, func(h Head) (Entry, error) {
		e.Seq, e.PrevMAC = h.Seq+1, h.MAC
		e.MAC = l.Key.Seal(&e)
		return e, nil
	})
}

// Add is Record for the service's own hooks: a failure is logged (with the
// entry's ids, which is all an entry holds) and counted in
// audit_append_failures_total, and the change it describes stands.
func (l *Log) Add(ctx context.Context, e Entry) {
	if _, err := l.Record(ctx, e); err != nil {
		instruments().failedAppend.Add(ctx, 1, metric.WithAttributes(attribute.String("service", l.Service)))
		if l.Log != nil {
			l.Log.ErrorContext(ctx, "audit entry not written", "error", err.Error(), "kind", e.Kind, "method", e.Operation.Method,
				"instance_id", e.InstanceID, "resource_type", e.Resource.Type, "resource_id", e.Resource.ID,
				"caller", e.Caller.Identity, "aps_transaction_id", e.Caller.APSTransactionID, "code", e.Outcome.Code)
		}
	}
}

// RunHeads reads the chain's head at once, then every interval until ctx
// ends, and once more then: each time it logs it (seq and MAC) and sets the
// gauges audit_chain_head_seq and audit_chain_head_mac48. A head kept
// outside the database lets Verify detect a later truncation.
func (l *Log) RunHeads(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	l.ExportHead(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			l.ExportHead(sctx)
			cancel()
			return
		case <-t.C:
			l.ExportHead(ctx)
		}
	}
}

// ExportHead logs the chain's head and sets its gauges once.
func (l *Log) ExportHead(ctx context.Context) {
	h, err := l.Store.Head(ctx)
	if err != nil {
		if l.Log != nil {
			l.Log.WarnContext(ctx, "audit chain head not read", "error", err.Error())
		}
		return
	}
	attrs := metric.WithAttributes(attribute.String("service", l.Service))
	instruments().headSeq.Record(ctx, h.Seq, attrs)
	instruments().headMAC.Record(ctx, mac48(h.MAC), attrs)
	if l.Log != nil {
		l.Log.InfoContext(ctx, "audit chain head", "head", h.String(), "seq", h.Seq, "mac", h.MAC, "key_id", l.Key.ID)
	}
}

// mac48 is the first 48 bits of a hex MAC as a number (exact in a float).
func mac48(mac string) int64 {
	var n int64
	for i := 0; i < 12 && i < len(mac); i++ {
		c := mac[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		default:
			return 0
		}
		n = n<<4 | int64(d)
	}
	return n
}
