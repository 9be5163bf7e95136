DROP INDEX rejection_tasks_user_created;
ALTER TABLE rejection_tasks DROP COLUMN cap_units_released;
ALTER TABLE rejection_tasks DROP COLUMN outcome_counts;
