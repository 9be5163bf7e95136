-- "Preview outcomes" (rejections) and the lead import's preview run as background jobs: the
-- request queues one here and the page polls it. A user has at most one unfinished preview (a
-- new one cancels the old); every server's preview workers claim queued ones, write progress
-- (rows read) every chunk with a heartbeat, and store the result or the error. Finished jobs are
-- deleted after an hour by the periodic clean-up.
CREATE TABLE preview_jobs (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('rejection', 'lead_import')),
    -- JSON: what to preview (the upload and the form)
    request TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    rows_read BIGINT NOT NULL DEFAULT 0,
    rows_total BIGINT,
    -- JSON: the preview, once done
    result TEXT,
    -- JSON: {"field": ..., "message": ...}, once failed
    error TEXT,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    claimed_by TEXT,
    heartbeat_at TIMESTAMP
);
CREATE INDEX preview_jobs_status ON preview_jobs (status, created_at);
CREATE INDEX preview_jobs_user ON preview_jobs (user_id, status);
-- One unfinished preview per user, whatever the race between two starts.
CREATE UNIQUE INDEX preview_jobs_one_unfinished ON preview_jobs (user_id) WHERE status IN ('queued', 'running');
