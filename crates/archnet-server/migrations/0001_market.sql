-- The marketplace's state. Written once for SQLite and PostgreSQL alike: only TEXT, BIGINT and
-- DOUBLE PRECISION columns, times in milliseconds since the Unix epoch, ids made by the server.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('publisher', 'node', 'admin')),
    -- sha256 of the API token; the token itself is shown once and never stored.
    token_hash TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);

-- Double-entry ledger. Wallets are `account:<id>`, `escrow:<task>` and `mint` (deposits come
-- from it, so it alone may go below zero). Every transaction moves an amount from one wallet to
-- another and writes two entries that sum to zero; its id names what it pays for
-- (`escrow:<task>`, `pay:<task>`, `refund:<task>`), so the same payment cannot happen twice.
CREATE TABLE wallets (
    id TEXT PRIMARY KEY,
    balance BIGINT NOT NULL,
    CHECK (balance >= 0 OR id = 'mint')
);

CREATE TABLE transactions (
    id TEXT PRIMARY KEY,
    from_wallet TEXT NOT NULL REFERENCES wallets (id),
    to_wallet TEXT NOT NULL REFERENCES wallets (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    memo TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE ledger_entries (
    tx_id TEXT NOT NULL REFERENCES transactions (id),
    wallet TEXT NOT NULL REFERENCES wallets (id),
    amount BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (tx_id, wallet)
);

-- A file upload in checksummed chunks; chunks live in the object store under
-- `uploads/<id>/<index>` and are never overwritten once accepted.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    chunk_size BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'complete')),
    created_ms BIGINT NOT NULL,
    first_chunk_ms BIGINT,
    completed_ms BIGINT
);

CREATE TABLE upload_chunks (
    upload_id TEXT NOT NULL REFERENCES uploads (id),
    idx BIGINT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (upload_id, idx)
);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    publisher TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'leased', 'validating', 'completed', 'failed')),
    fee BIGINT NOT NULL CHECK (fee > 0),
    min_accuracy DOUBLE PRECISION NOT NULL,
    max_attempts BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    deadline_ms BIGINT,
    min_cores BIGINT NOT NULL,
    min_memory_mb BIGINT NOT NULL,
    backend TEXT,
    key_id TEXT NOT NULL,
    sample_shape TEXT NOT NULL,
    class_names TEXT NOT NULL,
    train_samples BIGINT NOT NULL,
    validation_samples BIGINT NOT NULL,
    -- The current lease, when state = 'leased'.
    lease_id TEXT,
    accepted_submission TEXT,
    created_ms BIGINT NOT NULL,
    -- When the task last entered the queue, and the total time it has waited there (t4).
    queued_ms BIGINT,
    waited_ms BIGINT NOT NULL,
    completed_ms BIGINT,
    delivered_ms BIGINT,
    -- Time accounting of §4.7, in milliseconds (NULL until measured).
    t1_ms BIGINT,
    publish_upload_ms BIGINT,
    delivery_download_ms BIGINT,
    failure TEXT
);
CREATE INDEX tasks_by_state ON tasks (state, created_ms);
CREATE INDEX tasks_by_publisher ON tasks (publisher, created_ms);

-- Files of a task's two splits. `split` is 'train' (served to the leasing node) or
-- 'validation' (never served to anyone: the server alone reads it).
CREATE TABLE task_files (
    task_id TEXT NOT NULL REFERENCES tasks (id),
    split TEXT NOT NULL CHECK (split IN ('train', 'validation')),
    name TEXT NOT NULL,
    upload_id TEXT NOT NULL REFERENCES uploads (id),
    PRIMARY KEY (task_id, split, name)
);

CREATE TABLE leases (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    node TEXT NOT NULL REFERENCES accounts (id),
    state TEXT NOT NULL CHECK (state IN ('active', 'expired', 'submitted')),
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    ended_ms BIGINT,
    capabilities TEXT NOT NULL
);
CREATE INDEX leases_by_task ON leases (task_id, created_ms);
CREATE INDEX leases_by_state ON leases (state, expires_ms);

CREATE TABLE submissions (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    -- One submission per lease: a replayed or duplicated submission is refused here.
    lease_id TEXT NOT NULL UNIQUE REFERENCES leases (id),
    node TEXT NOT NULL REFERENCES accounts (id),
    upload_id TEXT NOT NULL REFERENCES uploads (id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'validating', 'accepted', 'rejected')),
    claimed_until_ms BIGINT,
    accuracy DOUBLE PRECISION,
    report TEXT,
    created_ms BIGINT NOT NULL,
    validated_ms BIGINT,
    validation_ms BIGINT,
    download_ms BIGINT NOT NULL,
    train_ms BIGINT NOT NULL,
    upload_ms BIGINT NOT NULL
);
CREATE INDEX submissions_by_state ON submissions (state, created_ms);

INSERT INTO wallets (id, balance) VALUES ('mint', 0);
