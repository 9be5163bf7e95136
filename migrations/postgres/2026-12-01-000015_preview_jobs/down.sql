DROP TABLE preview_jobs;
