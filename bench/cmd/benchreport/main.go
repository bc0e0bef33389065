// Command benchreport runs the gateway's benchmarks (make bench) and
// writes their figures to bench/RESULTS.md: the machine, the date, the
// commit and the command, then each section's tables, every figure the
// median of several runs.
//
//	benchreport [-out RESULTS.md] [-runs 3] [-only serving,footprint] [-quick]
//
// "benchreport serve <kind> ..." runs one of the baseline servers the
// serving section measures the facade against (package servers).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/o365gateway/gateway/bench/internal/footprint"
	"github.com/o365gateway/gateway/bench/internal/growth"
	"github.com/o365gateway/gateway/bench/internal/provision"
	"github.com/o365gateway/gateway/bench/internal/report"
	"github.com/o365gateway/gateway/bench/internal/servers"
	"github.com/o365gateway/gateway/bench/internal/serving"
)

// sections in the order they run and appear.
func sections() []report.Section {
	return []report.Section{serving.Section(), provision.Section(), growth.Section(), footprint.Section()}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := servers.Main(ctx, os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "benchreport serve:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	out := fs.String("out", "RESULTS.md", "where the report is written")
	runs := fs.Int("runs", 3, "runs of each measurement (the median is reported); at least 3 for figures to keep")
	only := fs.String("only", "", "comma-separated sections to run (default all): "+names())
	quick := fs.Bool("quick", false, "short measurements, one run: a smoke test of the harness, not figures to keep")
	bin := fs.String("bin", os.Getenv("O365GW_BIN"), "folder of the built binaries (make build)")
	pgURL := fs.String("postgres-url", "", "a PostgreSQL server (postgres://…/postgres) for the PostgreSQL cases; default: a throwaway cluster when the server binaries are installed")
	profileDir := fs.String("profile", "", "a folder to receive CPU profiles of the facade and the tenant service under load (they then serve pprof)")
	beforeBin := fs.String("before-bin", "", "binaries of an earlier commit to measure beside these (the serving section)")
	beforeLabel := fs.String("before-label", "before", "what -before-bin is (a commit)")
	work := fs.String("work", "", "scratch directory (default: a temporary one, removed at the end)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "benchreport: -bin (or O365GW_BIN) is required: the folder of the built binaries")
		return 2
	}
	if *quick {
		*runs = 1
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		return 1
	}
	os.Setenv(report.SelfEnv, self)
	dir := *work
	if dir == "" {
		if dir, err = os.MkdirTemp("", "o365gw-bench-"); err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			return 1
		}
		defer os.RemoveAll(dir)
	}
	binDir, _ := filepath.Abs(*bin)
	env := report.Env{BinDir: binDir, Runs: *runs, Quick: *quick, PostgresURL: *pgURL, Log: log, ProfileDir: *profileDir, BeforeLabel: *beforeLabel}
	if *beforeBin != "" {
		env.BeforeBin, _ = filepath.Abs(*beforeBin)
	}
	stopPG, err := postgres(&env, log)
	if err != nil {
		log.Warn("no PostgreSQL: its cases are skipped", "error", err)
	}
	defer stopPG()

	var picked []report.Section
	for _, s := range sections() {
		if *only == "" || contains(strings.Split(*only, ","), s.Name) {
			picked = append(picked, s)
		}
	}
	if len(picked) == 0 {
		fmt.Fprintf(os.Stderr, "benchreport: no section named %q (have %s)\n", *only, names())
		return 2
	}
	started := time.Now()
	var doc report.Document
	doc.Started, doc.Args, doc.Runs, doc.Quick = started, args, *runs, *quick
	doc.Machine = report.DescribeMachine()
	doc.Commit = report.Commit()
	for _, s := range picked {
		log.Info("section", "name", s.Name)
		env.WorkDir = filepath.Join(dir, s.Name)
		if err := os.MkdirAll(env.WorkDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			return 1
		}
		t0 := time.Now()
		tables, err := s.Run(ctx, &env)
		if err != nil {
			log.Error("section failed", "name", s.Name, "error", err)
			doc.Add(s, nil, err, time.Since(t0))
			continue
		}
		doc.Add(s, tables, nil, time.Since(t0))
	}
	doc.Elapsed = time.Since(started)
	if err := doc.Write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		return 1
	}
	fmt.Printf("wrote %s in %s\n", *out, doc.Elapsed.Round(time.Second))
	if doc.Failed() {
		return 1
	}
	return 0
}

func names() string {
	var n []string
	for _, s := range sections() {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if strings.TrimSpace(y) == x {
			return true
		}
	}
	return false
}
