-- Undoing a rejection task (docs/DOMAIN.md §8). An undo is a rejection task of its own that
-- names the task it undoes (once: the unique index); what it restores is kept with each change
-- the original made: the reason the lead had before (`from_reason`), whether the change gave
-- the lead's cap units back (`released_cap`), and which task rejected an affiliate event.
ALTER TABLE rejection_tasks ADD COLUMN undo_of BIGINT NULL REFERENCES rejection_tasks (id);
-- One undo per task (a failed undo does not count: the task may be undone again).
CREATE UNIQUE INDEX rejection_tasks_undo_of ON rejection_tasks (undo_of) WHERE undo_of IS NOT NULL AND status <> 'failed';
-- Tasks queued from now on record what an undo needs; older ones (ids below this) cannot be
-- undone.
CREATE TABLE undo_horizon (first_task_id BIGINT NOT NULL PRIMARY KEY);
INSERT INTO undo_horizon (first_task_id) SELECT COALESCE(MAX(id), 0) + 1 FROM rejection_tasks;
ALTER TABLE lead_status_history ADD COLUMN from_reason TEXT NULL;
ALTER TABLE lead_status_history ADD COLUMN released_cap BOOLEAN NOT NULL DEFAULT FALSE;
-- A task's changes, lead by lead (what an undo walks).
CREATE INDEX lead_status_history_task ON lead_status_history (task_id, lead_id) WHERE task_id IS NOT NULL;
ALTER TABLE affiliate_events ADD COLUMN rejected_by_task BIGINT NULL;
CREATE INDEX affiliate_events_rejected_by ON affiliate_events (rejected_by_task, lead_id) WHERE rejected_by_task IS NOT NULL;
