-- Lead-status webhooks (docs/DOMAIN.md §12). An instance's owner staff register endpoints; every
-- lead status change writes one event row per matching endpoint in the transaction that makes
-- the change (the outbox), and every server's delivery worker sends the due ones, recording
-- each attempt.
CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- Filters, comma-separated with a leading and a trailing comma (",client_rejected,"), so one
    -- LIKE matches in SQL; '' = any.
    statuses TEXT NOT NULL,
    campaign_ids TEXT NOT NULL DEFAULT '',
    supplier_ids TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    -- Why it was disabled when the server did it (410 Gone); NULL when staff did.
    disabled_reason TEXT,
    -- "whsec_" + base64 of the key; after a rotation the old one signs too until it expires.
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_instance ON webhook_endpoints (instance_id, enabled);

-- One event per (change, endpoint). Its data is read from the history row when it is sent, so
-- a resend carries the same body; webhook-id is "msg_" + the event id.
CREATE TABLE webhook_events (
    id INTEGER PRIMARY KEY,
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints (id),
    history_id BIGINT NOT NULL REFERENCES lead_status_history (id),
    lead_id BIGINT NOT NULL REFERENCES leads (id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    -- Due time; a worker that claims the event pushes it past the request's timeout (its lease).
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_by TEXT,
    last_status_code INTEGER,
    last_latency_ms INTEGER,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
-- Each endpoint's due events, for its delivery loop.
CREATE INDEX webhook_events_due ON webhook_events (endpoint_id, next_attempt_at, id) WHERE state = 'pending';
-- Events of one lead go out in order: a later one waits while an earlier one is pending.
CREATE INDEX webhook_events_lead ON webhook_events (endpoint_id, lead_id, id);
CREATE INDEX webhook_events_endpoint ON webhook_events (endpoint_id, id);
CREATE INDEX webhook_events_of_lead ON webhook_events (lead_id);

CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY,
    event_id BIGINT NOT NULL REFERENCES webhook_events (id),
    attempted_at TIMESTAMP NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, id);
