package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/services/shared/sqldb"
	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/storage/sqlite"
	"github.com/o365gateway/gateway/services/tenant/internal/storage/storagetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// drivers give a fresh, empty database of each engine; on PostgreSQL the
// store works in a schema of its own, as when services share a database.
var drivers = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"SQLite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "tenant.db") }},
	{"PostgreSQL", func(t *testing.T) string { return pgtest.URL(t) + "&search_path=tenant" }},
}

func TestConformance(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Store {
				s, err := sqlite.Open(context.Background(), d.url(t))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

func TestReopenKeepsData(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			url := d.url(t)
			ctx := context.Background()
			s, err := sqlite.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateInstance(ctx, &storage.Instance{InstanceID: "i"}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s, err = sqlite.Open(ctx, url) // migrations are not applied twice
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.GetInstance(ctx, "i"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTenantPagesFromTheIndex: a page of an instance's tenants in id
// order (ListTenants, which the periodic checks walk every tenant with) is
// read from the (instance_id, id) index in order, not by reading and
// sorting every tenant of the instance for each page (0.3 s a page at 100k
// tenants on SQLite before migration 00007).
func TestTenantPagesFromTheIndex(t *testing.T) {
	// ListTenants' query (tenants.go).
	const page = `SELECT * FROM tenants WHERE instance_id = ? AND id > ? ORDER BY id LIMIT ?`
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			url := d.url(t)
			s, err := sqlite.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			db, err := sqldb.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if db.Dialect == sqldb.SQLite {
				rows, err := db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+page, "i", "", 100)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var plan []string
				for rows.Next() {
					var id, parent, notused int
					var detail string
					if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
						t.Fatal(err)
					}
					plan = append(plan, detail)
				}
				got := strings.Join(plan, "; ")
				if !strings.Contains(got, "USING INDEX tenants_instance_id (instance_id=? AND id>?)") || strings.Contains(got, "TEMP B-TREE") {
					t.Fatalf("plan of a tenant page: %s", got)
				}
				return
			}
			// PostgreSQL plans by the table's statistics: check the index.
			var def string
			if err := db.QueryRowContext(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()
				AND indexname = 'tenants_instance_id'`).Scan(&def); err != nil || !strings.Contains(def, "(instance_id, id)") {
				t.Fatalf("index tenants_instance_id: %q %v", def, err)
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema()
				AND indexname = 'tenants_instance'`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("the index on (instance_id) alone is left: %d %v", n, err)
			}
		})
	}
}
