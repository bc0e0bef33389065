-- +goose Up
-- The operation state moves into one JSON document (lifecycle.Op): the
-- operation, its attempt, the keyed steps with their MS-RequestIds, the
-- desired and applied generations, and the sealed secret revealed once.
ALTER TABLE tenants ADD COLUMN op TEXT NOT NULL DEFAULT '{}';
-- A synchronization holds the tenant until then (one at a time per tenant).
ALTER TABLE tenants ADD COLUMN sync_lease_until INTEGER NOT NULL DEFAULT 0;
UPDATE tenants SET op = json_object(
  'name', operation,
  'state', operation_state,
  'attempt', 1,
  'failure_reason', failure_reason,
  'failure_message', failure_message,
  'steps', json_object('create', json_object('request_id', create_request_id,
    'state', CASE WHEN ms_customer_id <> '' THEN 'done' WHEN create_sent = 1 THEN 'sent' ELSE '' END)),
  'secret', admin_password_sealed);
ALTER TABLE tenants DROP COLUMN operation;
ALTER TABLE tenants DROP COLUMN operation_state;
ALTER TABLE tenants DROP COLUMN failure_reason;
ALTER TABLE tenants DROP COLUMN failure_message;
ALTER TABLE tenants DROP COLUMN create_request_id;
ALTER TABLE tenants DROP COLUMN create_sent;
ALTER TABLE tenants DROP COLUMN mca_request_id;
ALTER TABLE tenants DROP COLUMN profile_revision;
ALTER TABLE tenants DROP COLUMN profile_synced;
ALTER TABLE tenants DROP COLUMN admin_password_sealed;

-- +goose Down
ALTER TABLE tenants ADD COLUMN admin_password_sealed TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN profile_synced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN profile_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN mca_request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN create_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN create_request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN failure_message TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN failure_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN operation_state TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN operation TEXT NOT NULL DEFAULT '';
UPDATE tenants SET operation = COALESCE(json_extract(op, '$.name'), ''), operation_state = COALESCE(json_extract(op, '$.state'), ''),
  failure_reason = COALESCE(json_extract(op, '$.failure_reason'), ''), failure_message = COALESCE(json_extract(op, '$.failure_message'), ''),
  create_request_id = COALESCE(json_extract(op, '$.steps.create.request_id'), ''),
  create_sent = CASE WHEN json_extract(op, '$.steps.create.state') IN ('sent', 'done') THEN 1 ELSE 0 END,
  admin_password_sealed = COALESCE(json_extract(op, '$.secret'), '');
ALTER TABLE tenants DROP COLUMN op;
ALTER TABLE tenants DROP COLUMN sync_lease_until;
