package main

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/jobs"
	"github.com/o365gateway/gateway/services/shared/lifecycle"
	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/sqldb/dbcopy/dbcopytest"
	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"

	"github.com/o365gateway/gateway/services/tenant/internal/storage"
	"github.com/o365gateway/gateway/services/tenant/internal/storage/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestCopyTenantDatabase: a SQLite database filled through the tenant
// store (instances with sealed secrets, tenants in several states, domains,
// pending, running-then-done and failed jobs) is copied into PostgreSQL;
// the tenant store reads the same values there, the secrets open with the
// same key, the pending jobs are claimed there, and a row lost or altered
// in the copy fails the verification.
func TestCopyTenantDatabase(t *testing.T) {
	ctx := context.Background()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	sealer, err := secret.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	seal := func(v string, at secret.Place) string {
		s, err := sealer.Seal(secret.New(v), at)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	from := "sqlite://" + filepath.Join(t.TempDir(), "tenant.db")
	src, err := sqlite.Open(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"inst-1", "inst-2"} {
		at := (&storage.Instance{InstanceID: id}).SealedAt
		in := &storage.Instance{InstanceID: id, AppID: "app-" + id, ControllerURI: "https://apsc.example/aps/2/", ControllerCertPEM: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
			InstanceKeySealed: seal("instance key of "+id, at(storage.SealedInstanceKey)), Cloud: "global", PartnerTenantID: "partner", ClientID: "client",
			ClientSecretSealed: seal("client secret of "+id, at(storage.SealedClientSecret)),
			RefreshTokenSealed: seal("refresh token of "+id, at(storage.SealedRefreshToken)), ResellerMode: "direct",
			SalesCountries: []string{"US", "DE", "FR"}, TestPartner: id == "inst-2", DefaultUsageLocation: "US", PackageVersion: "1.4-2"}
		if err := src.CreateInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	synced := time.UnixMilli(1_760_000_000_123)
	var tenants []*storage.Tenant
	for i, state := range []string{storage.StateCreating, storage.StateActive, storage.StateFailed, storage.StateActive} {
		tn := &storage.Tenant{
			ID:               "tenant-" + string(rune('a'+i)),
			InstanceID:       "inst-1",
			InitialSubdomain: "contoso" + string(rune('a'+i)),
			InitialDomain:    "contoso.onmicrosoft.com",
			Company:          storage.Company{Name: "Contoso « Ltd »", Email: "it@contoso.example", Culture: "fr-FR"},
			Address:          storage.Address{FirstName: "Zoë", AddressLine1: "1 Rue d'Ulm", City: "Paris", PostalCode: "75005", Country: "FR"},
			MCA:              &storage.MCA{FirstName: "Ann", Email: "ann@contoso.example", DateAgreed: "2026-01-02"},
			AdminLogin:       "admin@contoso.onmicrosoft.com",
			State:            state,
			Seats:            int64(10 * i),
			Op: lifecycle.Op{Name: lifecycle.Provision, State: lifecycle.Running, Attempt: 1, Secret: seal("first password", (&storage.Tenant{InstanceID: "inst-1", ID: "tenant-" + string(rune('a'+i))}).SecretAt()),
				Steps: map[string]*lifecycle.Step{"create": {RequestID: "9c7e2b1a-0000-4000-8000-00000000000" + string(rune('0'+i))}}},
		}
		if i == 1 {
			tn.LastSync = &synced
			tn.MCA = nil
		}
		if err := src.CreateTenant(ctx, tn, &jobs.New{Kind: "tenant.provision.v1", Key: tn.ID, Payload: []byte(`{"tenant":"` + tn.ID + `"}`)}); err != nil {
			t.Fatal(err)
		}
		tenants = append(tenants, tn)
	}
	tenants[1].MSCustomerID, tenants[1].Op.State = "ms-customer-1", lifecycle.Done
	if err := src.UpdateTenant(ctx, tenants[1], &jobs.New{Kind: "tenant.erase_secret.v1", Key: tenants[1].ID, RunAt: time.Now().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	d := &storage.Domain{ID: "dom-1", InstanceID: "inst-1", TenantID: "tenant-b", Name: "contoso.example", State: storage.DomainUnverified,
		Records: []storage.VerificationRecord{{Type: "Txt", Label: "@", Text: "MS=ms12345678", TTL: 3600}}}
	if err := src.CreateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
	// One job done, one failed, as the runner leaves them.
	q := src.Jobs()
	now := time.Now()
	for i, finish := range []func(id, fence int64) error{
		func(id, fence int64) error { return q.Complete(ctx, id, fence) },
		func(id, fence int64) error { return q.Fail(ctx, id, fence, "Partner Center said no") },
	} {
		j, err := q.Claim(ctx, "tenant-0/1-abc", []string{"tenant.provision.v1"}, now, now.Add(time.Minute))
		if err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		if err := finish(j.ID, j.Fence); err != nil {
			t.Fatal(err)
		}
	}
	src.Close() // the service is stopped

	to := dbcopytest.Copy(t, service, from)

	src, dst := dbcopytest.Stores(t, sqlite.Open, from, to)
	for _, id := range []string{"inst-1", "inst-2"} {
		a, err := src.GetInstance(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b, err := dst.GetInstance(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("instance %s\nSQLite:     %+v\nPostgreSQL: %+v", id, a, b)
		}
		if s, err := sealer.Open(b.RefreshTokenSealed, b.SealedAt(storage.SealedRefreshToken)); err != nil || s.Reveal() != "refresh token of "+id {
			t.Errorf("the copied refresh token of %s does not open with the key: %v", id, err)
		}
	}
	for _, tn := range tenants {
		a, err := src.GetTenant(ctx, tn.InstanceID, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := dst.GetTenant(ctx, tn.InstanceID, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("tenant %s\nSQLite:     %+v\nPostgreSQL: %+v", tn.ID, a, b)
		}
	}
	if n, err := dst.CountTenants(ctx, "inst-1"); err != nil || n != len(tenants) {
		t.Errorf("%d tenants on PostgreSQL (%v)", n, err)
	}
	if a, b := mustDomains(t, src), mustDomains(t, dst); !reflect.DeepEqual(a, b) {
		t.Errorf("domains\nSQLite:     %+v\nPostgreSQL: %+v", a, b)
	}
	// The two provisionings still pending run on PostgreSQL, in order.
	later := time.Now()
	for _, want := range []string{"tenant-c", "tenant-d"} {
		j, err := dst.Jobs().Claim(ctx, "tenant-1/1-def", []string{"tenant.provision.v1"}, later, later.Add(time.Minute))
		if err != nil || j.Key != want || string(j.Payload) != `{"tenant":"`+want+`"}` {
			t.Fatalf("claim on PostgreSQL: %+v %v, want the job of %s", j, err, want)
		}
		if err := dst.Jobs().Complete(ctx, j.ID, j.Fence); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dst.Jobs().Claim(ctx, "tenant-1/1-def", []string{"tenant.provision.v1"}, later, later.Add(time.Minute)); err == nil {
		t.Fatal("a done or failed provisioning was claimed again on PostgreSQL")
	}
	dst.Close()

	// The claims above changed the copy's jobs: the verification sees it.
	dbcopytest.ExpectDifferent(t, service, from, to, []string{"jobs: 2 rows only in the source"})
	// A lost row, an altered one, an altered sealed secret.
	dbcopytest.ExpectDifferent(t, service, from, to, []string{"domains: 1 rows in the source, 0 in the target", "id=dom-1"},
		`DELETE FROM domains WHERE id = 'dom-1'`)
	dbcopytest.ExpectDifferent(t, service, from, to, []string{"tenants: 1 rows only in the source (missing or altered in the target): id=tenant-c"},
		`UPDATE tenants SET company = replace(company, 'Contoso', 'Contoso2') WHERE id = 'tenant-c'`)
	dbcopytest.ExpectDifferent(t, service, from, to, []string{"instances: 1 rows only in the source (missing or altered in the target): instance_id=inst-2"},
		`UPDATE instances SET refresh_token_sealed = refresh_token_sealed || 'x' WHERE instance_id = 'inst-2'`)
}

func mustDomains(t *testing.T, s *sqlite.Store) []*storage.Domain {
	t.Helper()
	d, err := s.ListDomains(context.Background(), "inst-1", "tenant-b")
	if err != nil || len(d) != 1 {
		t.Fatalf("domains %v (%v)", d, err)
	}
	return d
}
