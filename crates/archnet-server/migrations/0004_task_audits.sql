-- The publish-time leakage audit of a task (issue 17), shown on its dashboard page: the numbers
-- as JSON (an AuditSummary of archnet-api), and the upload holding its picture when the
-- publisher chose to share it (it shows plain victim images, so it is never required).
CREATE TABLE task_audits (
    task_id TEXT PRIMARY KEY REFERENCES tasks (id),
    summary TEXT NOT NULL,
    picture_upload TEXT REFERENCES uploads (id)
);
