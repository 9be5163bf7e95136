-- Results stored compactly (engine/compact.rs): a part written from now on keeps its CSV
-- gzip-compressed in `packed` and an empty `body`; parts stored before keep their text in
-- `body` and no `packed`, and read back the same way.
ALTER TABLE rejection_task_results ADD COLUMN packed BLOB;
ALTER TABLE lead_import_chunks ADD COLUMN packed BLOB;
