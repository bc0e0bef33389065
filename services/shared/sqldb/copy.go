package sqldb

// Copying a service's database to another engine (a provider moving from
// the embedded SQLite to PostgreSQL), and verifying the copy. The command
// around it is sqldb/dbcopy.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"
)

// serviceVersionTable is where Migrate records the service's migrations.
const serviceVersionTable = "goose_db_version"

// VersionTables are the goose version tables of a service's database: the
// service's migrations and the job table's. Tables leaves them out, and so
// does a copy: the target's own migrations write them.
var VersionTables = []string{serviceVersionTable, jobsVersionTable}

// transientTables hold state that is worth nothing on another database
// (the rate budgets refill within seconds): Tables leaves them out.
var transientTables = []string{"rate_budget"}

// querier is what the catalog queries need: a DB or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// quoteIdent quotes a table or column name for both engines.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// SchemaVersions returns the goose version each of VersionTables records
// (0 for a table that does not exist): two databases of one service with
// the same versions have the same tables and columns.
func (db *DB) SchemaVersions(ctx context.Context) (map[string]int64, error) {
	all, err := allTables(ctx, db.Dialect, db)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(VersionTables))
	for _, t := range VersionTables {
		if !slices.Contains(all, t) {
			out[t] = 0
			continue
		}
		var v sql.NullInt64
		if err := db.QueryRowContext(ctx, `SELECT MAX(version_id) FROM `+quoteIdent(t)+` WHERE is_applied`).Scan(&v); err != nil {
			return nil, fmt.Errorf("read %s: %w", t, err)
		}
		out[t] = v.Int64
	}
	return out, nil
}

// Tables returns the DB's tables but VersionTables and the transient
// rate budgets (on PostgreSQL, those of
// its schema), parents first: a table comes after every table its foreign
// keys reference, otherwise in name order. That is the order in which a
// copy inserts.
func (db *DB) Tables(ctx context.Context) ([]string, error) {
	all, err := allTables(ctx, db.Dialect, db)
	if err != nil {
		return nil, err
	}
	tables := slices.DeleteFunc(all, func(t string) bool { return slices.Contains(VersionTables, t) || slices.Contains(transientTables, t) })
	refs, err := foreignKeys(ctx, db.Dialect, db, tables)
	if err != nil {
		return nil, err
	}
	return parentsFirst(tables, refs), nil
}

// parentsFirst orders tables so that each comes after the tables it
// references (refs[t]), picking the first by name among those ready. A
// cycle, which no service has, leaves its tables in name order at the end.
func parentsFirst(tables []string, refs map[string][]string) []string {
	slices.Sort(tables)
	done := map[string]bool{}
	var out []string
	for len(out) < len(tables) {
		progress := false
		for _, t := range tables {
			if done[t] {
				continue
			}
			ready := true
			for _, p := range refs[t] {
				if p != t && !done[p] && slices.Contains(tables, p) {
					ready = false
					break
				}
			}
			if ready {
				done[t] = true
				out = append(out, t)
				progress = true
				break
			}
		}
		if !progress {
			for _, t := range tables {
				if !done[t] {
					done[t] = true
					out = append(out, t)
				}
			}
		}
	}
	return out
}

func allTables(ctx context.Context, d Dialect, q querier) ([]string, error) {
	query := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'`
	if d == Postgres {
		query = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`
	}
	return strings1(ctx, q, query)
}

// strings1 runs a query of one text column.
func strings1(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// foreignKeys maps each table to the tables it references.
func foreignKeys(ctx context.Context, d Dialect, q querier, tables []string) (map[string][]string, error) {
	refs := map[string][]string{}
	if d == Postgres {
		rows, err := q.QueryContext(ctx, `SELECT cl.relname, rf.relname FROM pg_constraint c
			JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class rf ON rf.oid = c.confrelid
			JOIN pg_namespace n ON n.oid = c.connamespace
			WHERE c.contype = 'f' AND n.nspname = current_schema()`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var t, p string
			if err := rows.Scan(&t, &p); err != nil {
				return nil, err
			}
			refs[t] = append(refs[t], p)
		}
		return refs, rows.Err()
	}
	for _, t := range tables {
		ps, err := strings1(ctx, q, `SELECT "table" FROM pragma_foreign_key_list(?)`, t)
		if err != nil {
			return nil, err
		}
		refs[t] = ps
	}
	return refs, nil
}

// column is a column of a table and how its values travel.
type column struct {
	name string
	kind byte // 'b' bytes, 't' text, 0 anything else
}

// columns lists a table's columns in their order of declaration.
func columns(ctx context.Context, d Dialect, q querier, table string) ([]column, error) {
	query := `SELECT name, type FROM pragma_table_info(?) ORDER BY cid`
	if d == Postgres {
		query = `SELECT column_name, data_type FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`
	}
	rows, err := q.QueryContext(ctx, query, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		var typ string
		if err := rows.Scan(&c.name, &typ); err != nil {
			return nil, err
		}
		switch typ = strings.ToUpper(typ); {
		case typ == "BYTEA" || strings.Contains(typ, "BLOB"):
			c.kind = 'b'
		case strings.Contains(typ, "TEXT") || strings.Contains(typ, "CHAR") || strings.Contains(typ, "CLOB"):
			c.kind = 't'
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no table %s", table)
	}
	return out, nil
}

func columnNames(cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}

// columnDiff tells which columns only one side has ("" when both have the same).
func columnDiff(src, dst []column) string {
	s, d := columnNames(src), columnNames(dst)
	var only []string
	for _, n := range s {
		if !slices.Contains(d, n) {
			only = append(only, "only in the source: "+n)
		}
	}
	for _, n := range d {
		if !slices.Contains(s, n) {
			only = append(only, "only in the target: "+n)
		}
	}
	return strings.Join(only, ", ")
}

// primaryKey lists a table's primary key columns (none: nil).
func primaryKey(ctx context.Context, d Dialect, q querier, table string) ([]string, error) {
	if d == Postgres {
		return strings1(ctx, q, `SELECT kcu.column_name FROM information_schema.table_constraints tc
			JOIN information_schema.key_column_usage kcu
			  ON kcu.constraint_schema = tc.constraint_schema AND kcu.constraint_name = tc.constraint_name AND kcu.table_name = tc.table_name
			WHERE tc.table_schema = current_schema() AND tc.table_name = $1 AND tc.constraint_type = 'PRIMARY KEY'
			ORDER BY kcu.ordinal_position`, table)
	}
	return strings1(ctx, q, `SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`, table)
}

// ErrTargetNotEmpty is returned by Copy when a table of the target has rows
// and CopyOptions.Replace is off.
var ErrTargetNotEmpty = errors.New("the target is not empty")

// CopyOptions tune Copy.
type CopyOptions struct {
	// Replace empties the target's tables first, in the copy's
	// transaction. Without it Copy refuses a target table that has rows.
	Replace bool
	// Progress, when set, is called after each table with its row count.
	Progress func(table string, rows int64)
}

// copyParams bounds the parameters of one INSERT (PostgreSQL allows 65,535,
// SQLite 32,766).
const copyParams = 30000

// Copy copies the rows of tables, in this order (parents first, as Tables
// returns them), from one database into another that has the same tables
// and columns: the same service's migrations at the same version, which
// Copy does not check (SchemaVersions does). It writes no schema.
//
// The source is read in one read-only transaction, a consistent snapshot;
// the target is written in one transaction: a failed copy leaves nothing
// behind. Values are copied as stored, so secrets stay sealed under the
// same key. Goose version tables are never copied (the target's own
// migrations wrote them). On PostgreSQL the sequence behind a serial
// column (the job ids) is set past the highest id copied and past the
// highest id the source ever handed out (SQLite's AUTOINCREMENT counter,
// which remembers deleted jobs), so that no id is used twice.
//
// It returns the number of rows copied per table.
func Copy(ctx context.Context, from, to *DB, tables []string, opt CopyOptions) (map[string]int64, error) {
	srcOpts := &sql.TxOptions{ReadOnly: true}
	if from.Dialect == Postgres {
		srcOpts.Isolation = sql.LevelRepeatableRead
	}
	src, err := from.BeginTx(ctx, srcOpts)
	if err != nil {
		return nil, fmt.Errorf("read the source: %w", err)
	}
	defer src.Rollback()
	dst, err := to.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("write the target: %w", err)
	}
	defer dst.Rollback()

	cols := make([][]column, len(tables))
	for i, t := range tables {
		sc, err := columns(ctx, from.Dialect, src, t)
		if err != nil {
			return nil, fmt.Errorf("source table %s: %w", t, err)
		}
		if cols[i], err = columns(ctx, to.Dialect, dst, t); err != nil {
			return nil, fmt.Errorf("target table %s: %w", t, err)
		}
		if d := columnDiff(sc, cols[i]); d != "" {
			return nil, fmt.Errorf("table %s differs between source and target (%s): are both at the same migration version?", t, d)
		}
		if !opt.Replace {
			var n int64
			if err := dst.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t)).Scan(&n); err != nil {
				return nil, fmt.Errorf("target table %s: %w", t, err)
			}
			if n > 0 {
				return nil, fmt.Errorf("table %s has %d rows: %w", t, n, ErrTargetNotEmpty)
			}
		}
	}
	if opt.Replace {
		for i := len(tables) - 1; i >= 0; i-- { // children first
			if _, err := dst.ExecContext(ctx, `DELETE FROM `+quoteIdent(tables[i])); err != nil {
				return nil, fmt.Errorf("empty target table %s: %w", tables[i], err)
			}
		}
	}
	counts := make(map[string]int64, len(tables))
	for i, t := range tables {
		n, err := copyTable(ctx, src, dst, to, t, cols[i])
		if err != nil {
			return nil, fmt.Errorf("copy table %s: %w", t, err)
		}
		counts[t] = n
		if to.Dialect == Postgres {
			if err := advanceSequences(ctx, from, src, dst, t, cols[i]); err != nil {
				return nil, fmt.Errorf("table %s: %w", t, err)
			}
		}
		if opt.Progress != nil {
			opt.Progress(t, n)
		}
	}
	if err := dst.Commit(); err != nil {
		return nil, fmt.Errorf("commit the copy: %w", err)
	}
	return counts, nil
}

// copyTable copies one table's rows in multi-row INSERTs.
func copyTable(ctx context.Context, src, dst *sql.Tx, to *DB, table string, cols []column) (int64, error) {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c.name)
	}
	list := strings.Join(names, ", ")
	rows, err := src.QueryContext(ctx, `SELECT `+list+` FROM `+quoteIdent(table))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	perInsert := max(1, min(500, copyParams/len(cols)))
	tuple := "(?" + strings.Repeat(", ?", len(cols)-1) + ")"
	args := make([]any, 0, perInsert*len(cols))
	var total int64
	pending := 0
	flush := func() error {
		if pending == 0 {
			return nil
		}
		q := `INSERT INTO ` + quoteIdent(table) + ` (` + list + `) VALUES ` + tuple + strings.Repeat(", "+tuple, pending-1)
		if _, err := dst.ExecContext(ctx, to.Rebind(q), args...); err != nil {
			return err
		}
		args, pending = args[:0], 0
		return nil
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return total, err
		}
		for i, v := range vals {
			args = append(args, convert(v, cols[i].kind))
		}
		pending++
		total++
		if pending == perInsert {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return total, err
	}
	return total, flush()
}

// convert adapts a value to the target column: SQLite may keep text in a
// BLOB column and bytes in a TEXT one; PostgreSQL's columns take one type.
// Empty bytes arrive as a nil slice, which drivers would write as NULL.
func convert(v any, kind byte) any {
	switch x := v.(type) {
	case string:
		if kind == 'b' {
			return []byte(x)
		}
	case []byte:
		if kind == 't' {
			return string(x)
		}
		if x == nil {
			return []byte{}
		}
	}
	return v
}

// advanceSequences moves the PostgreSQL sequence of each serial column of
// table past the highest value copied and past the source's own counter.
func advanceSequences(ctx context.Context, from *DB, src, dst *sql.Tx, table string, cols []column) error {
	for _, c := range cols {
		var seq sql.NullString
		if err := dst.QueryRowContext(ctx, `SELECT pg_get_serial_sequence($1, $2)`, quoteIdent(table), c.name).Scan(&seq); err != nil {
			return err
		}
		if !seq.Valid {
			continue
		}
		var highest sql.NullInt64
		if err := dst.QueryRowContext(ctx, `SELECT MAX(`+quoteIdent(c.name)+`) FROM `+quoteIdent(table)).Scan(&highest); err != nil {
			return err
		}
		used, err := sourceCounter(ctx, from, src, table, c.name)
		if err != nil {
			return fmt.Errorf("read the source's id counter: %w", err)
		}
		last := max(highest.Int64, used)
		if last > 0 {
			_, err = dst.ExecContext(ctx, `SELECT setval($1::text::regclass, $2, true)`, seq.String, last)
		} else {
			_, err = dst.ExecContext(ctx, `SELECT setval($1::text::regclass, 1, false)`, seq.String)
		}
		if err != nil {
			return fmt.Errorf("set sequence %s: %w", seq.String, err)
		}
	}
	return nil
}

// sourceCounter is the highest id the source handed out for a table's
// generated column, deleted rows included: SQLite's AUTOINCREMENT counter
// (sqlite_sequence), or a PostgreSQL sequence's last value; 0 if none.
func sourceCounter(ctx context.Context, from *DB, src *sql.Tx, table, col string) (int64, error) {
	var n sql.NullInt64
	if from.Dialect == Postgres {
		var seq sql.NullString
		if err := src.QueryRowContext(ctx, `SELECT pg_get_serial_sequence($1, $2)`, quoteIdent(table), col).Scan(&seq); err != nil || !seq.Valid {
			return 0, err
		}
		var called bool
		if err := src.QueryRowContext(ctx, `SELECT last_value, is_called FROM `+seq.String).Scan(&n, &called); err != nil || !called {
			return 0, err
		}
		return n.Int64, nil
	}
	var has int
	if err := src.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'`).Scan(&has); err != nil || has == 0 {
		return 0, err
	}
	err := src.QueryRowContext(ctx, `SELECT MAX(seq) FROM sqlite_sequence WHERE name = ?`, table).Scan(&n)
	return n.Int64, err
}

// TableCheck is the comparison of one table of two databases.
type TableCheck struct {
	Table                  string
	SourceRows, TargetRows int64
	// SourceSum and TargetSum are the table's checksums on each side (hex):
	// the SHA-256 of its rows' SHA-256s in sorted order. A row's SHA-256
	// covers its values in column name order, each written as a type tag
	// (null, integer, float, text or bytes, time), its length and its bytes,
	// the same way on both engines.
	SourceSum, TargetSum string
	// Notes are facts worth showing (the target's next generated id).
	Notes []string
	// Problems say what differs; none when the table is equal on both sides.
	Problems []string
}

// OK tells whether the table is equal on both sides.
func (c TableCheck) OK() bool { return len(c.Problems) == 0 }

// diffKeysShown bounds the keys of differing rows a TableCheck names.
const diffKeysShown = 5

// Verify compares tables of two databases row by row: counts and
// checksums (TableCheck), and on PostgreSQL that the target's sequences
// are past the highest id. It reads each side outside any transaction, so
// nothing may write to either meanwhile. It returns an error only when it
// cannot read; differences are in the checks.
func Verify(ctx context.Context, from, to *DB, tables []string) ([]TableCheck, error) {
	out := make([]TableCheck, 0, len(tables))
	for _, t := range tables {
		c, err := verifyTable(ctx, from, to, t)
		if err != nil {
			return out, fmt.Errorf("verify table %s: %w", t, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func verifyTable(ctx context.Context, from, to *DB, table string) (TableCheck, error) {
	c := TableCheck{Table: table}
	sc, err := columns(ctx, from.Dialect, from, table)
	if err != nil {
		return c, fmt.Errorf("source: %w", err)
	}
	dc, err := columns(ctx, to.Dialect, to, table)
	if err != nil {
		return c, fmt.Errorf("target: %w", err)
	}
	if d := columnDiff(sc, dc); d != "" {
		c.Problems = append(c.Problems, "columns differ ("+d+")")
	}
	var common []string
	for _, n := range columnNames(sc) {
		if slices.Contains(columnNames(dc), n) {
			common = append(common, n)
		}
	}
	slices.Sort(common)
	srcHashes, err := rowHashes(ctx, from, table, common, nil)
	if err != nil {
		return c, fmt.Errorf("source: %w", err)
	}
	dstHashes, err := rowHashes(ctx, to, table, common, nil)
	if err != nil {
		return c, fmt.Errorf("target: %w", err)
	}
	c.SourceRows, c.TargetRows = int64(len(srcHashes)), int64(len(dstHashes))
	c.SourceSum, c.TargetSum = tableSum(srcHashes), tableSum(dstHashes)
	if c.SourceRows != c.TargetRows {
		c.Problems = append(c.Problems, fmt.Sprintf("%d rows in the source, %d in the target", c.SourceRows, c.TargetRows))
	}
	if c.SourceSum != c.TargetSum {
		onlySrc, onlyDst := multisetDiff(srcHashes, dstHashes)
		for _, side := range []struct {
			db    *DB
			only  map[[32]byte]int
			where string
		}{{from, onlySrc, "only in the source (missing or altered in the target)"}, {to, onlyDst, "only in the target"}} {
			if len(side.only) == 0 {
				continue
			}
			keys, err := differingKeys(ctx, side.db, table, common, side.only)
			if err != nil {
				return c, err
			}
			shown, more := keys[:min(len(keys), diffKeysShown)], ""
			if len(keys) > len(shown) {
				more = "; …"
			}
			c.Problems = append(c.Problems, fmt.Sprintf("%d rows %s: %s%s", len(keys), side.where, strings.Join(shown, "; "), more))
		}
	}
	if to.Dialect == Postgres {
		notes, problems, err := checkSequences(ctx, to, table, columnNames(dc))
		if err != nil {
			return c, fmt.Errorf("target: %w", err)
		}
		c.Notes = append(c.Notes, notes...)
		c.Problems = append(c.Problems, problems...)
	}
	return c, nil
}

// rowHashes returns the sorted SHA-256s of a table's rows over cols (in
// this order). With visit, it returns nothing and calls visit with each
// row's hash and values instead.
func rowHashes(ctx context.Context, db *DB, table string, cols []string, visit func(sum [32]byte, vals []any)) ([][32]byte, error) {
	names := make([]string, len(cols))
	for i, n := range cols {
		names[i] = quoteIdent(n)
	}
	rows, err := db.QueryContext(ctx, `SELECT `+strings.Join(names, ", ")+` FROM `+quoteIdent(table))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out [][32]byte
	h := sha256.New()
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		h.Reset()
		for _, v := range vals {
			renderValue(h, v)
		}
		var sum [32]byte
		h.Sum(sum[:0])
		if visit != nil {
			visit(sum, vals)
			continue
		}
		out = append(out, sum)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}

// renderValue writes one value in its canonical form: a type tag, the
// length and the bytes. Text and bytes render alike (SQLite may hold
// either in a column PostgreSQL types strictly), and so do booleans and
// the integers 0 and 1.
func renderValue(h hash.Hash, v any) {
	var tag byte
	var b []byte
	switch x := v.(type) {
	case nil:
		tag = 'N'
	case int64:
		tag, b = 'I', strconv.AppendInt(nil, x, 10)
	case float64:
		tag, b = 'F', strconv.AppendFloat(nil, x, 'g', -1, 64)
	case bool:
		tag, b = 'I', []byte("0")
		if x {
			b = []byte("1")
		}
	case string:
		tag, b = 'S', []byte(x)
	case []byte:
		tag, b = 'S', x
	case time.Time:
		tag, b = 'T', []byte(x.UTC().Format(time.RFC3339Nano))
	default:
		tag, b = 'X', fmt.Appendf(nil, "%T:%v", x, x)
	}
	var n [9]byte
	n[0] = tag
	binary.BigEndian.PutUint64(n[1:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// tableSum is the SHA-256 of sorted row hashes, in hex.
func tableSum(sorted [][32]byte) string {
	h := sha256.New()
	for _, s := range sorted {
		h.Write(s[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// multisetDiff returns the hashes (with multiplicity) only a has and only
// b has; both are sorted.
func multisetDiff(a, b [][32]byte) (onlyA, onlyB map[[32]byte]int) {
	onlyA, onlyB = map[[32]byte]int{}, map[[32]byte]int{}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && bytes.Compare(a[i][:], b[j][:]) < 0):
			onlyA[a[i]]++
			i++
		case i == len(a) || bytes.Compare(a[i][:], b[j][:]) > 0:
			onlyB[b[j]]++
			j++
		default:
			i++
			j++
		}
	}
	return onlyA, onlyB
}

// differingKeys reads the table again and names the rows whose hash is in
// only, by primary key ("id=42"), or by their first column when the table
// has none.
func differingKeys(ctx context.Context, db *DB, table string, cols []string, only map[[32]byte]int) ([]string, error) {
	pk, err := primaryKey(ctx, db.Dialect, db, table)
	if err != nil {
		return nil, err
	}
	if len(pk) == 0 && len(cols) > 0 {
		pk = cols[:1]
	}
	var keys []string
	_, err = rowHashes(ctx, db, table, cols, func(sum [32]byte, vals []any) {
		if only[sum] == 0 {
			return
		}
		parts := make([]string, 0, len(pk))
		for _, k := range pk {
			if i := slices.Index(cols, k); i >= 0 {
				parts = append(parts, k+"="+shortValue(vals[i]))
			}
		}
		keys = append(keys, strings.Join(parts, ","))
	})
	slices.Sort(keys)
	return keys, err
}

func shortValue(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		s = string(x)
	default:
		s = fmt.Sprint(x)
	}
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

// checkSequences checks that each PostgreSQL sequence behind a column of
// table would hand out an id above the highest one stored.
func checkSequences(ctx context.Context, db *DB, table string, cols []string) (notes, problems []string, err error) {
	for _, col := range cols {
		var seq sql.NullString
		if err := db.QueryRowContext(ctx, `SELECT pg_get_serial_sequence($1, $2)`, quoteIdent(table), col).Scan(&seq); err != nil {
			return nil, nil, err
		}
		if !seq.Valid {
			continue
		}
		var last int64
		var called bool
		if err := db.QueryRowContext(ctx, `SELECT last_value, is_called FROM `+seq.String).Scan(&last, &called); err != nil {
			return nil, nil, err
		}
		next := last
		if called {
			next++
		}
		var highest sql.NullInt64
		if err := db.QueryRowContext(ctx, `SELECT MAX(`+quoteIdent(col)+`) FROM `+quoteIdent(table)).Scan(&highest); err != nil {
			return nil, nil, err
		}
		if highest.Valid && next <= highest.Int64 {
			problems = append(problems, fmt.Sprintf("sequence %s would hand out %s %d, which is taken (highest %d)", seq.String, col, next, highest.Int64))
			continue
		}
		notes = append(notes, fmt.Sprintf("%s.%s: the next id is %d (highest stored: %d)", table, col, next, highest.Int64))
	}
	return notes, problems, nil
}
