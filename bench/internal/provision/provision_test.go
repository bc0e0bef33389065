package provision

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/o365gateway/gateway/bench/internal/report"
)

// TestSection runs the section quickly (O365GW_BIN: the built binaries,
// make build) and checks that every table has its rows and a verdict.
func TestSection(t *testing.T) {
	bin := os.Getenv("O365GW_BIN")
	if bin == "" {
		t.Skip("set O365GW_BIN to a folder with the built binaries (make build)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := &report.Env{BinDir: bin, WorkDir: t.TempDir(), Runs: 1, Quick: true, Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	tables, err := Section().Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 3 {
		t.Fatalf("%d tables, want 3", len(tables))
	}
	for _, tb := range tables {
		var b strings.Builder
		tb.Markdown(&b)
		t.Log("\n" + b.String())
		if len(tb.Rows) == 0 || len(tb.Footer) == 0 {
			t.Errorf("table %q has %d rows and %d footer lines", tb.Title, len(tb.Rows), len(tb.Footer))
		}
		for _, r := range tb.Rows {
			if len(r) != len(tb.Header) {
				t.Errorf("table %q: a row of %d cells under %d headers", tb.Title, len(r), len(tb.Header))
			}
		}
	}
}
