// Package dbcopy is the command that moves one service's database, for a
// provider who started on the embedded SQLite, into PostgreSQL, and proves
// the copy: every service with a database has one (tenant-dbcopy,
// subscription-dbcopy, user-dbcopy), a main of one line that passes its
// store's embedded migrations.
//
//	tenant-dbcopy -from sqlite:///var/lib/o365gw/tenant.db \
//	              -to 'postgres://gw@db:5432/gateway?search_path=tenant'
//
// It opens the source without changing it (a SQLite file must exist),
// migrates the target with the service's migrations for PostgreSQL
// (sqldb.OpenMigrated, as the service does at start), refuses unless both
// are at the same migration versions and have the same tables, refuses a
// source whose jobs are still leased (a service still runs on it) and a
// target that has rows (unless -replace), copies every table in one
// transaction (sqldb.Copy), then compares both sides table by table, row
// counts and checksums (sqldb.Verify), and prints the figures. Any
// difference fails with exit status 1. -verify-only compares again
// without copying.
//
// Values are copied as stored: secrets stay sealed, so the service on the
// target needs the same encryption key.
package dbcopy

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/o365gateway/gateway/services/shared/sqldb"
)

// Service describes the service whose database a command copies.
type Service struct {
	// Name is the service's name ("tenant"); the command is Name-dbcopy.
	Name string
	// Migrations are the store's embedded migrations, as
	// sqldb.OpenMigrated takes them (a "migrations" folder with a
	// sub-folder per dialect).
	Migrations fs.FS
	// KeyEnv names the service's encryption key variable, if it seals
	// secrets ("TENANT_ENCRYPTION_KEY").
	KeyEnv string
}

// errUsage marks a command line error (exit status 2).
var errUsage = errors.New("usage")

// ErrDifferent is returned when the verification finds a difference.
var ErrDifferent = errors.New("the target differs from the source")

// Main runs the command with the process's arguments and exits: 0 when the
// copy is verified equal, 1 on any failure or difference, 2 on a bad
// command line.
func Main(s Service) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, s, os.Args[1:], os.Stdout)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "%s-dbcopy: %v\n", s.Name, err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "%s-dbcopy: %v\n", s.Name, err)
		os.Exit(1)
	}
}

// Run is the command: args without the program name; the report goes to out.
func Run(ctx context.Context, s Service, args []string, out io.Writer) error {
	name := s.Name + "-dbcopy"
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	fl.SetOutput(out)
	from := fl.String("from", "", "the service's current database: sqlite://path/to/"+s.Name+".db (the file must exist; it is not changed)")
	to := fl.String("to", "", "the new database: postgres://user:password@host:5432/db?search_path="+s.Name+" (migrated here, as the service does at start)")
	replace := fl.Bool("replace", false, "empty the target's tables first (in the copy's transaction) instead of refusing a target that has rows")
	verifyOnly := fl.Bool("verify-only", false, "compare source and target again without copying or migrating")
	fl.Usage = func() {
		fmt.Fprintf(out, `Usage: %s -from sqlite://%s.db -to 'postgres://…?search_path=%s' [-replace] [-verify-only]

Copies the %s service's database into another one (SQLite into PostgreSQL)
and verifies the copy: row counts and SHA-256 checksums of every table.
Stop every replica of the service first. Secrets are copied sealed: start
the service on the target with the same encryption key. Exit status: 0 when
every table is equal on both sides, 1 on any failure or difference, 2 on a
bad command line.

`, name, s.Name, s.Name, s.Name)
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	switch {
	case fl.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fl.Arg(0))
	case *from == "" || *to == "":
		return fmt.Errorf("%w: -from and -to are required (-h for help)", errUsage)
	case *from == *to:
		return fmt.Errorf("%w: -from and -to name the same database", errUsage)
	}
	if path, ok := strings.CutPrefix(*from, "sqlite://"); ok && path != ":memory:" {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("source: %w", err)
		}
	}
	start := time.Now()
	fmt.Fprintf(out, "%s: the %s service's database\n  from %s\n  to   %s\n", name, s.Name, sqldb.RedactURL(*from), sqldb.RedactURL(*to))

	src, err := sqldb.Open(ctx, *from)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	var dst *sqldb.DB
	if *verifyOnly {
		dst, err = sqldb.Open(ctx, *to)
	} else {
		dst, err = sqldb.OpenMigrated(ctx, *to, s.Migrations)
	}
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer dst.Close()

	tables, err := sameSchema(ctx, s, src, dst)
	if err != nil {
		return err
	}
	if !*verifyOnly {
		if err := noLeasedJobs(ctx, s, src, tables); err != nil {
			return err
		}
		fmt.Fprintln(out, "copying (one transaction):")
		_, err := sqldb.Copy(ctx, src, dst, tables, sqldb.CopyOptions{Replace: *replace, Progress: func(t string, n int64) {
			fmt.Fprintf(out, "  %-14s %8d rows\n", t, n)
		}})
		if errors.Is(err, sqldb.ErrTargetNotEmpty) {
			return fmt.Errorf("%w: nothing was copied; give -replace to overwrite the target's rows", err)
		}
		if err != nil {
			return fmt.Errorf("nothing was copied: %w", err)
		}
	}
	checks, err := sqldb.Verify(ctx, src, dst, tables)
	if err != nil {
		return err
	}
	bad, rows := report(out, checks)
	if bad > 0 {
		fmt.Fprintf(out, "\nVERIFICATION FAILED: %d of %d tables differ. Do not start the service on the target;\n"+
			"make sure no replica runs on either database, then copy again with -replace.\n", bad, len(checks))
		return fmt.Errorf("%w: %d of %d tables", ErrDifferent, bad, len(checks))
	}
	fmt.Fprintf(out, "\nverified: %d tables, %d rows, equal on both sides (%s)\n", len(checks), rows, time.Since(start).Round(time.Millisecond))
	if *verifyOnly {
		return nil
	}
	next := "Point " + strings.ToUpper(s.Name) + "_DATABASE_URL at the target"
	if s.KeyEnv != "" {
		next += ", with the same " + s.KeyEnv + "(_FILE): secrets were copied sealed under it"
	}
	fmt.Fprintln(out, next+".")
	return nil
}

// sameSchema checks that source and target are the service's databases at
// the same migration versions with the same tables, and returns the tables
// to copy, parents first.
func sameSchema(ctx context.Context, s Service, src, dst *sqldb.DB) ([]string, error) {
	sv, err := src.SchemaVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if sv[sqldb.VersionTables[0]] == 0 {
		return nil, fmt.Errorf("source: no migration was ever applied to it: is it the %s service's database?", s.Name)
	}
	dv, err := dst.SchemaVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	for _, t := range sqldb.VersionTables {
		switch {
		case sv[t] < dv[t]:
			return nil, fmt.Errorf("the source is at version %d of %s, older than this %s-dbcopy's release (%d): start this release's %s service "+
				"once on the source (it migrates it), stop it, and copy again; or copy with the %s-dbcopy of the source's release",
				sv[t], t, s.Name, dv[t], s.Name, s.Name)
		case sv[t] > dv[t]:
			return nil, fmt.Errorf("the source is at version %d of %s, newer than the target (%d): copy with the %s-dbcopy of the release "+
				"that last ran the %s service on the source", sv[t], t, dv[t], s.Name, s.Name)
		}
	}
	st, err := src.Tables(ctx)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	dt, err := dst.Tables(ctx)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	for _, t := range st {
		if !slices.Contains(dt, t) {
			return nil, fmt.Errorf("the source has a table %s the target lacks: is it the %s service's database?", t, s.Name)
		}
	}
	for _, t := range dt {
		if !slices.Contains(st, t) {
			return nil, fmt.Errorf("the target has a table %s the source lacks: is the source the %s service's database?", t, s.Name)
		}
	}
	return dt, nil
}

// noLeasedJobs refuses a source with a running job whose lease has not
// ended: a replica of the service still works on it. A replica that stops
// hands its jobs back; one that was killed holds them until its lease ends.
func noLeasedJobs(ctx context.Context, s Service, src *sqldb.DB, tables []string) error {
	if !slices.Contains(tables, "jobs") {
		return nil
	}
	var id, until int64
	var owner string
	err := src.QueryRowContext(ctx, src.Rebind(`SELECT id, lease_owner, lease_until FROM jobs WHERE state = 'running' AND lease_until >= ?
		ORDER BY lease_until DESC LIMIT 1`), time.Now().UnixMilli()).Scan(&id, &owner, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	return fmt.Errorf("job %d is running on the source, leased by %s until %s: stop every replica of the %s service first "+
		"(a killed replica's jobs are free once their lease ends)", id, owner, time.UnixMilli(until).UTC().Format(time.RFC3339), s.Name)
}

// report prints the table of figures and returns how many tables differ
// and how many rows the source has.
func report(out io.Writer, checks []sqldb.TableCheck) (bad int, rows int64) {
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "table\tsource rows\ttarget rows\tsource sha256\ttarget sha256\tresult\t")
	short := func(s string) string { return s[:min(len(s), 16)] }
	var notes []string
	for _, c := range checks {
		result := "equal"
		if !c.OK() {
			result = "DIFFERENT"
			bad++
		}
		rows += c.SourceRows
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t\n", c.Table, c.SourceRows, c.TargetRows, short(c.SourceSum), short(c.TargetSum), result)
		notes = append(notes, c.Notes...)
		for _, p := range c.Problems {
			notes = append(notes, c.Table+": "+p)
		}
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(out, n)
	}
	return bad, rows
}
