-- Setting up an instance (docs/DOMAIN.md §9): which campaigns each supplier may send to, the
-- campaign an audit row is about (its page shows its changes), unique instance names (the
-- command line names instances), and one-time passwords that must be changed at first log-in.
CREATE TABLE supplier_campaigns (
    supplier_id BIGINT NOT NULL REFERENCES suppliers (id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    PRIMARY KEY (supplier_id, campaign_id)
);
CREATE INDEX supplier_campaigns_campaign ON supplier_campaigns (campaign_id);
-- Suppliers already sending to a campaign keep doing so.
INSERT INTO supplier_campaigns (supplier_id, campaign_id)
SELECT DISTINCT supplier_id, campaign_id FROM leads;

ALTER TABLE audit_log ADD COLUMN campaign_id BIGINT REFERENCES campaigns (id);
CREATE INDEX audit_log_campaign ON audit_log (campaign_id, id);

CREATE UNIQUE INDEX instances_name ON instances (name);

ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
-- Bumped by every password change; a session signed in under an older version is ended.
ALTER TABLE users ADD COLUMN password_version BIGINT NOT NULL DEFAULT 0;

-- One cap per campaign, supplier (or none: the whole campaign) and period.
CREATE UNIQUE INDEX caps_one_per_period ON caps (campaign_id, COALESCE(supplier_id, 0), period);
