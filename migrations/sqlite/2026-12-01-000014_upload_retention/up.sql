-- Retention (docs/DOMAIN.md §6): an upload's file is deleted some time after every task and
-- lead import using it has ended; its row stays (tasks refer to it and show its name), marked
-- with when the file went.
ALTER TABLE uploads ADD COLUMN deleted_at TIMESTAMP NULL;
