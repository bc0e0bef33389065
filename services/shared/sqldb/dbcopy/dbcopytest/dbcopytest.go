// Package dbcopytest drives a service's dbcopy command in its tests: copy
// the SQLite database the service's store filled into a throwaway
// PostgreSQL (pgtest; the calling package's TestMain calls pgtest.Main),
// then damage the copy and expect the verification to fail.
package dbcopytest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/o365gateway/gateway/services/shared/sqldb"
	"github.com/o365gateway/gateway/services/shared/sqldb/dbcopy"
	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"
)

// Run runs the command and returns its report.
func Run(t *testing.T, s dbcopy.Service, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := dbcopy.Run(context.Background(), s, args, &out)
	return out.String(), err
}

// Copy copies the database at from (sqlite://…) into a new PostgreSQL
// database, in a schema named after the service, fails the test unless
// the command verifies it equal, and returns the target's URL.
func Copy(t *testing.T, s dbcopy.Service, from string) string {
	t.Helper()
	to := pgtest.URL(t) + "&search_path=" + s.Name
	out, err := Run(t, s, "-from", from, "-to", to)
	if err != nil {
		t.Fatalf("%s-dbcopy: %v\n%s", s.Name, err, out)
	}
	if !strings.Contains(out, "verified:") {
		t.Fatalf("%s-dbcopy succeeded without verifying:\n%s", s.Name, out)
	}
	t.Logf("%s-dbcopy:\n%s", s.Name, out)
	return to
}

// ExpectDifferent runs the damage statements on the target, then fails the
// test unless -verify-only reports the target different, naming each of
// want in its report. It then copies again with -replace, which must
// verify equal, so that the next damage starts from a good copy.
func ExpectDifferent(t *testing.T, s dbcopy.Service, from, to string, want []string, damage ...string) {
	t.Helper()
	db, err := sqldb.Open(context.Background(), to)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range damage {
		if _, err := db.Exec(q); err != nil {
			db.Close()
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	out, err := Run(t, s, "-from", from, "-to", to, "-verify-only")
	if !errors.Is(err, dbcopy.ErrDifferent) {
		t.Fatalf("after %q the verification says %v:\n%s", damage, err, out)
	}
	for _, w := range append([]string{"VERIFICATION FAILED"}, want...) {
		if !strings.Contains(out, w) {
			t.Errorf("after %q the report does not say %q:\n%s", damage, w, out)
		}
	}
	if out, err := Run(t, s, "-from", from, "-to", to, "-replace"); err != nil {
		t.Fatalf("copy again with -replace: %v\n%s", err, out)
	}
}

// Stores opens the source and the copy with the service's own store, so
// that a test compares what the store reads on both sides; both are closed
// when the test ends.
func Stores[S interface{ Close() error }](t *testing.T, open func(context.Context, string) (S, error), from, to string) (src, dst S) {
	t.Helper()
	for _, p := range []struct {
		url string
		s   *S
	}{{from, &src}, {to, &dst}} {
		s, err := open(context.Background(), p.url)
		if err != nil {
			t.Fatalf("open %s: %v", sqldb.RedactURL(p.url), err)
		}
		t.Cleanup(func() { _ = s.Close() })
		*p.s = s
	}
	return src, dst
}
