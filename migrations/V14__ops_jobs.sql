-- Operations: jobs that survive outages and retention of jobs and events.

-- Start of a job's current run of failures (NULL while it has not failed,
-- or since it was requeued): a job gives up once it has been failing for
-- `job_give_up_hours`, however many attempts that took.
ALTER TABLE jobs ADD COLUMN failing_since INTEGER;

-- The retention prune deletes finished jobs by age.
CREATE INDEX jobs_finished ON jobs (status, finished_at);
