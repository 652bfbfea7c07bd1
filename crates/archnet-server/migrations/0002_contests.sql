-- Contests (issue 17): a task that up to `max_nodes` nodes lease at the same time until its
-- deadline, whose validation split is cut into a public part (scored on the leaderboard at once)
-- and a private part (scored at once, shown and decisive only at the deadline). Written once for
-- SQLite and PostgreSQL alike, like 0001.

-- `first` tasks keep 0001's meaning: one lease at a time, the first model over the bar is paid.
ALTER TABLE tasks ADD COLUMN mode TEXT NOT NULL DEFAULT 'first' CHECK (mode IN ('first', 'contest'));
ALTER TABLE tasks ADD COLUMN max_nodes BIGINT NOT NULL DEFAULT 1;
-- Submissions one node may make to a contest.
ALTER TABLE tasks ADD COLUMN submission_limit BIGINT;
-- A contest's active leases; the conditional UPDATE that raises it is the lock on its slots.
ALTER TABLE tasks ADD COLUMN active_leases BIGINT NOT NULL DEFAULT 0 CHECK (active_leases >= 0);
-- The public/private cut, fixed at creation: validation samples ranked by a keyed hash of their
-- index under this seed, the first `public_samples` of them public. The seed never leaves the
-- server.
ALTER TABLE tasks ADD COLUMN holdout_seed BIGINT;
ALTER TABLE tasks ADD COLUMN public_samples BIGINT;
-- When the contest was settled (paid or refunded); set once, by one replica, with the payment.
ALTER TABLE tasks ADD COLUMN settled_ms BIGINT;

-- A node holds at most one active lease on a task (a contest's slots are per node).
CREATE UNIQUE INDEX leases_one_active_per_node ON leases (task_id, node) WHERE state = 'active';

-- Submissions gain the contest's state `scored` (validated, waiting for the deadline), the two
-- parts' accuracies and the final rank. SQLite cannot alter a CHECK constraint, so the table is
-- rebuilt (nothing references it by foreign key).
CREATE TABLE submissions_v2 (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    -- One submission per lease: a replayed or duplicated submission is refused here.
    lease_id TEXT NOT NULL UNIQUE REFERENCES leases (id),
    node TEXT NOT NULL REFERENCES accounts (id),
    upload_id TEXT NOT NULL REFERENCES uploads (id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'validating', 'accepted', 'rejected', 'scored')),
    claimed_until_ms BIGINT,
    accuracy DOUBLE PRECISION,
    public_accuracy DOUBLE PRECISION,
    private_accuracy DOUBLE PRECISION,
    final_rank BIGINT,
    report TEXT,
    created_ms BIGINT NOT NULL,
    validated_ms BIGINT,
    validation_ms BIGINT,
    download_ms BIGINT NOT NULL,
    train_ms BIGINT NOT NULL,
    upload_ms BIGINT NOT NULL
);
INSERT INTO submissions_v2 (id, task_id, lease_id, node, upload_id, state, claimed_until_ms, accuracy,
    report, created_ms, validated_ms, validation_ms, download_ms, train_ms, upload_ms)
SELECT id, task_id, lease_id, node, upload_id, state, claimed_until_ms, accuracy,
    report, created_ms, validated_ms, validation_ms, download_ms, train_ms, upload_ms
FROM submissions;
DROP TABLE submissions;
ALTER TABLE submissions_v2 RENAME TO submissions;
CREATE INDEX submissions_by_state ON submissions (state, created_ms);
CREATE INDEX submissions_by_task ON submissions (task_id, created_ms);
