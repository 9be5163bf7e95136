-- Per-row outcomes were one indexed row each, inserted in lead id order: random inserts into the
-- (task_id, row_number) index were a third of a large task's time. Now each batch writes its
-- rows as one chunk of results-CSV lines (committed with the batch), and when a task's rows are
-- done the chunks are merged once, in file order, into the results file's parts.
CREATE TABLE rejection_task_chunks (
    task_id BIGINT NOT NULL REFERENCES rejection_tasks (id),
    chunk BIGINT NOT NULL,
    -- results-CSV records (every field quoted, `\n` after each), sorted by row number
    body TEXT NOT NULL,
    PRIMARY KEY (task_id, chunk)
);
CREATE TABLE rejection_task_results (
    task_id BIGINT NOT NULL REFERENCES rejection_tasks (id),
    part BIGINT NOT NULL,
    -- the results CSV without its header, in file order, cut between records
    body TEXT NOT NULL,
    PRIMARY KEY (task_id, part)
);
-- The first 50 rows (file order) whose lead the task changed: JSON [[row, lead id, outcome], …].
ALTER TABLE rejection_tasks ADD COLUMN changed_rows TEXT NOT NULL DEFAULT '[]';

-- Existing outcome rows: a task still queued or running keeps them as a chunk (it resumes and
-- skips them); an ended task gets them as its results. Cells are quoted and made safe against
-- spreadsheet formulas as the results writer does.
CREATE TEMP TABLE legacy_lines AS
SELECT r.task_id, r.row_number, r.outcome, r.lead_id,
    '"' || r.row_number || '","'
    || replace(CASE WHEN left(r.identifier, 1) IN ('=', '+', '-', '@', E'\t', E'\r', E'\n') THEN '''' || r.identifier ELSE r.identifier END, '"', '""') || '","'
    || replace(CASE WHEN left(r.reason, 1) IN ('=', '+', '-', '@', E'\t', E'\r', E'\n') THEN '''' || r.reason ELSE r.reason END, '"', '""') || '","'
    || r.outcome || '","' || COALESCE(r.lead_id::text, '') || '","'
    || replace(CASE WHEN left(r.message, 1) IN ('=', '+', '-', '@', E'\t', E'\r', E'\n') THEN '''' || r.message ELSE r.message END, '"', '""') || '"'
    || E'\n' AS line
FROM rejection_task_rows r;
INSERT INTO rejection_task_chunks (task_id, chunk, body)
SELECT l.task_id, 0, string_agg(l.line, '' ORDER BY l.row_number) FROM legacy_lines l
JOIN rejection_tasks t ON t.id = l.task_id WHERE t.status IN ('queued', 'running') GROUP BY l.task_id;
INSERT INTO rejection_task_results (task_id, part, body)
SELECT l.task_id, 0, string_agg(l.line, '' ORDER BY l.row_number) FROM legacy_lines l
JOIN rejection_tasks t ON t.id = l.task_id WHERE t.status NOT IN ('queued', 'running') GROUP BY l.task_id;
UPDATE rejection_tasks SET changed_rows = COALESCE((
    SELECT json_agg(json_build_array(row_number, lead_id, outcome) ORDER BY row_number)::text FROM (
        SELECT row_number, lead_id, outcome FROM legacy_lines
        WHERE task_id = rejection_tasks.id AND outcome IN ('rejected', 'accepted_outside_window') AND lead_id IS NOT NULL
        ORDER BY row_number LIMIT 50) c), '[]');
DROP TABLE legacy_lines;
DROP TABLE rejection_task_rows;
-- The chunks are the task's cursor now: a resumed task skips the rows they hold.
ALTER TABLE rejection_tasks DROP COLUMN cursor_offset;
ALTER TABLE rejection_tasks DROP COLUMN cursor_line;
-- Phases: 'rows' (applying batches), 'results' (merging the chunks), 'remaining', 'done'.
UPDATE rejection_tasks SET phase = 'rows' WHERE phase = 'rows_rest';
ALTER TABLE rejection_tasks DROP CONSTRAINT rejection_tasks_phase_check;
ALTER TABLE rejection_tasks ADD CONSTRAINT rejection_tasks_phase_check CHECK (phase IN ('rows', 'results', 'remaining', 'done'));
