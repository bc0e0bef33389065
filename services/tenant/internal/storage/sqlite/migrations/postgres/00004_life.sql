-- +goose Up
-- Settings added by package 1.1 (register_adopted, gdap_roles) as one JSON
-- document, and the credential health the periodic check writes.
ALTER TABLE instances ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE instances ADD COLUMN health TEXT NOT NULL DEFAULT '{}';
-- The partner's delegated admin relationship with the customer (gdap.Relationship).
ALTER TABLE tenants ADD COLUMN gdap TEXT NOT NULL DEFAULT '{}';
-- The import lists the partner's customers that no tenant manages.
CREATE INDEX tenants_by_customer ON tenants (instance_id, ms_customer_id);

-- +goose Down
DROP INDEX tenants_by_customer;
ALTER TABLE tenants DROP COLUMN gdap;
ALTER TABLE instances DROP COLUMN health;
ALTER TABLE instances DROP COLUMN settings;
