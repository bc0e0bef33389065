-- The PostgreSQL mirror of sqlite/00001_init.sql (times are Unix
-- milliseconds in BIGINT; the document is JSON text).

-- +goose Up
CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,
  instance_id TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  data TEXT NOT NULL,
  state TEXT NOT NULL,
  version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX subscriptions_parent ON subscriptions (instance_id, parent_id);

-- +goose Down
DROP TABLE subscriptions;
