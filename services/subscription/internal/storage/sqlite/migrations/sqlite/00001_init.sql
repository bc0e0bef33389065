-- +goose Up
CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,
  instance_id TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  data TEXT NOT NULL,
  state TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX subscriptions_parent ON subscriptions (instance_id, parent_id);


-- +goose Down
DROP TABLE subscriptions;
