-- +goose Up
-- An instance's tenants in id order (ListTenants, a page after a given id):
-- the periodic drift and health checks walk every tenant this way and the
-- operators' listing pages through them. With only (instance_id) indexed,
-- SQLite read every tenant of the instance and sorted them for each page
-- of 100 (0.3 s a page at 100k tenants, a walk quadratic in the tenants);
-- (instance_id, id) serves the page from the index in order. It also
-- serves everything the index on (instance_id) alone did (the foreign key,
-- CountTenants), which goes.
CREATE INDEX tenants_instance_id ON tenants (instance_id, id);
DROP INDEX tenants_instance;

-- +goose Down
CREATE INDEX tenants_instance ON tenants (instance_id);
DROP INDEX tenants_instance_id;
