-- +goose Up
CREATE TABLE domains (
  id TEXT PRIMARY KEY,
  instance_id TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  data TEXT NOT NULL,
  state TEXT NOT NULL,
  version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX domains_parent ON domains (instance_id, parent_id);

-- +goose Down
DROP TABLE domains;
