package secret

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"
)

// Rekeyer re-seals what a service stores after the active key changed. Each
// service has one (its App's Rekey), runs it at start and periodically
// (RunRekey), and operator tooling may call it.
type Rekeyer interface {
	// Rekey makes one pass over the stored sealed values and seals the
	// stale ones (Sealer.Stale) again under the active key: in small
	// batches, each row without losing a write made to it meanwhile. It
	// returns how many values it re-sealed; a nil error means that every
	// value it found is now under the active key.
	Rekey(ctx context.Context) (resealed int, err error)
}

// Rekeyers is one Rekeyer made of several (one per kind of row), run in turn.
type Rekeyers []Rekeyer

// Rekey implements Rekeyer.
func (rs Rekeyers) Rekey(ctx context.Context) (int, error) {
	total := 0
	var errs []error
	for _, r := range rs {
		n, err := r.Rekey(ctx)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// Pass counts a re-sealing pass over rows: the values re-sealed and the
// rows left stale, with the first errors (which name places, never values).
type Pass struct {
	Resealed int
	Left     int
	errs     []error
}

// Add records one row: the values re-sealed, or the error that left it stale.
func (p *Pass) Add(resealed int, err error) {
	p.Resealed += resealed
	if err != nil {
		p.Left++
		if len(p.errs) < 3 {
			p.errs = append(p.errs, err)
		}
	}
}

// Err is nil when no row was left stale.
func (p *Pass) Err() error {
	if p.Left == 0 {
		return nil
	}
	return fmt.Errorf("%d rows still hold values of the first format or under another key than the active one: %w", p.Left, errors.Join(p.errs...))
}

// SweepBatch is how many rows Sweep reads at a time.
const SweepBatch = 100

// Sweep is a re-sealing pass over a service's rows: it pages through them
// in id order (list returns up to n rows after the id given) and calls
// reseal for each row holding a value that is stale under s (the first
// format, or another key than the active one). reseal writes the row with
// whatever concurrency control the row needs and answers the values it
// re-sealed. The pass goes on past rows it cannot re-seal and reports them.
func Sweep[T any](ctx context.Context, s *Sealer, list func(ctx context.Context, after string, n int) ([]T, error),
	id func(T) string, fields func(T) []Field, reseal func(context.Context, T) (int, error)) (int, error) {
	var p Pass
	after := ""
	for {
		page, err := list(ctx, after, SweepBatch)
		if err != nil {
			return p.Resealed, errors.Join(err, p.Err())
		}
		for _, row := range page {
			after = id(row)
			if s.AnyStale(fields(row)...) {
				p.Add(reseal(ctx, row))
			}
		}
		if len(page) < SweepBatch {
			return p.Resealed, p.Err()
		}
	}
}

// RunRekey runs r at once and then about every interval (none when 0) until
// ctx ends, and logs each pass: how many values it re-sealed, the key ids,
// and what it left; never a value.
func RunRekey(ctx context.Context, r Rekeyer, s *Sealer, every time.Duration, log *slog.Logger) {
	for {
		start := time.Now()
		n, err := r.Rekey(ctx)
		if ctx.Err() != nil {
			return
		}
		attrs := []any{"active_key", s.ActiveKey(), "keys", strings.Join(s.KeyIDs(), ","), "resealed", n,
			"duration", time.Since(start).Round(time.Millisecond).String()}
		if err != nil {
			log.WarnContext(ctx, "re-sealing pass left secrets that are not under the active key", append(attrs, "error", err.Error())...)
		} else {
			log.InfoContext(ctx, "re-sealing pass done: every stored secret is under the active key", attrs...)
		}
		if every <= 0 {
			return
		}
		// Replicas started together spread their passes out.
		wait := every - every/10 + rand.N(every/5+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
