package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

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
