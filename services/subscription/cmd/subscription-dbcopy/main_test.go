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
	"github.com/o365gateway/gateway/services/shared/sqldb/dbcopy/dbcopytest"
	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"

	"github.com/o365gateway/gateway/services/subscription/internal/storage"
	"github.com/o365gateway/gateway/services/subscription/internal/storage/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestCopySubscriptionDatabase: subscriptions and jobs written through the
// subscription store are copied into PostgreSQL and read back equal there,
// and a row lost or altered in the copy fails the verification.
func TestCopySubscriptionDatabase(t *testing.T) {
	ctx := context.Background()
	from := "sqlite://" + filepath.Join(t.TempDir(), "subscription.db")
	src, err := sqlite.Open(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	window := time.UnixMilli(1_770_000_000_000).UTC()
	var subs []*storage.Subscription
	for i := range 12 {
		s := &storage.Subscription{ID: fmt.Sprintf("sub-%02d", i), InstanceID: "inst-1", TenantID: fmt.Sprintf("tenant-%d", i%2),
			OfferID: "CFQ7TTC0LF8Q:0001", OfferName: "Microsoft 365 Business Basic", Kind: storage.KindNewCommerce, SKUID: "3b555118-da6a-4418-894f-7df1e2096870",
			Quantity: int64(5 + i), TermDuration: "P1Y", BillingCycle: "monthly", AutoRenew: true, MSCustomerID: "ms-customer",
			State: storage.StatePending, Op: lifecycle.Op{Name: lifecycle.Provision, State: lifecycle.Running, Attempt: 1,
				Steps: map[string]*lifecycle.Step{"cart": {RequestID: fmt.Sprintf("1f0e%04d-0000-4000-8000-000000000000", i), State: lifecycle.StepDone}}}}
		if i%3 == 0 {
			s.Kind, s.OfferID, s.CancellationUntil = storage.KindLegacy, "91FD106F-4B2C-4938-95AC-F54F74E9A239", &window
		}
		if err := src.Create(ctx, s, &jobs.New{Kind: "subscription.provision.v1", Key: s.ID, Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	subs[4].State, subs[4].MSSubscriptionID, subs[4].Suspended = storage.StateSuspended, "ms-sub-4", true
	if err := src.Update(ctx, subs[4], &jobs.New{Kind: "subscription.suspend.v1", Key: subs[4].ID}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	j, err := src.Jobs().Claim(ctx, "subscription-0/1-abc", []string{"subscription.provision.v1"}, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Jobs().Complete(ctx, j.ID, j.Fence); err != nil {
		t.Fatal(err)
	}
	src.Close()

	to := dbcopytest.Copy(t, service, from)

	src, dst := dbcopytest.Stores(t, sqlite.Open, from, to)
	for _, s := range subs {
		a, err := src.Get(ctx, s.InstanceID, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := dst.Get(ctx, s.InstanceID, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("subscription %s\nSQLite:     %+v\nPostgreSQL: %+v", s.ID, a, b)
		}
	}
	for tenant := range 2 {
		a, _ := src.CountLive(ctx, "inst-1", fmt.Sprintf("tenant-%d", tenant))
		b, err := dst.CountLive(ctx, "inst-1", fmt.Sprintf("tenant-%d", tenant))
		if err != nil || a != b || a == 0 {
			t.Errorf("live subscriptions of tenant-%d: %d on SQLite, %d on PostgreSQL (%v)", tenant, a, b, err)
		}
	}
	dst.Close()

	dbcopytest.ExpectDifferent(t, service, from, to, []string{"jobs: 13 rows in the source, 12 in the target", "id=13"},
		`DELETE FROM jobs WHERE id = 13`)
	dbcopytest.ExpectDifferent(t, service, from, to, []string{"subscriptions: 1 rows only in the source (missing or altered in the target): id=sub-09"},
		`UPDATE subscriptions SET version = version + 1 WHERE id = 'sub-09'`)
}
