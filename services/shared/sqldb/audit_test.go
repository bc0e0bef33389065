package sqldb_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/sqldb"
	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"
)

func auditKey(t testing.TB) *audit.Key {
	t.Helper()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	k, err := audit.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// appendEntries records n call entries of instance inst.
func appendEntries(t testing.TB, l *audit.Log, inst string, n int) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	for i := range n {
		e, err := l.Record(context.Background(), audit.Entry{Kind: audit.KindCall, InstanceID: inst,
			Caller:       audit.Caller{Identity: "spiffe://o365gw.test/facade", APSIdentityID: "id-" + inst, APSTransactionID: fmt.Sprint("tx-", i)},
			Resource:     audit.Resource{Type: "tenant", ID: fmt.Sprint("r-", i)},
			Operation:    audit.Operation{Method: "/o365.tenant.v1.TenantService/ProvisionTenant", Phase: "sync"},
			Outcome:      audit.Outcome{Code: "OK"},
			MSRequestIDs: []string{"create=11111111-2222-3333-4444-555555555555"}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func verify(t *testing.T, db *sqldb.DB, keys audit.Keyring, known *audit.Head) *audit.Report {
	t.Helper()
	r, err := audit.Verify(context.Background(), sqldb.AuditLog{DB: db}, keys, known)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustHead(t *testing.T, db *sqldb.DB) audit.Head {
	t.Helper()
	h, err := sqldb.AuditLog{DB: db}.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func wantProblem(t *testing.T, r *audit.Report, seq int64, text string) {
	t.Helper()
	for _, p := range r.Problems {
		if p.Seq == seq && strings.Contains(p.What, text) {
			return
		}
	}
	t.Fatalf("want a problem at entry %d with %q, got %+v", seq, text, r.Problems)
}

func exec(t *testing.T, db *sqldb.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), db.Rebind(q), args...); err != nil {
		t.Fatal(err)
	}
}

func TestAuditChain(t *testing.T) {
	eachDriver(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		key := auditKey(t)
		fresh := func(t *testing.T) (*sqldb.DB, *audit.Log, []audit.Entry) {
			db := open(t, url(t))
			l := &audit.Log{Store: sqldb.AuditLog{DB: db}, Key: key, Service: "svc"}
			return db, l, appendEntries(t, l, "inst-1", 5)
		}

		t.Run("append and verify", func(t *testing.T) {
			db, l, entries := fresh(t)
			for i, e := range entries {
				if e.Seq != int64(i+1) || e.KeyID != key.ID || len(e.MAC) != 64 || (i == 0) != (e.PrevMAC == "") {
					t.Fatalf("entry %d: %+v", i, e)
				}
				if i > 0 && e.PrevMAC != entries[i-1].MAC {
					t.Fatalf("entry %d does not chain", e.Seq)
				}
			}
			head, err := l.Store.Head(ctx)
			if err != nil || head != (audit.Head{Seq: 5, MAC: entries[4].MAC}) {
				t.Fatalf("head %+v, %v", head, err)
			}
			r := verify(t, db, audit.NewKeyring(key), &head)
			if !r.OK() || r.Entries != 5 || r.Head != head || r.Keys[key.ID] != 5 {
				t.Fatalf("report %+v", r)
			}
			// The stored entries read back as they were sealed.
			got, err := l.Store.List(ctx, audit.Filter{}, 0, 10)
			if err != nil || len(got) != 5 || !got[2].Time.Equal(entries[2].Time) || got[2].MSRequestIDs[0] != entries[2].MSRequestIDs[0] ||
				got[2].Caller != entries[2].Caller || !key.Check(&got[2]) {
				t.Fatalf("read back %+v, %v", got, err)
			}
		})

		t.Run("edited entry", func(t *testing.T) {
			db, _, _ := fresh(t)
			exec(t, db, `UPDATE audit_log SET resource_id = 'someone-else' WHERE seq = 3`)
			r := verify(t, db, audit.NewKeyring(key), nil)
			wantProblem(t, r, 3, "altered")
			if len(r.Problems) != 1 {
				t.Fatalf("problems %+v", r.Problems)
			}
			// Re-sealing with another key does not help: the key is not given.
			exec(t, db, `UPDATE audit_log SET key_id = 'forged' WHERE seq = 3`)
			wantProblem(t, verify(t, db, audit.NewKeyring(key), nil), 3, "not given")
		})

		t.Run("deleted entry", func(t *testing.T) {
			db, _, _ := fresh(t)
			exec(t, db, `DELETE FROM audit_log WHERE seq = 2`)
			r := verify(t, db, audit.NewKeyring(key), nil)
			wantProblem(t, r, 2, "missing")
			// An entry renumbered into the gap breaks the chain instead.
			exec(t, db, `UPDATE audit_log SET seq = 2 WHERE seq = 3`)
			r = verify(t, db, audit.NewKeyring(key), nil)
			wantProblem(t, r, 2, "does not chain")
		})

		t.Run("truncated chain", func(t *testing.T) {
			db, l, _ := fresh(t)
			head, err := l.Store.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			exec(t, db, `DELETE FROM audit_log WHERE seq >= 4`)
			if r := verify(t, db, audit.NewKeyring(key), nil); !r.OK() {
				t.Fatalf("a shortened chain alone is intact: %+v", r.Problems)
			}
			wantProblem(t, verify(t, db, audit.NewKeyring(key), &head), 4, "truncated")
			// Appending again does not hide it: the new entry 5 is not the exported one.
			appendEntries(t, l, "inst-1", 2)
			wantProblem(t, verify(t, db, audit.NewKeyring(key), &head), 5, "differs from the head")
		})

		t.Run("wrong key", func(t *testing.T) {
			db, _, _ := fresh(t)
			r := verify(t, db, audit.NewKeyring(auditKey(t)), nil)
			if len(r.Problems) != 5 {
				t.Fatalf("problems %+v", r.Problems)
			}
			wantProblem(t, r, 1, "not given")
		})

		t.Run("rotated key", func(t *testing.T) {
			db, l, _ := fresh(t)
			newKey := auditKey(t)
			l.Key = newKey
			appendEntries(t, l, "inst-1", 2)
			r := verify(t, db, audit.NewKeyring(key, newKey), nil)
			if !r.OK() || r.Keys[key.ID] != 5 || r.Keys[newKey.ID] != 2 {
				t.Fatalf("report %+v", r)
			}
			wantProblem(t, verify(t, db, audit.NewKeyring(newKey), nil), 1, "not given")
		})

		t.Run("filters", func(t *testing.T) {
			db, l, _ := fresh(t)
			appendEntries(t, l, "inst-2", 3)
			s := sqldb.AuditLog{DB: db}
			count := func(f audit.Filter, after int64, limit int) int {
				t.Helper()
				got, err := s.List(ctx, f, after, limit)
				if err != nil {
					t.Fatal(err)
				}
				return len(got)
			}
			all, err := s.List(ctx, audit.Filter{}, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				f    audit.Filter
				want int
			}{
				{audit.Filter{InstanceID: "inst-2"}, 3},
				{audit.Filter{Caller: "id-inst-1"}, 5},
				{audit.Filter{Caller: "spiffe://o365gw.test/facade"}, 8},
				{audit.Filter{Method: "/o365.tenant.v1.TenantService/ProvisionTenant", Code: "OK"}, 8},
				{audit.Filter{Code: "PermissionDenied"}, 0},
				{audit.Filter{Since: all[5].Time}, 3},
				{audit.Filter{Until: all[5].Time}, 5},
				{audit.Filter{Since: all[0].Time, Until: all[0].Time.Add(time.Microsecond)}, 1},
			}
			for _, c := range cases {
				if got := count(c.f, 0, 100); got != c.want {
					t.Errorf("%+v: %d entries, want %d", c.f, got, c.want)
				}
			}
			if got := count(audit.Filter{}, 6, 1); got != 1 {
				t.Errorf("a page after 6: %d", got)
			}
		})
	})
}

// Two handles on one database (two replicas) appending at once keep one
// linear chain.
func TestAuditConcurrentAppends(t *testing.T) {
	eachDriver(t, func(t *testing.T, url func(t *testing.T) string) {
		u := url(t)
		key := auditKey(t)
		dbs := []*sqldb.DB{open(t, u), open(t, u)}
		const perWriter = 25
		var wg sync.WaitGroup
		for i, db := range dbs {
			for w := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l := &audit.Log{Store: sqldb.AuditLog{DB: db}, Key: key, Service: "svc"}
					for range perWriter {
						if _, err := l.Record(context.Background(), audit.Entry{Kind: audit.KindCall, InstanceID: fmt.Sprintf("inst-%d-%d", i, w)}); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		r := verify(t, dbs[0], audit.NewKeyring(key), nil)
		if !r.OK() || r.Entries != 4*perWriter || r.Head.Seq != 4*perWriter {
			t.Fatalf("report %+v", r)
		}
	})
}

// BenchmarkAuditAppend measures one append (a transaction: the lock, the
// head, the insert) on each engine.
func BenchmarkAuditAppend(b *testing.B) {
	for _, d := range []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"SQLite", func(b *testing.B) string { return "sqlite://" + b.TempDir() + "/a.db" }},
		{"PostgreSQL", func(b *testing.B) string { return pgtest.URL(b) + "&search_path=svc" }},
	} {
		b.Run(d.name, func(b *testing.B) {
			db, err := sqldb.OpenMigrated(context.Background(), d.url(b), service)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			l := &audit.Log{Store: sqldb.AuditLog{DB: db}, Key: auditKey(b), Service: "svc"}
			e := audit.Entry{Kind: audit.KindCall, InstanceID: "0d4c2bde-6a43-4a4c-9d49-2fb0c2f6f1a1",
				Caller:    audit.Caller{Identity: "spiffe://o365gw.test/facade", APSTransactionID: "c5a4c3a0-5f0e-4f0b-a1c9-2b6d1f0a9e42"},
				Resource:  audit.Resource{Type: "tenant", ID: "5b0e0f5e-52f1-4c55-8a39-7a1f7e9d1c11"},
				Operation: audit.Operation{Method: "/o365.tenant.v1.TenantService/ProvisionTenant", Phase: "async"}, Outcome: audit.Outcome{Code: "OK"}}
			for b.Loop() {
				if _, err := l.Record(context.Background(), e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
