// Command audit-verify checks a service's audit log (package audit) in its
// database: every entry's MAC under the key it names, the sequence without
// gaps, each entry chained to the one before it and, given a head exported
// earlier (the "audit chain head" log line, or GetAuditHead of the admin
// API), that the chain still reaches that head with the same MAC. It reads
// the database and changes nothing.
//
//	audit-verify -db sqlite://.run/tenant.db -key .run/audit-tenant.key [-key old.key] [-head 1234:9f86d0…]
//
// With -export FILE it also writes every entry as a JSON line (the admin
// API's export format; "-" is the standard output, the report then goes to
// the standard error). Exit status: 0 when the chain is intact, 1 when an
// entry was edited, deleted, inserted or cut off (each one is listed), 2
// when the log could not be read or the command line is wrong.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/o365gateway/gateway/services/shared/audit"
	"github.com/o365gateway/gateway/services/shared/sqldb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// keyFiles is the repeatable -key flag.
type keyFiles []string

func (k *keyFiles) String() string     { return strings.Join(*k, ",") }
func (k *keyFiles) Set(v string) error { *k = append(*k, v); return nil }

// run is the command: args without the program name. It returns the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("audit-verify", flag.ContinueOnError)
	fl.SetOutput(stderr)
	db := fl.String("db", "", "the service's database: sqlite://path/to/tenant.db or postgres://…?search_path=tenant")
	var keys keyFiles
	fl.Var(&keys, "key", "an audit key file (the service's *_AUDIT_KEY_FILE); repeat it for every key the chain was sealed under")
	head := fl.String("head", "", "a head exported earlier, SEQ:MAC: the chain must still reach it (detects a truncation)")
	asJSON := fl.Bool("json", false, "print the report as JSON")
	export := fl.String("export", "", "also write every entry as a JSON line to this file (- for the standard output)")
	fl.Usage = func() {
		fmt.Fprintf(stderr, `Usage: audit-verify -db URL -key FILE [-key FILE …] [-head SEQ:MAC] [-json] [-export FILE]

Checks a service's audit log: every entry's MAC, the sequence, the chain, and
(with -head) that nothing was cut off after the given head. Exit status: 0
intact, 1 a problem found (listed), 2 the log could not be read.

`)
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "audit-verify: "+format+"\n", args...)
		return 2
	}
	switch {
	case fl.NArg() > 0:
		return fail("unexpected argument %q", fl.Arg(0))
	case *db == "" || len(keys) == 0:
		return fail("-db and -key are required (-h for help)")
	}
	var known *audit.Head
	if *head != "" {
		h, err := audit.ParseHead(*head)
		if err != nil {
			return fail("-head: %v", err)
		}
		known = &h
	}
	ring := audit.Keyring{}
	for _, f := range keys {
		k, err := audit.LoadKeyFile(f)
		if err != nil {
			return fail("%v", err)
		}
		ring[k.ID] = k
	}
	if path, ok := strings.CutPrefix(*db, "sqlite://"); ok {
		if _, err := os.Stat(path); err != nil {
			return fail("database: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	d, err := sqldb.Open(ctx, *db)
	if err != nil {
		return fail("%v", err)
	}
	defer d.Close()
	r, err := audit.Verify(ctx, sqldb.AuditLog{DB: d}, ring, known)
	if err != nil {
		return fail("%v", err)
	}
	if *export != "" {
		w := stdout
		if *export == "-" {
			stdout = stderr
		} else {
			f, err := os.OpenFile(*export, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return fail("-export: %v", err)
			}
			defer f.Close()
			w = f
		}
		if err := exportEntries(ctx, sqldb.AuditLog{DB: d}, w); err != nil {
			return fail("-export: %v", err)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
	} else {
		report(stdout, sqldb.RedactURL(*db), r, known)
	}
	if !r.OK() {
		return 1
	}
	return 0
}

// exportEntries writes every entry of the chain as a JSON line.
func exportEntries(ctx context.Context, s audit.Store, w io.Writer) error {
	enc := json.NewEncoder(w)
	var after int64
	for {
		page, err := s.List(ctx, audit.Filter{}, after, 1000)
		if err != nil {
			return err
		}
		for i := range page {
			if err := enc.Encode(&page[i]); err != nil {
				return err
			}
			after = page[i].Seq
		}
		if len(page) < 1000 {
			return nil
		}
	}
}

// report prints r for a person.
func report(w io.Writer, db string, r *audit.Report, known *audit.Head) {
	fmt.Fprintf(w, "audit log in %s: %d entries, head %s\n", db, r.Entries, r.Head)
	ids := make([]string, 0, len(r.Keys))
	for id := range r.Keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(w, "  key %s: %d entries\n", id, r.Keys[id])
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM at entry %d: %s\n", p.Seq, p.What)
	}
	if r.More > 0 {
		fmt.Fprintf(w, "PROBLEM: %d more not listed\n", r.More)
	}
	switch {
	case !r.OK():
		fmt.Fprintf(w, "FAILED: the audit log was tampered with (%d problems)\n", len(r.Problems)+r.More)
	case known != nil:
		fmt.Fprintf(w, "OK: every entry is intact and chained, and the chain reaches the head %s\n", known)
	default:
		fmt.Fprintln(w, "OK: every entry is intact and chained (give -head to also detect a truncation)")
	}
}
