-- Bulk lead imports (docs/DOMAIN.md §10): one CSV of existing leads for one campaign and
-- supplier, run in batches by the background worker. Each batch commits its leads, its rows'
-- results and the cursor (byte offset and line of the next row) together, so a stopped import
-- resumes where its last batch ended and no row is imported twice.
CREATE TABLE lead_imports (
    id INTEGER PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    supplier_id BIGINT NOT NULL REFERENCES suppliers (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    -- one upload starts one import (a repeated start returns it)
    upload_id BIGINT NOT NULL UNIQUE REFERENCES uploads (id),
    -- JSON: [[column index, field id], ...]
    field_columns TEXT NOT NULL,
    received_at_column BIGINT,
    status_column BIGINT,
    reason_column BIGINT,
    apply_caps BOOLEAN NOT NULL,
    delimiter TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    failure_reason TEXT,
    rows_total BIGINT,
    rows_done BIGINT NOT NULL DEFAULT 0,
    leads_created BIGINT NOT NULL DEFAULT 0,
    rows_refused BIGINT NOT NULL DEFAULT 0,
    cursor_offset BIGINT NOT NULL,
    cursor_line BIGINT NOT NULL,
    chunks BIGINT NOT NULL DEFAULT 0,
    claimed_by TEXT,
    heartbeat_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP
);
CREATE INDEX lead_imports_status ON lead_imports (status, created_at);
CREATE INDEX lead_imports_instance ON lead_imports (instance_id, created_at);

-- One batch's results-CSV records, in file order.
CREATE TABLE lead_import_chunks (
    import_id BIGINT NOT NULL REFERENCES lead_imports (id),
    chunk BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (import_id, chunk)
);
