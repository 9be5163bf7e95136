-- Outcome rows are not rebuilt from the results (the down migration is for development only).
UPDATE rejection_tasks SET phase = 'rows' WHERE phase = 'results';
ALTER TABLE rejection_tasks DROP CONSTRAINT rejection_tasks_phase_check;
ALTER TABLE rejection_tasks ADD CONSTRAINT rejection_tasks_phase_check CHECK (phase IN ('rows', 'rows_rest', 'remaining', 'done'));
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
