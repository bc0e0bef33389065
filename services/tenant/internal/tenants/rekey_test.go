package tenants_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/secret/secrettest"

	"github.com/o365gateway/gateway/services/tenant/internal/instances"
	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/storage/sqlite"
	"github.com/o365gateway/gateway/services/tenant/internal/tenants"
)

// racingTenants lands one write of another replica between the pass's read
// of a tenant and its write.
type racingTenants struct {
	storage.Store
	race func()
}

func (s *racingTenants) UpdateTenant(ctx context.Context, t *storage.Tenant, job *jobs.New) error {
	if r := s.race; r != nil {
		s.race = nil
		r()
	}
	return s.Store.UpdateTenant(ctx, t, job)
}

// A key rotation: with the new key active and the old one still there, one
// pass re-seals every instance's and tenant's stale values (old key and
// first format, more than a batch of rows) without losing a write made
// meanwhile; afterwards everything opens with the new key alone.
func TestRekeyResealsEveryStoredSecret(t *testing.T) {
	ctx := context.Background()
	rot := secrettest.NewRotation(t)
	oldKey, before, during, after := rot.OldKey, rot.Before, rot.During, rot.After
	store, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "tenant.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := slog.New(slog.DiscardHandler)

	// 120 instances (more than a batch), half of them of the first format.
	plain := func(in *storage.Instance, column string) string { return column + " of " + in.InstanceID }
	var ids []string
	for i := range 120 {
		in := &storage.Instance{InstanceID: fmt.Sprintf("inst-%03d", i), AppID: "app", Cloud: "global", SalesCountries: []string{"US"}}
		for _, f := range in.Sealed() {
			column := string(f.At)[strings.LastIndexByte(string(f.At), '/')+1:]
			if i%2 == 0 {
				*f.Value = secrettest.SealV1(t, oldKey, plain(in, column))
			} else if *f.Value, err = before.Seal(secret.New(plain(in, column)), f.At); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.CreateInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.InstanceID)
	}
	// Tenants with a first admin password (old key, first format, new key
	// already) and one without.
	tenantSecrets := map[string]string{}
	for i, how := range []string{"old", "v1", "new", ""} {
		tn := &storage.Tenant{ID: fmt.Sprintf("tenant-%d", i), InstanceID: ids[i], State: storage.StateActive,
			Op: lifecycle.Op{Name: lifecycle.Provision, State: lifecycle.Done, Attempt: 1}}
		pw := "password of " + tn.ID
		switch how {
		case "old":
			tn.Op.Secret, _ = before.Seal(secret.New(pw), tn.SecretAt())
		case "v1":
			tn.Op.Secret = secrettest.SealV1(t, oldKey, pw)
		case "new":
			tn.Op.Secret, _ = after.Seal(secret.New(pw), tn.SecretAt())
		}
		if how != "" {
			tenantSecrets[tn.ID] = pw
		}
		if err := store.CreateTenant(ctx, tn, nil); err != nil {
			t.Fatal(err)
		}
	}

	racing := &racingTenants{Store: store}
	insts := &instances.Service{Store: store, Tenants: store, Sealer: during, Log: log}
	ten := &tenants.Service{Store: racing, Instances: insts, Sealer: during, Log: log}
	pass := secret.Rekeyers{insts, ten}

	// Another replica rotates a refresh token under the instance's lock
	// (still sealing under the old key) while the pass waits for it; and
	// updates a tenant between the pass's read and write.
	unlock, err := store.LockInstance(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	racing.race = func() {
		tn, err := store.GetTenant(ctx, ids[0], "tenant-0")
		if err != nil {
			t.Fatal(err)
		}
		tn.Seats = 42
		if err := store.UpdateTenant(ctx, tn, nil); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result)
	go func() { n, err := pass.Rekey(ctx); done <- result{n, err} }()
	time.Sleep(100 * time.Millisecond)
	in, _ := store.GetInstance(ctx, ids[1])
	if in.RefreshTokenSealed, err = before.Seal(secret.New("rotated meanwhile"), in.SealedAt(storage.SealedRefreshToken)); err != nil {
		t.Fatal(err)
	}
	if err := store.UpdateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	unlock()
	r := <-done
	if r.err != nil || r.n != 120*3+2 {
		t.Fatalf("re-sealed %d: %v", r.n, r.err)
	}

	// Everything opens with the new key alone, at its place.
	for _, id := range ids {
		in, err := store.GetInstance(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range in.Sealed() {
			want := plain(in, string(f.At)[strings.LastIndexByte(string(f.At), '/')+1:])
			if id == ids[1] && strings.HasSuffix(string(f.At), storage.SealedRefreshToken) {
				want = "rotated meanwhile" // the concurrent rotation is kept
			}
			v, err := after.Open(*f.Value, f.At)
			if err != nil || v.Reveal() != want || !strings.HasPrefix(*f.Value, "v2.2027-01.") {
				t.Fatalf("%s: %v", f.At, err)
			}
		}
	}
	for i := range 4 {
		tn, err := store.GetTenant(ctx, ids[i], fmt.Sprintf("tenant-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		v, err := after.Open(tn.Op.Secret, tn.SecretAt())
		if err != nil || v.Reveal() != tenantSecrets[tn.ID] {
			t.Fatalf("%s: %v", tn.ID, err)
		}
		if i == 0 && tn.Seats != 42 {
			t.Fatalf("the concurrent update of %s was lost: %+v", tn.ID, tn)
		}
	}
	if n, err := pass.Rekey(ctx); n != 0 || err != nil {
		t.Fatalf("a second pass re-sealed %d: %v", n, err)
	}

	// A sealed value copied into another row does not open there.
	a, _ := store.GetInstance(ctx, ids[2])
	b, _ := store.GetInstance(ctx, ids[3])
	b.ClientSecretSealed = a.ClientSecretSealed
	if _, err := (&instances.Service{Sealer: after}).Credentials(b); !errors.Is(err, secret.ErrNotOpened) {
		t.Fatalf("a client secret opened in another instance's row: %v", err)
	}
}

// A value under a key the keyring lacks is reported by place and key id,
// never by value, and the rest is still re-sealed.
func TestRekeyReportsValuesItCannotOpen(t *testing.T) {
	ctx := context.Background()
	gone, _ := secret.NewKeyring(map[string][]byte{"2025-01": bytes.Repeat([]byte{9}, 32)}, "2025-01")
	old, _ := secret.NewSealer(bytes.Repeat([]byte{1}, 32))
	ring, _ := secret.NewKeyring(map[string][]byte{secret.DefaultKeyID: bytes.Repeat([]byte{1}, 32), "2027-01": bytes.Repeat([]byte{2}, 32)}, "2027-01")
	store, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "tenant.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for i, s := range []*secret.Sealer{gone, old} {
		in := &storage.Instance{InstanceID: fmt.Sprintf("inst-%d", i)}
		in.ClientSecretSealed, _ = s.Seal(secret.New("client secret hunter2"), in.SealedAt(storage.SealedClientSecret))
		if err := store.CreateInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	n, err := (&instances.Service{Store: store, Sealer: ring}).Rekey(ctx)
	if n != 1 || !errors.Is(err, secret.ErrUnknownKey) || !strings.Contains(err.Error(), "tenant/instances/inst-0/client_secret") ||
		!strings.Contains(err.Error(), "2025-01") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("re-sealed %d: %v", n, err)
	}
}
