ALTER TABLE uploads DROP COLUMN deleted_at;
