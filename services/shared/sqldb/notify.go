package sqldb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/o365gateway/gateway/services/shared/jobs"
)

// notifyChannel is the PostgreSQL channel of job wake-ups. Enqueue sends on
// it, in the enqueuing transaction, the schema of the job table as payload:
// services sharing a database (one schema each) share the channel, and each
// listener keeps the notifications of its own schema.
const notifyChannel = "o365gateway_jobs"

var _ jobs.Waker = JobStore{}

// Listen implements jobs.Waker. On PostgreSQL it holds a dedicated
// connection (outside the pool) listening to the job wake-ups of the DB's
// schema and calls notify for each one, and once as soon as it listens,
// since notifications sent while it was not listening are lost. It returns
// when ctx ends (nil) or the connection fails (the error; the runner
// listens again). On SQLite it returns nil at once: every writer is in this
// process, which calls jobs.Runner.Notify itself.
func (s JobStore) Listen(ctx context.Context, notify func()) error {
	if s.DB.Dialect != Postgres || s.DB.pg == nil {
		return nil
	}
	conn, err := pgx.ConnectConfig(ctx, s.DB.pg.Copy())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("job wake-ups: connect: %s", scrub(err.Error(), s.DB.pg.Password))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var schema string
	if err := conn.QueryRow(ctx, `SELECT COALESCE(current_schema(), '')`).Scan(&schema); err != nil {
		return s.listenErr(ctx, err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{notifyChannel}.Sanitize()); err != nil {
		return s.listenErr(ctx, err)
	}
	notify()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return s.listenErr(ctx, err)
		}
		if n.Payload == schema {
			notify()
		}
	}
}

func (s JobStore) listenErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("job wake-ups: %s", scrub(err.Error(), s.DB.pg.Password))
}
