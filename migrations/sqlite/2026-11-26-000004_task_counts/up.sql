-- Counts per outcome, kept on the task and updated in the same transaction as each batch, so the
-- task page and the task history read one row instead of counting a million outcome rows.
ALTER TABLE rejection_tasks ADD COLUMN outcome_counts TEXT NOT NULL DEFAULT '{}';
-- Cap units given back by this task (option 5).
ALTER TABLE rejection_tasks ADD COLUMN cap_units_released BIGINT NOT NULL DEFAULT 0;
UPDATE rejection_tasks SET outcome_counts = COALESCE((
    SELECT json_group_object(outcome, n) FROM (
        SELECT outcome, count(*) AS n FROM rejection_task_rows
        WHERE task_id = rejection_tasks.id GROUP BY outcome)), '{}');
-- Task history: a user's own tasks, newest first (per instance exists already).
CREATE INDEX rejection_tasks_user_created ON rejection_tasks (user_id, created_at);
