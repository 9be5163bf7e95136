DROP INDEX affiliate_events_rejected_by;
ALTER TABLE affiliate_events DROP COLUMN rejected_by_task;
DROP INDEX lead_status_history_task;
ALTER TABLE lead_status_history DROP COLUMN released_cap;
ALTER TABLE lead_status_history DROP COLUMN from_reason;
DROP INDEX rejection_tasks_undo_of;
DROP TABLE undo_horizon;
ALTER TABLE rejection_tasks DROP COLUMN undo_of;
