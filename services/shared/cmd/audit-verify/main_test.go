package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/sqldb"
)

// migrations are a service with no table of its own.
var migrations = fstest.MapFS{
	"migrations/sqlite/00001_none.sql":   {Data: []byte("-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n")},
	"migrations/postgres/00001_none.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n")},
}

func keyFile(t *testing.T, dir, name string) (string, *audit.Key) {
	t.Helper()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := audit.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, k
}

func TestVerifyCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "svc.db")
	db, err := sqldb.OpenMigrated(ctx, url, migrations)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keyPath, key := keyFile(t, dir, "audit.key")
	l := &audit.Log{Store: sqldb.AuditLog{DB: db}, Key: key, Service: "svc"}
	for range 3 {
		if _, err := l.Record(ctx, audit.Entry{Kind: audit.KindCall, Operation: audit.Operation{Method: "/x.v1.XService/Do"}, Outcome: audit.Outcome{Code: "OK"}}); err != nil {
			t.Fatal(err)
		}
	}
	head, err := l.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(args ...string) (int, string) {
		var out, errs bytes.Buffer
		code := run(ctx, args, &out, &errs)
		return code, out.String() + errs.String()
	}
	if code, out := verify("-db", url, "-key", keyPath, "-head", head.String()); code != 0 || !strings.Contains(out, "OK") || !strings.Contains(out, "3 entries") {
		t.Fatalf("intact chain: %d\n%s", code, out)
	}
	if code, out := verify("-db", url, "-key", keyPath, "-json"); code != 0 || !strings.Contains(out, `"entries": 3`) {
		t.Fatalf("JSON report: %d\n%s", code, out)
	}
	exported := filepath.Join(dir, "audit.jsonl")
	if code, out := verify("-db", url, "-key", keyPath, "-export", exported); code != 0 {
		t.Fatalf("export: %d\n%s", code, out)
	}
	if b, err := os.ReadFile(exported); err != nil || strings.Count(string(b), "\n") != 3 || !strings.Contains(string(b), `"method":"/x.v1.XService/Do"`) {
		t.Fatalf("exported %s, %v", b, err)
	}
	otherPath, _ := keyFile(t, dir, "other.key")
	if code, out := verify("-db", url, "-key", otherPath); code != 1 || !strings.Contains(out, "not given") {
		t.Fatalf("wrong key: %d\n%s", code, out)
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit_log SET caller = 'spiffe://o365gw.test/tool/mallory' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if code, out := verify("-db", url, "-key", keyPath); code != 1 || !strings.Contains(out, "PROBLEM at entry 2") || !strings.Contains(out, "FAILED") {
		t.Fatalf("edited entry: %d\n%s", code, out)
	}
	if code, out := verify("-db", "sqlite://"+filepath.Join(dir, "none.db"), "-key", keyPath); code != 2 || !strings.Contains(out, "database") {
		t.Fatalf("missing database: %d\n%s", code, out)
	}
	if code, out := verify("-db", url, "-key", keyPath, "-head", "3:xyz"); code != 2 || !strings.Contains(out, "-head") {
		t.Fatalf("bad head: %d\n%s", code, out)
	}
	if code, _ := verify("-db", url); code != 2 {
		t.Fatalf("no key: %d", code)
	}
}
