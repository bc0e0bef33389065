package growth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/o365gateway/gateway/bench/internal/report"
	"github.com/o365gateway/gateway/services/shared/sqldb/pgtest"
)

// TestSectionQuick runs the section on small stores once (SQLite, and
// PostgreSQL: the server O365GW_PG_URL names, postgres://…/postgres, or one
// the test starts when PostgreSQL is installed) and
// checks that every table has a row per database and size. It needs the
// built binaries: O365GW_BIN (make build).
func TestSectionQuick(t *testing.T) {
	bin := os.Getenv("O365GW_BIN")
	if bin == "" {
		t.Skip("set O365GW_BIN to a folder with the built binaries (make build)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	env := &report.Env{BinDir: bin, WorkDir: t.TempDir(), Runs: 1, Quick: true, PostgresURL: os.Getenv("O365GW_PG_URL"),
		Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
	if env.PostgresURL == "" {
		// A server of the test's own, as the benchmark runner starts one.
		srv, err := pgtest.StartServer()
		switch {
		case errors.Is(err, pgtest.ErrUnavailable):
			t.Logf("PostgreSQL cases skipped: %v", err)
		case err != nil:
			t.Fatal(err)
		default:
			defer srv.Stop()
			env.PostgresURL = srv.URL("postgres")
		}
	}
	sec := Section()
	if sec.Name != "growth" || sec.Run == nil {
		t.Fatalf("section %+v", sec)
	}
	tables, err := sec.Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	dbs := 1
	if env.PostgresURL != "" {
		dbs = 2
	}
	want := dbs * len(sizes(true))
	if len(tables) != 2 {
		t.Fatalf("%d tables", len(tables))
	}
	var out bytes.Buffer
	for _, tb := range tables {
		if len(tb.Rows) != want {
			t.Errorf("%s: %d rows, want %d", tb.Title, len(tb.Rows), want)
		}
		for _, r := range tb.Rows {
			if len(r) != len(tb.Header) {
				t.Errorf("%s: row %v does not match the header %v", tb.Title, r, tb.Header)
			}
		}
		tb.Markdown(&out)
	}
	if len(tables[0].Footer) != dbs {
		t.Errorf("footer %q: want a verdict per database", tables[0].Footer)
	}
	t.Log("\n" + out.String())
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
