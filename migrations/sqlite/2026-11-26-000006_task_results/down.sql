-- Outcome rows are not rebuilt from the results (the down migration is for development only).
UPDATE rejection_tasks SET phase = 'rows' WHERE phase = 'results';
ALTER TABLE rejection_tasks ADD COLUMN task_phase TEXT NOT NULL DEFAULT 'rows' CHECK (task_phase IN ('rows', 'rows_rest', 'remaining', 'done'));
UPDATE rejection_tasks SET task_phase = phase;
ALTER TABLE rejection_tasks DROP COLUMN phase;
ALTER TABLE rejection_tasks RENAME COLUMN task_phase TO phase;
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
ALTER TABLE rejection_tasks DROP COLUMN changed_rows;
ALTER TABLE rejection_tasks ADD COLUMN cursor_offset BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rejection_tasks ADD COLUMN cursor_line BIGINT NOT NULL DEFAULT 0;
DROP TABLE rejection_task_results;
DROP TABLE rejection_task_chunks;
