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
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
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
  admin_password_sealed TEXT NOT NULL,
  state TEXT NOT NULL,
  operation TEXT NOT NULL,
  operation_state TEXT NOT NULL,
  failure_reason TEXT NOT NULL,
  failure_message TEXT NOT NULL,
  create_request_id TEXT NOT NULL,
  create_sent INTEGER NOT NULL,
  mca_request_id TEXT NOT NULL,
  mca_attested INTEGER NOT NULL,
  profile_revision INTEGER NOT NULL,
  profile_synced INTEGER NOT NULL,
  last_sync INTEGER,
  seats INTEGER NOT NULL,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX tenants_instance ON tenants (instance_id);


-- +goose Down
DROP TABLE tenants;
DROP TABLE instances;
