DROP INDEX rejection_tasks_user_created;
DROP INDEX rejection_tasks_instance_created;
ALTER TABLE rejection_tasks DROP COLUMN cap_units_released;
ALTER TABLE rejection_tasks DROP COLUMN outcome_counts;
