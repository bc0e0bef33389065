package main

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/sqldb/dbcopy/dbcopytest"
	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"

	"github.com/o365gateway/gateway/services/user/internal/storage"
	"github.com/o365gateway/gateway/services/user/internal/storage/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestCopyUserDatabase: users written through the user store (sealed
// initial passwords, licenses, jobs) are copied into PostgreSQL, read
// back equal there with passwords that open under the same key, and a row
// lost or altered in the copy fails the verification.
func TestCopyUserDatabase(t *testing.T) {
	ctx := context.Background()
	sealer, err := secret.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	from := "sqlite://" + filepath.Join(t.TempDir(), "user.db")
	src, err := sqlite.Open(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	var users []*storage.User
	for i := range 30 {
		u := &storage.User{ID: fmt.Sprintf("user-%02d", i), InstanceID: "inst-1", TenantID: fmt.Sprintf("tenant-%d", i%3), CustomerID: "ms-customer",
			Login: fmt.Sprintf("user%02d@contoso.example", i), DisplayName: "Jürgen Ø " + fmt.Sprint(i), UsageLocation: "DE", AccountEnabled: i%4 != 0,
			Licenses: []storage.LicenseRef{{SubscriptionID: "sub-1", SKUID: "c7df2760-2c81-4ef7-b578-5b5392b571df"}}, State: storage.StateCreating,
			PasswordGenerated: i%2 == 0, Op: lifecycle.Op{Name: lifecycle.Provision, State: lifecycle.Running, Attempt: 1, Generation: 1, Target: 1}}
		if u.PasswordSealed, err = sealer.Seal(secret.New(fmt.Sprintf("Pa55-word-%d!", i)), u.SealedAt(storage.SealedPassword)); err != nil {
			t.Fatal(err)
		}
		if err := src.Create(ctx, u, &jobs.New{Kind: "user.provision.v1", Key: u.ID}); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	users[3].State, users[3].MSUserID, users[3].Assigned = storage.StateActive, "ms-user-3", []string{"c7df2760-2c81-4ef7-b578-5b5392b571df"}
	if err := src.Update(ctx, users[3], nil); err != nil {
		t.Fatal(err)
	}
	if err := src.Delete(ctx, "inst-1", users[29].ID); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	j, err := src.Jobs().Claim(ctx, "user-0/1-abc", []string{"user.provision.v1"}, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Jobs().Release(ctx, j.ID, j.Fence); err != nil { // handed back at shutdown
		t.Fatal(err)
	}
	src.Close()

	to := dbcopytest.Copy(t, service, from)

	src, dst := dbcopytest.Stores(t, sqlite.Open, from, to)
	for tenant := range 3 {
		a, err := src.ListByTenant(ctx, "inst-1", fmt.Sprintf("tenant-%d", tenant))
		if err != nil {
			t.Fatal(err)
		}
		b, err := dst.ListByTenant(ctx, "inst-1", fmt.Sprintf("tenant-%d", tenant))
		if err != nil {
			t.Fatal(err)
		}
		if len(a) == 0 || !reflect.DeepEqual(a, b) {
			t.Errorf("users of tenant-%d\nSQLite:     %+v\nPostgreSQL: %+v", tenant, a, b)
		}
	}
	u, err := dst.Get(ctx, "inst-1", "user-07")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := sealer.Open(u.PasswordSealed, u.SealedAt(storage.SealedPassword)); err != nil || p.Reveal() != "Pa55-word-7!" {
		t.Errorf("the copied password does not open with the key: %v", err)
	}
	dst.Close()

	dbcopytest.ExpectDifferent(t, service, from, to, []string{"users: 29 rows in the source, 28 in the target", "id=user-12"},
		`DELETE FROM users WHERE id = 'user-12'`)
	dbcopytest.ExpectDifferent(t, service, from, to, []string{"users: 1 rows only in the source (missing or altered in the target): id=user-05"},
		`UPDATE users SET data = replace(data, 'user05@', 'user5@') WHERE id = 'user-05'`)
	dbcopytest.ExpectDifferent(t, service, from, to, []string{"jobs: 1 rows only in the source (missing or altered in the target): id=1"},
		`UPDATE jobs SET attempt = attempt + 1 WHERE id = 1`)
}
