//! What the marketplace holds, counted: the numbers behind `/metrics` that every replica reads
//! alike from the shared database.

use super::Db;
use crate::error::Result;

/// Rows of the marketplace, by kind and state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MarketCounts {
    /// Tasks by state.
    pub tasks: Vec<(String, i64)>,
    /// Leases by state (every lease ever granted is a row; expired ones stay `expired`).
    pub leases: Vec<(String, i64)>,
    /// Validated submissions by verdict (`accepted`, `rejected`, `scored`).
    pub validations: Vec<(String, i64)>,
    /// Fees paid to nodes (transactions `pay:<task>`).
    pub payments: i64,
    /// Fees refunded to publishers (transactions `refund:<task>`).
    pub refunds: i64,
}

impl Db {
    /// Counts tasks, leases, validations and payments.
    pub async fn counts(&self) -> Result<MarketCounts> {
        let by_state = |table: &str, filter: &str| {
            format!(
                "SELECT state, CAST(COUNT(*) AS BIGINT) FROM {table} {filter} GROUP BY state ORDER BY state"
            )
        };
        let tasks = sqlx::query_as(&by_state("tasks", ""))
            .fetch_all(&self.pool)
            .await?;
        let leases = sqlx::query_as(&by_state("leases", ""))
            .fetch_all(&self.pool)
            .await?;
        let validations =
            sqlx::query_as(&by_state("submissions", "WHERE validated_ms IS NOT NULL"))
                .fetch_all(&self.pool)
                .await?;
        let transactions = |prefix: &'static str| {
            sqlx::query_as::<_, (i64,)>(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM transactions WHERE id LIKE $1",
            )
            .bind(format!("{prefix}:%"))
            .fetch_one(&self.pool)
        };
        Ok(MarketCounts {
            tasks,
            leases,
            validations,
            payments: transactions("pay").await?.0,
            refunds: transactions("refund").await?.0,
        })
    }
}
