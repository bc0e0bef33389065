-- The PostgreSQL schema of the tenant service. Types mirror the SQLite
-- migrations (times are Unix milliseconds in BIGINT, booleans 0/1 in
-- INTEGER, JSON as TEXT) so that one set of queries serves both.
--
-- PostgreSQL support arrived after sqlite/00003_lifecycle.sql, so no old
-- data exists here: the tenants table starts in its final shape (the op
-- document and sync_lease_until instead of the operation columns) and
-- 00003 has nothing to do. The goose versions stay aligned across dialects.

-- +goose Up
CREATE TABLE instances (
  instance_id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  controller_uri TEXT NOT NULL,
  controller_cert_pem TEXT NOT NULL,
  instance_cert_pem TEXT NOT NULL,
  instance_key_sealed TEXT NOT NULL,
  cloud TEXT NOT NULL,
  partner_tenant_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  client_secret_sealed TEXT NOT NULL,
  refresh_token_sealed TEXT NOT NULL,
  reseller_mode TEXT NOT NULL,
  indirect_reseller_mpn TEXT NOT NULL,
  sales_countries TEXT NOT NULL,
  test_partner INTEGER NOT NULL,
  default_usage_location TEXT NOT NULL,
  package_version TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  instance_id TEXT NOT NULL REFERENCES instances (instance_id),
  initial_subdomain TEXT NOT NULL,
  domain TEXT NOT NULL,
  ms_customer_id TEXT NOT NULL,
  linked INTEGER NOT NULL,
  company TEXT NOT NULL,
  address TEXT NOT NULL,
  mca TEXT NOT NULL,
  account_id TEXT NOT NULL,
  admin_login TEXT NOT NULL,
  state TEXT NOT NULL,
  mca_attested INTEGER NOT NULL,
  last_sync BIGINT,
  seats INTEGER NOT NULL,
  version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  -- The operation state (lifecycle.Op) as one JSON document.
  op TEXT NOT NULL DEFAULT '{}',
  -- A synchronization holds the tenant until then (one at a time per tenant).
  sync_lease_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tenants_instance ON tenants (instance_id);

-- +goose Down
DROP TABLE tenants;
DROP TABLE instances;
