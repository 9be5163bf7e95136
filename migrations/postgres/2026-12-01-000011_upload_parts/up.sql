-- Uploaded files are kept in the database (docs/DOMAIN.md §6), so every server can run every
-- task; a server's upload directory is only its cache. A file is stored in parts of 1 MiB, in
-- file order from part 0.
CREATE TABLE upload_parts (
    upload_id BIGINT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    part BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (upload_id, part)
);
-- An upload is usable once all its parts are stored: new uploads are inserted with FALSE and set
-- TRUE after their last part. Uploads of earlier versions have no parts and stay usable from the
-- directory of the server that received them.
ALTER TABLE uploads ADD COLUMN stored BOOLEAN NOT NULL DEFAULT TRUE;
