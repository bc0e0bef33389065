package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/storage/sqlite"
	"github.com/o365gateway/gateway/services/tenant/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "tenant.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "tenant.db")
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
}
