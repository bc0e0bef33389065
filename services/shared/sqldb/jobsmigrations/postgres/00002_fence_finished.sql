-- fence: the fencing token, incremented by every claim.
-- finished_at: when a job became done or failed (retention).

-- +goose Up
ALTER TABLE jobs ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN finished_at BIGINT NOT NULL DEFAULT 0;
UPDATE jobs SET finished_at = updated_at WHERE state IN ('done', 'failed');
-- A claim skips jobs whose key has a running job.
CREATE INDEX jobs_key_state ON jobs (job_key, state);
CREATE INDEX jobs_finished ON jobs (state, finished_at);

-- +goose Down
DROP INDEX jobs_finished;
DROP INDEX jobs_key_state;
ALTER TABLE jobs DROP COLUMN finished_at;
ALTER TABLE jobs DROP COLUMN fence;
