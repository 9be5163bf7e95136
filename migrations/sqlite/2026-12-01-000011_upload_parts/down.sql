ALTER TABLE uploads DROP COLUMN stored;
DROP TABLE upload_parts;
