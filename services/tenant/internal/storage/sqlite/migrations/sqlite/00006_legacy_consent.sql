-- +goose Up
-- Tenants provisioned before package 1.1 had the application's consent
-- granted at provisioning, before it was recorded in gdap.consented.
UPDATE tenants SET gdap = '{"consented":true}' WHERE gdap = '{}' AND state = 'active';

-- +goose Down
UPDATE tenants SET gdap = '{}' WHERE gdap = '{"consented":true}';
