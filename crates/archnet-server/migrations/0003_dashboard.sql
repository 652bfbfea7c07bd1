-- The web dashboard (issue 17): browser sessions, and when each lease last heard from its node.

-- A signed-in browser. The session id lives only in the browser's HttpOnly cookie; the server
-- keeps its sha256, like a token's.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts (id),
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_ms);

ALTER TABLE leases ADD COLUMN heartbeat_ms BIGINT;
