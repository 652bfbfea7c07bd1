//! The marketplace's state in SQL, through sqlx's `Any` driver: one set of queries and
//! migrations for SQLite (one file, zero set-up) and PostgreSQL (several server replicas sharing
//! one state). Every query is written with `$N` placeholders, which both engines read.
//!
//! Every state change is one SQL transaction, and every race (two nodes leasing one task, two
//! replicas validating one submission, a payment retried) is settled by a conditional `UPDATE`
//! or a primary key, never by a check-then-act in Rust.

mod accounts;
mod counts;
mod ledger;
mod sessions;
mod tasks;
mod uploads;

use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

pub use accounts::{Account, hash_token};
pub use counts::MarketCounts;
pub use ledger::{ESCROW_PREFIX, MINT, account_wallet, escrow_wallet};
pub use sessions::{NodeSeen, SESSION_TTL_MS};
pub use tasks::{
    ClaimedSubmission, LeaseRow, NewAudit, NewContest, NewTask, SubmissionRow, TaskRow,
    ValidationOutcome,
};
pub use uploads::{ChunkRow, UploadRow};

use crate::error::{Result, ServerError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Which engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (one server; the default).
    Sqlite,
    /// PostgreSQL (state shared between replicas).
    Postgres,
}

impl Backend {
    /// The engine's name, as logged and reported (`sqlite`, `postgres`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A connection pool to the marketplace database.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`), creating a SQLite file if needed,
    /// and applies the migrations.
    pub async fn connect(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(ServerError::BadRequest(format!(
                "database URL `{url}`: expected sqlite://PATH or postgres://…"
            )));
        };
        let options = match backend {
            // SQLite has one writer at a time anyway; one connection turns lock contention
            // (SQLITE_BUSY on a read transaction that wants to write) into a plain queue.
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(1)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // Write-ahead logging: a commit appends to the log and syncs it once,
                        // where the default rollback journal syncs several files per commit
                        // (`archnet bench market`, results/bench.md). `synchronous` stays FULL,
                        // so a committed lease or payment survives a power cut.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        Ok(())
                    })
                }),
            Backend::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let pool = options.connect(&url).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Db { pool, backend })
    }

    /// The SQLite URL of a database file inside `data_dir`.
    pub fn sqlite_url(data_dir: &std::path::Path) -> String {
        format!("sqlite://{}", data_dir.join("archnet.db").display())
    }

    /// The engine this database runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for queries of callers' own (tests, the load test's audits).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A fresh random id such as `task_3f9c…` (64 random bits, hex).
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// Whether an error is a unique or primary-key violation (a duplicate), on either engine.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
        }
        _ => false,
    }
}

/// Whether an error is a CHECK violation (a balance going below zero).
pub(crate) fn is_check_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(db.kind(), sqlx::error::ErrorKind::CheckViolation),
        _ => false,
    }
}

/// Drops (if present) and creates database `name` on the PostgreSQL server of `server_url`,
/// and returns its URL: a clean slate for tests and benchmarks. Refuses names that are not
/// plain identifiers.
pub async fn fresh_postgres_database(server_url: &str, name: &str) -> Result<String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ServerError::BadRequest(format!("database name `{name}`")));
    }
    sqlx::any::install_default_drivers();
    let mut url = url::Url::parse(server_url)
        .map_err(|e| ServerError::BadRequest(format!("database URL: {e}")))?;
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url.as_str())
        .await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&pool)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use archnet_api::states::{LeaseState, SubmissionState, TaskMode, TaskState, UploadState};

    /// Every migration, oldest first.
    const MIGRATIONS: &[&str] = &[
        include_str!("../../migrations/0001_market.sql"),
        include_str!("../../migrations/0002_contests.sql"),
        include_str!("../../migrations/0003_dashboard.sql"),
        include_str!("../../migrations/0004_task_audits.sql"),
    ];

    /// The words the latest migration defining `table` allows in its state column's CHECK.
    fn check_list(table: &str) -> Vec<String> {
        // 0002 rebuilds `submissions` as `submissions_v2`.
        let (sql, start) = MIGRATIONS
            .iter()
            .rev()
            .find_map(|sql| {
                [
                    format!("CREATE TABLE {table} ("),
                    format!("CREATE TABLE {table}_v2 ("),
                ]
                .iter()
                .find_map(|head| sql.find(head.as_str()))
                .map(|start| (sql, start))
            })
            .unwrap_or_else(|| panic!("table {table} in the migrations"));
        let body = &sql[start..];
        let check = body
            .find("state TEXT NOT NULL CHECK (state IN (")
            .unwrap_or_else(|| panic!("{table}.state has a CHECK list"));
        let list = &body[check..];
        let list = &list[list.find("IN (").unwrap() + 4..list.find("))").unwrap()];
        list.split(',')
            .map(|w| w.trim().trim_matches('\'').to_string())
            .collect()
    }

    fn words(all: &[impl std::fmt::Display]) -> Vec<String> {
        all.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_migration_is_listed_here() {
        let on_disk = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .count();
        assert_eq!(on_disk, MIGRATIONS.len());
    }

    #[test]
    fn enums_match_the_migrations_check_lists() {
        assert_eq!(words(UploadState::ALL), check_list("uploads"));
        assert_eq!(words(TaskState::ALL), check_list("tasks"));
        assert_eq!(words(LeaseState::ALL), check_list("leases"));
        assert_eq!(words(SubmissionState::ALL), check_list("submissions"));
        let mode = MIGRATIONS[1];
        let list = &mode[mode.find("CHECK (mode IN (").unwrap() + 16..];
        let list: Vec<String> = list[..list.find("))").unwrap()]
            .split(',')
            .map(|w| w.trim().trim_matches('\'').to_string())
            .collect();
        assert_eq!(words(TaskMode::ALL), list);
    }
}
