-- job_group: the fairness group of a job (its APS instance); a claim
-- prefers the group with the fewest running jobs.

-- +goose Up
ALTER TABLE jobs ADD COLUMN job_group TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_group_state ON jobs (job_group, state);

-- +goose Down
DROP INDEX jobs_group_state;
ALTER TABLE jobs DROP COLUMN job_group;
