-- +goose Up
-- The latest drift report of the tenant and the state of its last repair
-- (storage.DriftState).
ALTER TABLE tenants ADD COLUMN drift TEXT NOT NULL DEFAULT '{}';
-- The last synchronization requested by the platform, run as a job
-- (storage.SyncRun): its progress and report for the re-sends.
ALTER TABLE tenants ADD COLUMN sync_run TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE tenants DROP COLUMN sync_run;
ALTER TABLE tenants DROP COLUMN drift;
