DROP INDEX rejection_tasks_one_running;
ALTER TABLE rejection_tasks DROP COLUMN delimiter;
ALTER TABLE rejection_tasks DROP COLUMN remaining_cursor;
ALTER TABLE rejection_tasks DROP COLUMN cursor_line;
ALTER TABLE rejection_tasks DROP COLUMN phase;
