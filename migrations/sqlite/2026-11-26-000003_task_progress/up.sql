-- What the rejection worker needs to resume a task exactly where it stopped.
ALTER TABLE rejection_tasks ADD COLUMN phase TEXT NOT NULL DEFAULT 'rows' CHECK (phase IN ('rows', 'rows_rest', 'remaining', 'done'));
-- Rows are applied in lead id order: the cursor is the last committed row's (lead id, line) —
-- lead id in cursor_offset — in phase 'rows' (rows naming a lead), or its line in phase
-- 'rows_rest' (rows naming none). remaining_cursor is the highest lead id handled by the
-- "move remaining leads to accepted" phase.
ALTER TABLE rejection_tasks ADD COLUMN cursor_line BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rejection_tasks ADD COLUMN remaining_cursor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rejection_tasks ADD COLUMN delimiter TEXT NOT NULL DEFAULT ',';
-- At most one running task per campaign, whichever worker claims it.
CREATE UNIQUE INDEX rejection_tasks_one_running ON rejection_tasks (campaign_id) WHERE status = 'running';
