package users_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/secret/secrettest"

	"github.com/o365gateway/gateway/services/user/internal/storage"
	"github.com/o365gateway/gateway/services/user/internal/storage/sqlite"
	"github.com/o365gateway/gateway/services/user/internal/users"
)

// racingUsers lands one write of another replica between the pass's read of
// a user and its write.
type racingUsers struct {
	storage.Store
	race func()
}

func (s *racingUsers) Update(ctx context.Context, u *storage.User, job *jobs.New) error {
	if r := s.race; r != nil {
		s.race = nil
		r()
	}
	return s.Store.Update(ctx, u, job)
}

// A key rotation: with the new key active and the old one still there, one
// pass re-seals every user's stale password and operation secret (old key
// and first format, more than a batch of users) without losing a write made
// meanwhile; afterwards everything opens with the new key alone.
func TestRekeyResealsEveryStoredSecret(t *testing.T) {
	ctx := context.Background()
	rot := secrettest.NewRotation(t)
	oldKey, before, during, after := rot.OldKey, rot.Before, rot.During, rot.After
	store, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "user.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	// 130 users: a password to create (old key or first format), a generated
	// one to reveal, or nothing sealed.
	want := map[string][2]string{}
	for i := range 130 {
		u := &storage.User{ID: fmt.Sprintf("user-%03d", i), InstanceID: "inst-1", TenantID: "tenant-1", State: storage.StateCreating,
			Op: lifecycle.Op{Name: lifecycle.Provision, State: lifecycle.Running, Attempt: 1}}
		pw := "Passw0rd-" + u.ID
		switch i % 4 {
		case 0:
			u.PasswordSealed, _ = before.Seal(secret.New(pw), u.SealedAt(storage.SealedPassword))
			want[u.ID] = [2]string{pw, ""}
		case 1:
			u.PasswordSealed = secrettest.SealV1(t, oldKey, pw)
			want[u.ID] = [2]string{pw, ""}
		case 2:
			u.State, u.Op.State = storage.StateActive, lifecycle.Done
			u.Op.Secret = secrettest.SealV1(t, oldKey, pw)
			want[u.ID] = [2]string{"", pw}
		}
		if err := store.Create(ctx, u, nil); err != nil {
			t.Fatal(err)
		}
	}
	racing := &racingUsers{Store: store, race: func() {
		u, err := store.Get(ctx, "inst-1", "user-000")
		if err != nil {
			t.Fatal(err)
		}
		u.DisplayName = "renamed meanwhile"
		if err := store.Update(ctx, u, nil); err != nil {
			t.Fatal(err)
		}
	}}
	svc := &users.Service{Store: racing, Sealer: during, Log: slog.New(slog.DiscardHandler)}
	if n, err := svc.Rekey(ctx); n != len(want) || err != nil {
		t.Fatalf("re-sealed %d of %d: %v", n, len(want), err)
	}

	for id, w := range want {
		u, err := store.Get(ctx, "inst-1", id)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range u.Sealed() {
			if w[i] == "" {
				if *f.Value != "" {
					t.Fatalf("%s: a value appeared", f.At)
				}
				continue
			}
			v, err := after.Open(*f.Value, f.At)
			if err != nil || v.Reveal() != w[i] || !strings.HasPrefix(*f.Value, "v2.2027-01.") {
				t.Fatalf("%s: %v", f.At, err)
			}
		}
	}
	if u, _ := store.Get(ctx, "inst-1", "user-000"); u.DisplayName != "renamed meanwhile" {
		t.Fatalf("the concurrent update was lost: %+v", u)
	}
	if n, err := svc.Rekey(ctx); n != 0 || err != nil {
		t.Fatalf("a second pass re-sealed %d: %v", n, err)
	}

	// A password sealed for one user does not open for another.
	a, _ := store.Get(ctx, "inst-1", "user-000")
	b, _ := store.Get(ctx, "inst-1", "user-004")
	if _, err := after.Open(a.PasswordSealed, b.SealedAt(storage.SealedPassword)); err == nil {
		t.Fatal("a password opened for another user")
	}
	if _, err := after.Open(a.PasswordSealed, a.SealedAt(storage.SealedOpSecret)); err == nil {
		t.Fatal("a password opened as the operation's secret")
	}
}
