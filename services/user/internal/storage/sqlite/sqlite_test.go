package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"

	"github.com/o365gateway/gateway/services/user/internal/storage"
	"github.com/o365gateway/gateway/services/user/internal/storage/sqlite"
	"github.com/o365gateway/gateway/services/user/internal/storage/storagetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// drivers give a fresh, empty database of each engine; on PostgreSQL the
// store works in a schema of its own, as when services share a database.
var drivers = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"SQLite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "user.db") }},
	{"PostgreSQL", func(t *testing.T) string { return pgtest.URL(t) + "&search_path=user" }},
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
