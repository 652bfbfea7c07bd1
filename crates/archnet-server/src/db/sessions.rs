//! Browser sessions of the dashboard, and what the dashboard's pages read that the API does not:
//! one node's leases and submissions, the nodes seen lately, the validation queue.

use rand::RngCore;

use super::accounts::hash_token;
use super::tasks::{LEASE_COLUMNS, SUBMISSION_COLUMNS};
use super::{Account, Db, LeaseRow, SubmissionRow, now_ms};
use crate::error::Result;
use archnet_api::types::Capabilities;

/// How long a dashboard session lasts, ms (12 hours).
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

/// A node as the admin's page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSeen {
    /// The node's account name.
    pub name: String,
    /// Its last lease request or heartbeat (ms since the epoch).
    pub last_seen_ms: i64,
    /// What it advertised with its latest lease.
    pub capabilities: Option<Capabilities>,
    /// Leases it holds now.
    pub active_leases: usize,
}

impl Db {
    /// Starts a session for `account`; returns the session id for the browser's cookie (shown
    /// once, stored as its sha256).
    pub async fn create_session(&self, account: &Account) -> Result<String> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id = hex::encode(bytes);
        let now = now_ms();
        // Expired sessions go when new ones come.
        sqlx::query("DELETE FROM sessions WHERE expires_ms < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, account, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash_token(&id))
        .bind(&account.id)
        .bind(now)
        .bind(now + SESSION_TTL_MS)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// The account of a live session, if `id` is one.
    pub async fn session_account(&self, id: &str) -> Result<Option<Account>> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT a.id, a.name, a.role FROM sessions s JOIN accounts a ON a.id = s.account \
             WHERE s.id_hash = $1 AND s.expires_ms >= $2",
        )
        .bind(hash_token(id))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(Account::from_row).transpose()
    }

    /// Ends a session (signing out).
    pub async fn end_session(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(hash_token(id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every lease of one node, newest first.
    pub async fn node_leases(&self, node: &str) -> Result<Vec<LeaseRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {LEASE_COLUMNS} FROM leases WHERE node = $1 ORDER BY created_ms DESC"
        ))
        .bind(node)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every submission of one node, newest first.
    pub async fn node_submissions(&self, node: &str) -> Result<Vec<SubmissionRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE node = $1 ORDER BY created_ms DESC"
        ))
        .bind(node)
        .fetch_all(&self.pool)
        .await?)
    }

    /// What `node` advertised with its latest lease, if it ever leased.
    pub async fn last_capabilities(&self, node: &str) -> Result<Option<Capabilities>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT capabilities FROM leases WHERE node = $1 ORDER BY created_ms DESC LIMIT 1",
        )
        .bind(node)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(c,)| serde_json::from_str(&c).ok()))
    }

    /// Nodes that leased or sent a heartbeat since `since_ms`, most recent first.
    pub async fn nodes_seen(&self, since_ms: i64) -> Result<Vec<NodeSeen>> {
        let rows: Vec<(String, i64, Option<i64>, String, String)> = sqlx::query_as(
            "SELECT a.name, l.created_ms, l.heartbeat_ms, l.capabilities, l.state FROM leases l \
             JOIN accounts a ON a.id = l.node \
             WHERE l.created_ms >= $1 OR l.heartbeat_ms >= $1 ORDER BY l.created_ms",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut seen: Vec<NodeSeen> = Vec::new();
        for (name, created, heartbeat, capabilities, state) in rows {
            let last = heartbeat.unwrap_or(created).max(created);
            let capabilities = serde_json::from_str(&capabilities).ok();
            let active = usize::from(state == "active");
            match seen.iter_mut().find(|n| n.name == name) {
                Some(n) => {
                    n.last_seen_ms = n.last_seen_ms.max(last);
                    n.capabilities = capabilities;
                    n.active_leases += active;
                }
                None => seen.push(NodeSeen {
                    name,
                    last_seen_ms: last,
                    capabilities,
                    active_leases: active,
                }),
            }
        }
        seen.sort_by_key(|n| std::cmp::Reverse(n.last_seen_ms));
        Ok(seen)
    }

    /// Submissions waiting for or under validation, oldest first.
    pub async fn validation_queue(&self) -> Result<Vec<SubmissionRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE state IN ('pending', 'validating') ORDER BY created_ms"
        ))
        .fetch_all(&self.pool)
        .await?)
    }
}
