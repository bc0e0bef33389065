package bench

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/sqldb"
)

// noMigrations gives OpenMigrated a service without tables of its own: only
// the shared job table is created.
var noMigrations = fstest.MapFS{"migrations/sqlite/00001_none.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n")}}

// BenchmarkJobQueueSQLite measures one job's life on the embedded store:
// enqueue in a transaction, claim, complete.
func BenchmarkJobQueueSQLite(b *testing.B) {
	ctx := context.Background()
	db, err := sqldb.OpenMigrated(ctx, "sqlite://"+filepath.Join(b.TempDir(), "bench.db"), noMigrations)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	q := sqldb.JobStore{DB: db}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := db.Enqueue(ctx, tx, jobs.New{Kind: "bench", Key: strconv.Itoa(i)})
			return err
		}); err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		j, err := q.Claim(ctx, "bench/1", []string{"bench"}, now, now.Add(time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		if err := q.Complete(ctx, j.ID, j.Fence); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if _, err := q.Claim(ctx, "bench/1", []string{"bench"}, time.Now(), time.Now().Add(time.Minute)); !errors.Is(err, jobs.ErrNoJob) {
		b.Fatalf("queue not drained: %v", err)
	}
}
