-- A job (rejection task, lead import) whose run ends in an error is tried again; the same
-- error `max_failures` times in a row fails it (docs/DOMAIN.md §6). One row per job that has
-- failed at least once: its count of identical failures in a row and the last error.
CREATE TABLE job_failures (
    job TEXT NOT NULL,
    job_id BIGINT NOT NULL,
    failures INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    PRIMARY KEY (job, job_id)
);
