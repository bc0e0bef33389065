-- On SQLite this version moves the operation columns into the op JSON
-- document. On PostgreSQL, 00001 already creates the tenants table in that
-- shape (no database predates it), so there is nothing to do; the version
-- exists to keep both dialects at the same goose version.

-- +goose Up

-- +goose Down
