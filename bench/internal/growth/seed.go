package growth

// Seeding: the tenant and the user provisioned through the facade are
// cloned, column by column, into as many rows as the store size needs.
// Every column the services wrote is copied (so the rows have whatever
// shape the current migrations give them: every NOT NULL column, the same
// instance, the same states and documents); in each text column the ids
// are replaced: the row's own id, every other UUID but the instance's (the
// Microsoft customer, the account, the relationship, the Microsoft user,
// request ids) by fresh random UUIDs, the subdomain and the login by new
// ones, and a sealed secret (bound to the original row's place, so it
// would open nowhere else) by an empty string. A user's tenant id and
// Microsoft customer id are its seeded tenant's. Rows go in with
// multi-row INSERTs of 500 rows, 50k rows a transaction; the tenants and
// the users are written at the same time (two databases, or two schemas).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/o365gateway/gateway/services/shared/secret"
	"github.com/o365gateway/gateway/services/shared/sqldb"
)

// seeded are the ids a measurement picks from.
type seeded struct {
	// TenantIDs are every tenant's ids, the provisioned one first.
	TenantIDs []string
	// UserIDs are a uniform sample of the users' ids (at most
	// maxUserSample), the provisioned one first.
	UserIDs []string
}

const (
	maxUserSample = 100_000
	rowsPerInsert = 500
	rowsPerTx     = 50_000
)

var uuidRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// seed fills the tenant and user databases up to sz, the provisioned rows
// included.
func seed(ctx context.Context, urls storeURLs, real realRows, sz size) (*seeded, error) {
	tdb, err := openForSeeding(ctx, urls.Tenant)
	if err != nil {
		return nil, err
	}
	defer tdb.Close()
	udb, err := openForSeeding(ctx, urls.User)
	if err != nil {
		return nil, err
	}
	defer udb.Close()

	// The provisioned rows: the first tenant and its user are the templates.
	var tenants, users []*row
	var customers []string
	for _, t := range real.Tenants {
		tr, err := readRow(ctx, tdb, "tenants", t.ID)
		if err != nil {
			return nil, err
		}
		ur, err := readRow(ctx, udb, "users", t.UserID)
		if err != nil {
			return nil, err
		}
		c, _ := tr.value("ms_customer_id").(string)
		if c == "" {
			return nil, fmt.Errorf("the provisioned tenant %s has no Microsoft customer id", t.ID)
		}
		tenants, users, customers = append(tenants, tr), append(users, ur), append(customers, c)
	}
	// UUIDs both provisioned tenants (and users) hold are constants: the
	// instance, the GDAP roles.
	keep, second := uuidsOf(tenants[0], users[0]), uuidsOf(tenants[1], users[1])
	for u := range keep {
		if !second[u] {
			delete(keep, u)
		}
	}
	a := real.Tenants[0]
	// The tenants' substitutions: id, customer, subdomain, then the other UUIDs.
	tSub := newSubstitution(tenants[0], keep, a.ID, customers[0], a.Subdomain)
	// The users': id, tenant, customer, subdomain, login, then the other UUIDs.
	uSub := newSubstitution(users[0], keep, a.UserID, a.ID, customers[0], a.Subdomain, real.LoginLocal)

	// Every tenant's id, customer and subdomain (the provisioned ones first).
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	n, nReal := sz.Tenants, len(real.Tenants)
	ids, custs, subs := make([]string, n), make([]string, n), make([]string, n)
	for k := range n {
		if k < nReal {
			ids[k], custs[k], subs[k] = real.Tenants[k].ID, customers[k], real.Tenants[k].Subdomain
			continue
		}
		ids[k], custs[k], subs[k] = randomUUID(rng), randomUUID(rng), "gw"+randomName(rng, 14)
	}

	out := &seeded{TenantIDs: ids}
	for _, t := range real.Tenants {
		out.UserIDs = append(out.UserIDs, t.UserID)
	}
	stride := max(1, sz.Users/maxUserSample)
	var wg sync.WaitGroup
	var terr, uerr error
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		vals := tSub.values()
		terr = bulkInsert(ctx, tdb, "tenants", tenants[0].cols, n-nReal, func(i int, row []any) {
			k := nReal + i
			vals[0], vals[1], vals[2] = ids[k], custs[k], subs[k]
			tSub.render(rng, vals, row)
		})
	})
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		vals := uSub.values()
		// User u of tenant k is number k*usersPerTenant+u; the provisioned
		// users are the first of their tenants.
		uerr = bulkInsert(ctx, udb, "users", users[0].cols, n*usersPerTenant-nReal, func(i int, row []any) {
			g := i + 1 + min(i/(usersPerTenant-1), nReal-1)
			k, u := g/usersPerTenant, g%usersPerTenant
			vals[0], vals[1], vals[2], vals[3], vals[4] = randomUUID(rng), ids[k], custs[k], subs[k], "user"+strconv.Itoa(u)
			uSub.render(rng, vals, row)
			if rng.IntN(stride) == 0 {
				out.UserIDs = append(out.UserIDs, vals[0])
			}
		})
	})
	wg.Wait()
	if err := errors.Join(terr, uerr); err != nil {
		return nil, err
	}
	for _, db := range []*sqldb.DB{tdb, udb} {
		if err := afterSeeding(ctx, db); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// substitution turns a template row into a new row: the named values
// (given per row), the row's other UUIDs (fresh per row), the compact
// forms of all these UUIDs (without dashes, as in a GDAP relationship's
// display name) and its sealed values (emptied).
type substitution struct {
	tmpl  rowTemplate
	named int   // olds[:named]: given per row
	fresh int   // olds[named:named+fresh]: fresh UUIDs
	from  []int // olds[named+fresh+i] is the compact form of olds[from[i]]
	// the sealed values come last
	olds []string
}

func newSubstitution(r *row, keep map[string]bool, named ...string) *substitution {
	s := &substitution{named: len(named)}
	others := otherUUIDs(r, keep, named...)
	s.fresh = len(others)
	s.olds = append(slices.Clone(named), others...)
	for j, o := range s.olds {
		if !uuidRE.MatchString(o) || len(o) != 36 {
			continue
		}
		if compact := strings.ReplaceAll(o, "-", ""); r.contains(compact) {
			s.olds = append(s.olds, compact)
			s.from = append(s.from, j)
		}
	}
	s.olds = append(s.olds, sealedValues(r)...)
	s.tmpl = r.compile(s.olds)
	return s
}

// values is a row's substituted values, to fill and pass to render.
func (s *substitution) values() []string { return make([]string, len(s.olds)) }

// render fills in the fresh UUIDs and compact forms of vals (whose named
// values the caller set) and writes the row's values into out.
func (s *substitution) render(rng *rand.Rand, vals []string, out []any) {
	for j := range s.fresh {
		vals[s.named+j] = randomUUID(rng)
	}
	for i, src := range s.from {
		vals[s.named+s.fresh+i] = strings.ReplaceAll(vals[src], "-", "")
	}
	s.tmpl.render(vals, out) // the sealed values stay ""
}

// openForSeeding opens a service's database for a bulk load: on SQLite
// without waiting for the disk and with a large page cache.
func openForSeeding(ctx context.Context, url string) (*sqldb.DB, error) {
	db, err := sqldb.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if db.Dialect == sqldb.SQLite {
		for _, p := range []string{`PRAGMA synchronous=OFF`, `PRAGMA cache_size=-262144`} {
			if _, err := db.ExecContext(ctx, p); err != nil {
				db.Close()
				return nil, err
			}
		}
	}
	return db, nil
}

// afterSeeding leaves the database as a long-running one would be: the
// SQLite WAL checkpointed into the file; PostgreSQL's new rows vacuumed and
// its planner statistics taken, as autovacuum does after a bulk of inserts.
func afterSeeding(ctx context.Context, db *sqldb.DB) error {
	if db.Dialect == sqldb.SQLite {
		_, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		return err
	}
	_, err := db.ExecContext(ctx, `VACUUM ANALYZE`)
	return err
}

// row is one stored row: its columns and values.
type row struct {
	table string
	cols  []string
	vals  []any
}

func (r *row) value(col string) any {
	if i := slices.Index(r.cols, col); i >= 0 {
		return r.vals[i]
	}
	return nil
}

func readRow(ctx context.Context, db *sqldb.DB, table, id string) (*row, error) {
	key := "id"
	if table == "instances" {
		key = "instance_id"
	}
	rows, err := db.QueryContext(ctx, db.Rebind(`SELECT * FROM `+table+` WHERE `+key+` = ?`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("no row %s in %s", id, table)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	for i, v := range vals {
		if b, ok := v.([]byte); ok {
			vals[i] = string(b)
		}
	}
	return &row{table: table, cols: cols, vals: vals}, rows.Err()
}

// uuidsOf are the UUIDs in the text columns of rows.
func uuidsOf(rows ...*row) map[string]bool {
	out := map[string]bool{}
	for _, r := range rows {
		for _, v := range r.vals {
			if s, ok := v.(string); ok {
				for _, u := range uuidRE.FindAllString(s, -1) {
					out[u] = true
				}
			}
		}
	}
	return out
}

// contains tells whether one of r's text columns contains s.
func (r *row) contains(s string) bool {
	for _, v := range r.vals {
		if t, ok := v.(string); ok && strings.Contains(t, s) {
			return true
		}
	}
	return false
}

// otherUUIDs are the UUIDs of r's text columns but the kept ones and
// those named, in a fixed order.
func otherUUIDs(r *row, keep map[string]bool, named ...string) []string {
	seen := map[string]bool{}
	for _, n := range named {
		seen[n] = true
	}
	var out []string
	for _, v := range r.vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		for _, u := range uuidRE.FindAllString(s, -1) {
			if !keep[u] && !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	return out
}

// sealedValues are the sealed secrets in r's text columns (JSON strings or
// whole values beginning with a sealed value's prefix).
func sealedValues(r *row) []string {
	var out []string
	for _, v := range r.vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		for _, p := range secret.Prefixes() {
			if strings.HasPrefix(s, p) {
				out = append(out, s)
				continue
			}
			for rest := s; ; {
				i := strings.Index(rest, `"`+p)
				if i < 0 {
					break
				}
				rest = rest[i+1:]
				end := strings.IndexByte(rest, '"')
				if end < 0 {
					break
				}
				out = append(out, rest[:end])
				rest = rest[end:]
			}
		}
	}
	return out
}

// rowTemplate renders the rows cloned from one row.
type rowTemplate struct {
	cols []colTemplate
}

// colTemplate is a column's value: fixed (non-text), or text made of
// literal parts with substituted values between them.
type colTemplate struct {
	fixed any
	text  bool
	parts []string // len(slots)+1
	slots []int    // indexes into the substituted values
}

// compile splits every text column of r at the occurrences of olds (the
// earliest, then the longest, first).
func (r *row) compile(olds []string) rowTemplate {
	t := rowTemplate{cols: make([]colTemplate, len(r.cols))}
	for i, v := range r.vals {
		s, ok := v.(string)
		if !ok {
			t.cols[i] = colTemplate{fixed: v}
			continue
		}
		c := colTemplate{text: true}
		for {
			at, which := -1, -1
			for j, o := range olds {
				if o == "" {
					continue
				}
				if k := strings.Index(s, o); k >= 0 && (at < 0 || k < at || k == at && len(o) > len(olds[which])) {
					at, which = k, j
				}
			}
			if at < 0 {
				break
			}
			c.parts = append(c.parts, s[:at])
			c.slots = append(c.slots, which)
			s = s[at+len(olds[which]):]
		}
		c.parts = append(c.parts, s)
		t.cols[i] = c
	}
	return t
}

// render writes one row's values into out, with vals substituted.
func (t rowTemplate) render(vals []string, out []any) {
	var b strings.Builder
	for i, c := range t.cols {
		if !c.text {
			out[i] = c.fixed
			continue
		}
		if len(c.slots) == 0 {
			out[i] = c.parts[0]
			continue
		}
		b.Reset()
		for j, slot := range c.slots {
			b.WriteString(c.parts[j])
			b.WriteString(vals[slot])
		}
		b.WriteString(c.parts[len(c.parts)-1])
		out[i] = b.String()
	}
}

// bulkInsert inserts n generated rows with multi-row INSERTs.
func bulkInsert(ctx context.Context, db *sqldb.DB, table string, cols []string, n int, gen func(i int, row []any)) error {
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = `"` + c + `"`
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	stmt := func(rows int) string {
		return db.Rebind(`INSERT INTO ` + table + ` (` + strings.Join(quoted, ",") + `) VALUES ` +
			strings.TrimSuffix(strings.Repeat(one+",", rows), ","))
	}
	full := stmt(rowsPerInsert)
	args := make([]any, 0, rowsPerInsert*len(cols))
	row := make([]any, len(cols))
	for done := 0; done < n; {
		txRows := min(rowsPerTx, n-done)
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			prepared, err := tx.PrepareContext(ctx, full)
			if err != nil {
				return err
			}
			defer prepared.Close()
			for i := 0; i < txRows; {
				batch := min(rowsPerInsert, txRows-i)
				args = args[:0]
				for range batch {
					gen(done+i, row)
					args = append(args, row...)
					i++
				}
				if batch == rowsPerInsert {
					_, err = prepared.ExecContext(ctx, args...)
				} else {
					_, err = tx.ExecContext(ctx, stmt(batch), args...)
				}
				if err != nil {
					return fmt.Errorf("insert into %s: %w", table, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		done += txRows
	}
	return nil
}

func randomUUID(rng *rand.Rand) string {
	var b [16]byte
	hi, lo := rng.Uint64(), rng.Uint64()
	for i := range 8 {
		b[i], b[8+i] = byte(hi>>(8*i)), byte(lo>>(8*i))
	}
	return formatUUID(b)
}

func randomName(rng *rand.Rand, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}
