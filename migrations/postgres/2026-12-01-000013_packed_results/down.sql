-- SQL cannot uncompress: parts stored compressed lose their records (their `body` is empty).
ALTER TABLE lead_import_chunks DROP COLUMN packed;
ALTER TABLE rejection_task_results DROP COLUMN packed;
