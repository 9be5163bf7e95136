DROP INDEX caps_one_per_period;
ALTER TABLE users DROP COLUMN password_version;
ALTER TABLE users DROP COLUMN must_change_password;
DROP INDEX instances_name;
DROP INDEX audit_log_campaign;
ALTER TABLE audit_log DROP COLUMN campaign_id;
DROP TABLE supplier_campaigns;
