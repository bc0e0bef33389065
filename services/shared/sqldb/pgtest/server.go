package pgtest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Server is a throwaway PostgreSQL cluster started by a normal program (a
// benchmark runner, a tool) rather than a test binary: the same cluster as
// URL's (initdb in a new temporary directory, a free loopback port,
// durability off, as the postgres user when running as root, dying with the
// program), which the program stops with Stop.
//
//	srv, err := pgtest.StartServer()
//	defer srv.Stop()
//	srv.CreateDatabase("bench")
//	url := srv.URL("bench") // postgres://postgres@127.0.0.1:PORT/bench?sslmode=disable
type Server struct {
	s *server
}

// ErrUnavailable is wrapped by StartServer's error when there are no
// PostgreSQL server binaries (see BinDir), as opposed to binaries that
// failed to start.
var ErrUnavailable = errors.New("pgtest: PostgreSQL is not installed")

// StartServer makes and starts a new cluster. settings are extra server
// settings, "name=value" (postgres -c), applied after the throwaway
// defaults (fsync=off, shared_buffers=32MB, autovacuum=off, …), so they
// may override them. Each call starts a cluster of its own; the package's
// test server (URL) is not touched.
func StartServer(settings ...string) (*Server, error) {
	for _, kv := range settings {
		if name, _, ok := strings.Cut(kv, "="); !ok || !settingName.MatchString(name) {
			return nil, fmt.Errorf("pgtest: server setting %q is not name=value", kv)
		}
	}
	s, unavailable, err := start(settings...)
	if unavailable != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, unavailable)
	}
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return &Server{s: s}, nil
}

var (
	settingName = regexp.MustCompile(`^[a-z_][a-z0-9_.]*$`)
	dbIdent     = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

// URL is the URL of database db on the server (superuser postgres, no
// password, sslmode=disable); "postgres" is the maintenance database every
// cluster has.
func (s *Server) URL(db string) string { return s.s.url(db) }

// Port is the server's loopback port.
func (s *Server) Port() int { return s.s.port }

// Dir is the cluster's temporary directory (data/, postgres.log), removed
// by Stop.
func (s *Server) Dir() string { return s.s.dir }

// CreateDatabase creates an empty database; name must be a lower-case SQL
// identifier (letters, digits, underscores).
func (s *Server) CreateDatabase(name string) error {
	if !dbIdent.MatchString(name) {
		return fmt.Errorf("pgtest: database name %q is not a lower-case identifier", name)
	}
	if err := s.s.createDatabase(name); err != nil {
		return fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return nil
}

// DropDatabase drops a database, closing its connections; a missing one is
// no error.
func (s *Server) DropDatabase(name string) error {
	if !dbIdent.MatchString(name) {
		return fmt.Errorf("pgtest: database name %q is not a lower-case identifier", name)
	}
	if err := s.s.dropDatabase(name); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down at once (nothing in it is kept) and removes
// its directory. Stopping twice is no error.
func (s *Server) Stop() error {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	if s.s.dir == "" {
		return nil
	}
	err := s.s.stop()
	s.s.dir, s.s.admin = "", nil
	return err
}
