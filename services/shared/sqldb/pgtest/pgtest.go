// Package pgtest gives tests a throwaway PostgreSQL server: one per test
// binary, started on first use, with a fresh database for every test.
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestStore(t *testing.T) {
//		url := pgtest.URL(t) // postgres://…/<new database>?sslmode=disable
//	}
//
// The server binaries are looked up in $PGTEST_BINDIR when it is set (and
// only there), else in $PATH (initdb and postgres), then in Debian's
// /usr/lib/postgresql/<version>/bin (newest first). The cluster is
// made by initdb in a new temporary directory, and postgres listens on a free
// loopback port with its socket in that directory (-k), never in
// /var/run/postgresql. As root it runs as the postgres user (PostgreSQL
// refuses to run as root), which owns the directory. Main stops the server
// and removes the directory when the tests end; the server also dies with
// the test binary (parent-death signal), and a later run removes
// directories whose test binary is gone.
//
// A program that is no test (the benchmark runner) starts a cluster of its
// own with StartServer and stops it with Server.Stop.
//
// Without PostgreSQL binaries, URL skips the test with a loud message, and
// appends it to the file named by $O365GW_SKIP_LOG (make test prints that
// file); under CI=true it fails the test instead.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// BinDirEnv names the directory of the server binaries, when set.
const BinDirEnv = "PGTEST_BINDIR"

// SkipLogEnv names the file skipped PostgreSQL tests are reported to.
const SkipLogEnv = "O365GW_SKIP_LOG"

// dirPrefix starts the names of the servers' temporary directories.
const dirPrefix = "o365gw-pgtest-"

var (
	mainCalled atomic.Bool
	once       sync.Once
	srv        *server
	// unavailable says why there is no server binary; startErr why the
	// server did not start although there are binaries.
	unavailable error
	startErr    error
	skipOnce    sync.Once
	seq         atomic.Int64
)

// Main runs the package's tests (call it from TestMain), then stops the
// package's server, if a test started one, and removes its files.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if srv != nil {
		if err := srv.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the test PostgreSQL: %v\n", err)
		}
	}
	os.Exit(code)
}

// URL creates an empty database on the package's server (starting it on
// first use) and returns its URL; the database is dropped when t ends.
// Append "&search_path=…" to work in a schema.
func URL(t testing.TB) string {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("pgtest: the package's TestMain must call pgtest.Main(m), which stops the server")
	}
	once.Do(func() { srv, unavailable, startErr = start() })
	if unavailable != nil {
		const hint = " (Debian: apt-get install postgresql; .ci/run installs it)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true requires PostgreSQL for this test: %v%s", unavailable, hint)
		}
		msg := "SKIPPED PostgreSQL tests: " + unavailable.Error() + hint
		skipOnce.Do(func() { reportSkip(msg) })
		t.Skip(msg)
	}
	if startErr != nil {
		t.Fatalf("pgtest: %v", startErr)
	}
	name := fmt.Sprintf("t%d_%s", seq.Add(1), dbName(t.Name()))
	if err := srv.createDatabase(name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := srv.dropDatabase(name); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return srv.url(name)
}

// reportSkip prints msg loudly and appends it to $O365GW_SKIP_LOG.
func reportSkip(msg string) {
	wd, _ := os.Getwd()
	line := fmt.Sprintf("%s: %s", wd, msg)
	fmt.Fprintf(os.Stderr, "\n!!!!! %s\n\n", line)
	if path := os.Getenv(SkipLogEnv); path != "" {
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}

var nonIdent = regexp.MustCompile(`[^a-z0-9]+`)

func dbName(test string) string {
	s := strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(test), "_"), "_")
	if len(s) > 40 {
		s = s[len(s)-40:]
	}
	return s
}

// BinDir returns the directory of the PostgreSQL server binaries, or an
// error saying where it looked.
func BinDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(BinDirEnv); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("no PostgreSQL server binaries (initdb, postgres) in $%s=%s", BinDirEnv, dir)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(p); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) in $PATH or /usr/lib/postgresql/*/bin")
}

// server is a running throwaway cluster.
type server struct {
	mu      sync.Mutex
	dir     string // temporary directory: data/, the socket, the logs
	port    int
	cmd     *exec.Cmd
	exited  chan error // receives the postmaster's exit
	admin   *sql.DB    // the postgres database, for CREATE/DROP DATABASE
	version int        // server_version_num
	// settings are extra "name=value" server settings (StartServer).
	settings []string
}

// start makes and starts a cluster. unavailable is set when there are no
// binaries, err when they failed.
func start(settings ...string) (s *server, unavailable, err error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err, nil
	}
	cred, err := credential()
	if err != nil {
		return nil, nil, err
	}
	parent := os.TempDir()
	if cred != nil && !traversable(parent) {
		parent = "/tmp" // the postgres user could not reach a directory in $TMPDIR
	}
	removeStale(parent)
	dir, err := os.MkdirTemp(parent, dirPrefix)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	if cred != nil {
		// MkdirTemp made it root's, mode 0700: hand it to postgres.
		for _, p := range []string{dir, filepath.Join(dir, "owner.pid")} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				os.RemoveAll(dir)
				return nil, nil, err
			}
		}
	}
	s = &server{dir: dir, settings: settings}
	if err := s.initdb(bin, cred); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	// A free port can be taken between our probe and postgres' bind: try again.
	for try := 0; ; try++ {
		if err = s.run(bin, cred); err == nil || try == 2 {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return s, nil, nil
}

// credential is the postgres user's when running as root, nil otherwise.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as another user and there is no postgres user (%v)", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func (s *server) command(bin, name string, cred *syscall.Credential, log string, args ...string) (*exec.Cmd, error) {
	out, err := os.OpenFile(filepath.Join(s.dir, log), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	return cmd, nil
}

func (s *server) initdb(bin string, cred *syscall.Credential) error {
	cmd, err := s.command(bin, "initdb", cred, "initdb.log", "-D", filepath.Join(s.dir, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if err != nil {
		return err
	}
	exited, err := startChild(cmd)
	if err == nil {
		err = <-exited
	}
	if err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, s.tail("initdb.log"))
	}
	return nil
}

// startChild starts cmd so that it gets SIGQUIT (PostgreSQL's immediate
// shutdown) when the test binary dies: the parent-death signal goes when
// the thread that started the child ends, so the goroutine here keeps its
// thread locked until the child has exited. exited receives cmd.Wait's
// result; cmd's log file is closed then.
func startChild(cmd *exec.Cmd) (exited chan error, err error) {
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	started := make(chan error, 1)
	exited = make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		defer cmd.Stdout.(*os.File).Close()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}

// run starts postgres on a free loopback port and waits until it accepts
// connections.
func (s *server) run(bin string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	args := []string{"-D", filepath.Join(s.dir, "data"),
		"-p", strconv.Itoa(port), "-h", "127.0.0.1", "-k", s.dir,
		// A throwaway cluster: durability off, small, quiet.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB", "-c", "max_connections=200", "-c", "autovacuum=off",
		"-c", "log_min_messages=warning", "-c", "log_min_error_statement=panic"}
	for _, kv := range s.settings {
		args = append(args, "-c", kv) // later settings win
	}
	cmd, err := s.command(bin, "postgres", cred, "postgres.log", args...)
	if err != nil {
		return err
	}
	if s.exited, err = startChild(cmd); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd = cmd
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := sql.Open("pgx", s.url("postgres"))
	if err != nil {
		s.kill()
		return err
	}
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		err = admin.PingContext(pctx)
		pcancel()
		if err == nil {
			break
		}
		select {
		case werr := <-s.exited:
			admin.Close()
			return fmt.Errorf("postgres exited (%v):\n%s", werr, s.tail("postgres.log"))
		case <-ctx.Done():
			admin.Close()
			s.kill()
			return fmt.Errorf("postgres did not accept connections within a minute (%v):\n%s", err, s.tail("postgres.log"))
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := admin.QueryRowContext(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&s.version); err != nil {
		admin.Close()
		s.kill()
		return err
	}
	s.admin = admin
	return nil
}

func (s *server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

func (s *server) createDatabase(name string) error {
	s.mu.Lock() // one CREATE DATABASE at a time: they copy the same template
	defer s.mu.Unlock()
	q := `CREATE DATABASE "` + name + `"`
	if s.version >= 150000 {
		// Copying the template's files beats WAL-logging them on a
		// cluster without fsync.
		q += ` STRATEGY = FILE_COPY`
	}
	_, err := s.admin.Exec(q)
	return err
}

func (s *server) dropDatabase(name string) error {
	_, err := s.admin.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`)
	return err
}

// stop shuts the server down at once (nothing in it is kept) and removes
// its directory.
func (s *server) stop() error {
	if s.admin != nil {
		s.admin.Close()
	}
	err := s.kill()
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}

// kill sends the postmaster SIGQUIT (immediate shutdown) and waits for it;
// SIGKILL after 10 seconds.
func (s *server) kill() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("postgres did not stop within 10 seconds: killed")
	}
}

// tail returns the end of a log file of the server's directory.
func (s *server) tail(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.dir, name))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// removeStale removes the directories of servers whose test binary is gone
// (killed before Main could clean up; the server died with it).
func removeStale(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		if alive(string(b)) {
			continue
		}
		if pm, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			if first, _, _ := strings.Cut(string(pm), "\n"); alive(first) {
				continue
			}
		}
		os.RemoveAll(d)
	}
}

// traversable tells whether every user may pass through dir and its parents.
func traversable(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func alive(pid string) bool {
	n, err := strconv.Atoi(strings.TrimSpace(pid))
	if err != nil || n <= 0 {
		return false
	}
	err = syscall.Kill(n, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
