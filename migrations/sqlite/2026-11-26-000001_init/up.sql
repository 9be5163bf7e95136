-- Sendback schema, SQLite dialect. Keep in step with migrations/postgres and app/src/db/schema.rs.
-- Timestamps are UTC (TEXT 'YYYY-MM-DD HH:MM:SS[.ffffff]'), money in pence.

CREATE TABLE instances (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE clients (
    id INTEGER PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    name TEXT NOT NULL,
    UNIQUE (instance_id, name)
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    client_id BIGINT REFERENCES clients (id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner_staff', 'client_user')),
    created_at TIMESTAMP NOT NULL,
    CHECK ((role = 'owner_staff' AND client_id IS NULL) OR (role = 'client_user' AND client_id IS NOT NULL))
);
CREATE INDEX users_instance ON users (instance_id);

CREATE TABLE user_permissions (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission TEXT NOT NULL CHECK (permission IN ('reject_leads')),
    granted_by BIGINT REFERENCES users (id),
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, permission)
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    actor_user_id BIGINT REFERENCES users (id),
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_log_instance ON audit_log (instance_id, created_at);

CREATE TABLE suppliers (
    id INTEGER PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    name TEXT NOT NULL,
    UNIQUE (instance_id, name)
);

CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    client_id BIGINT NOT NULL REFERENCES clients (id),
    name TEXT NOT NULL,
    max_rejection_days INTEGER CHECK (max_rejection_days IS NULL OR max_rejection_days > 0),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (instance_id, name)
);
CREATE INDEX campaigns_client ON campaigns (client_id);

CREATE TABLE campaign_fields (
    id INTEGER PRIMARY KEY,
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    field_key TEXT NOT NULL,
    label TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('email', 'phone', 'text')),
    dedupe BOOLEAN NOT NULL DEFAULT FALSE,
    position INTEGER NOT NULL DEFAULT 0,
    UNIQUE (campaign_id, field_key)
);

CREATE TABLE caps (
    id INTEGER PRIMARY KEY,
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    supplier_id BIGINT REFERENCES suppliers (id),
    period TEXT NOT NULL CHECK (period IN ('day', 'week', 'month', 'total')),
    cap_limit BIGINT NOT NULL CHECK (cap_limit >= 0)
);
CREATE INDEX caps_campaign ON caps (campaign_id);

-- One row per cap and period (period_start is the first day of the period; 1970-01-01 for 'total').
CREATE TABLE cap_usage (
    cap_id BIGINT NOT NULL REFERENCES caps (id),
    period_start DATE NOT NULL,
    used BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (cap_id, period_start)
);

CREATE TABLE leads (
    id INTEGER PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    supplier_id BIGINT NOT NULL REFERENCES suppliers (id),
    uid TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('received', 'pending', 'flagged', 'rejected', 'quarantine', 'accepted', 'client_rejected', 'sale')),
    status_reason TEXT,
    -- true once the lead's cap unit has been given back (it is never given back twice)
    cap_released BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (instance_id, uid)
);
CREATE INDEX leads_campaign_received ON leads (campaign_id, received_at);

-- Field values; `normalized` is what identifier matching compares (lower-cased email, UK phone digits, trimmed text).
CREATE TABLE lead_values (
    lead_id BIGINT NOT NULL REFERENCES leads (id),
    field_id BIGINT NOT NULL REFERENCES campaign_fields (id),
    value TEXT NOT NULL,
    normalized TEXT NOT NULL,
    PRIMARY KEY (lead_id, field_id)
);
CREATE INDEX lead_values_lookup ON lead_values (field_id, normalized);

CREATE TABLE affiliate_events (
    id INTEGER PRIMARY KEY,
    lead_id BIGINT NOT NULL REFERENCES leads (id),
    kind TEXT NOT NULL CHECK (kind IN ('click', 'conversion', 'custom')),
    name TEXT NOT NULL,
    cost_pence BIGINT NOT NULL DEFAULT 0,
    revenue_pence BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('approved', 'rejected')),
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX affiliate_events_lead ON affiliate_events (lead_id);

CREATE TABLE uploads (
    id INTEGER PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    original_name TEXT NOT NULL,
    storage_key TEXT NOT NULL UNIQUE,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE rejection_tasks (
    id INTEGER PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    upload_id BIGINT NOT NULL REFERENCES uploads (id),
    request_key TEXT UNIQUE,
    identifier_mode TEXT NOT NULL CHECK (identifier_mode IN ('lead_id', 'uid', 'field')),
    identifier_field_id BIGINT REFERENCES campaign_fields (id),
    identifier_column TEXT NOT NULL,
    reason_column TEXT NOT NULL,
    reject_from DATE,
    move_outside_to_accepted BOOLEAN NOT NULL DEFAULT FALSE,
    reject_affiliate_events BOOLEAN NOT NULL DEFAULT FALSE,
    move_remaining_to_accepted BOOLEAN NOT NULL DEFAULT FALSE,
    count_towards_cap BOOLEAN NOT NULL DEFAULT FALSE,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    failure_reason TEXT,
    rows_total BIGINT,
    rows_done BIGINT NOT NULL DEFAULT 0,
    cursor_offset BIGINT NOT NULL DEFAULT 0,
    remaining_accepted BIGINT NOT NULL DEFAULT 0,
    claimed_by TEXT,
    heartbeat_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    CHECK ((identifier_mode = 'field') = (identifier_field_id IS NOT NULL))
);
CREATE INDEX rejection_tasks_status ON rejection_tasks (status, created_at);
CREATE INDEX rejection_tasks_instance ON rejection_tasks (instance_id, created_at);

CREATE TABLE rejection_task_rows (
    task_id BIGINT NOT NULL REFERENCES rejection_tasks (id),
    row_number BIGINT NOT NULL,
    identifier TEXT NOT NULL,
    reason TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('rejected', 'already_rejected', 'outside_window', 'accepted_outside_window', 'not_delivered', 'not_found', 'ambiguous', 'duplicate_in_file', 'invalid')),
    lead_id BIGINT,
    message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (task_id, row_number)
);

CREATE TABLE lead_status_history (
    id INTEGER PRIMARY KEY,
    lead_id BIGINT NOT NULL REFERENCES leads (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    reason TEXT,
    source TEXT NOT NULL CHECK (source IN ('intake', 'supplier', 'rejection_task', 'user')),
    actor_user_id BIGINT REFERENCES users (id),
    task_id BIGINT REFERENCES rejection_tasks (id),
    changed_at TIMESTAMP NOT NULL
);
CREATE INDEX lead_status_history_lead ON lead_status_history (lead_id, changed_at);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    expiry_date TIMESTAMP NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry_date);
