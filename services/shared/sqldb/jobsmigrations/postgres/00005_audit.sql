-- audit_log: the service's audit chain (package audit), append only: one
-- row per entry, seq 1, 2, 3, … Every column but mac is covered by the
-- entry's MAC (audit.Entry.Canonical); at is Unix microseconds and
-- ms_request_ids a space-separated list. Kept beside the job table because
-- every service has one.

-- +goose Up
CREATE TABLE audit_log (
  seq BIGINT PRIMARY KEY,
  at BIGINT NOT NULL,
  service TEXT NOT NULL,
  kind TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  caller TEXT NOT NULL,
  aps_identity_id TEXT NOT NULL,
  aps_actor_id TEXT NOT NULL,
  aps_account_hierarchy TEXT NOT NULL,
  aps_transaction_id TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  method TEXT NOT NULL,
  phase TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  code TEXT NOT NULL,
  reason TEXT NOT NULL,
  ms_request_ids TEXT NOT NULL,
  key_id TEXT NOT NULL,
  prev_mac TEXT NOT NULL,
  mac TEXT NOT NULL
);
CREATE INDEX audit_log_instance ON audit_log (instance_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- +goose Down
DROP TABLE audit_log;
