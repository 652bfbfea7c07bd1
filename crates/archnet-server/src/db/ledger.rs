//! The double-entry ledger: wallets, transactions and their entries.

use sqlx::{Any, Transaction};

use super::{Db, is_check_violation, is_unique_violation, now_ms};
use crate::error::{Result, ServerError};
use archnet_api::types::LedgerEntry;

/// The wallet deposits come from; the only one allowed below zero.
pub const MINT: &str = "mint";
/// Prefix of the wallet holding a task's fee until it is paid or refunded.
pub const ESCROW_PREFIX: &str = "escrow:";

/// The wallet of an account.
pub fn account_wallet(account_id: &str) -> String {
    format!("account:{account_id}")
}

/// The escrow wallet of a task.
pub fn escrow_wallet(task_id: &str) -> String {
    format!("{ESCROW_PREFIX}{task_id}")
}

pub(crate) async fn open_wallet(tx: &mut Transaction<'_, Any>, wallet: &str) -> Result<()> {
    sqlx::query("INSERT INTO wallets (id, balance) VALUES ($1, 0) ON CONFLICT (id) DO NOTHING")
        .bind(wallet)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Moves `amount` from `from` to `to` as transaction `tx_id`, inside the caller's SQL
/// transaction. A `tx_id` already used is a [`ServerError::Conflict`] (the payment happened
/// before); a balance that would go below zero is [`ServerError::PaymentRequired`].
pub(crate) async fn transfer(
    tx: &mut Transaction<'_, Any>,
    tx_id: &str,
    from: &str,
    to: &str,
    amount: i64,
    memo: &str,
) -> Result<()> {
    if amount <= 0 {
        return Err(ServerError::BadRequest(format!(
            "transfer of {amount}: amounts are positive"
        )));
    }
    let now = now_ms();
    open_wallet(tx, to).await?;
    let recorded = sqlx::query(
        "INSERT INTO transactions (id, from_wallet, to_wallet, amount, memo, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tx_id)
    .bind(from)
    .bind(to)
    .bind(amount)
    .bind(memo)
    .bind(now)
    .execute(&mut **tx)
    .await;
    match recorded {
        Err(e) if is_unique_violation(&e) => {
            return Err(ServerError::Conflict(format!(
                "transaction {tx_id} was already made"
            )));
        }
        other => other?,
    };
    let debited = sqlx::query("UPDATE wallets SET balance = balance - $1 WHERE id = $2")
        .bind(amount)
        .bind(from)
        .execute(&mut **tx)
        .await;
    match debited {
        Err(e) if is_check_violation(&e) => {
            return Err(ServerError::PaymentRequired(format!(
                "{from} holds less than {amount} credits"
            )));
        }
        Ok(r) if r.rows_affected() != 1 => {
            return Err(ServerError::Internal(format!("no wallet {from}")));
        }
        other => {
            other?;
        }
    }
    sqlx::query("UPDATE wallets SET balance = balance + $1 WHERE id = $2")
        .bind(amount)
        .bind(to)
        .execute(&mut **tx)
        .await?;
    for (wallet, signed) in [(from, -amount), (to, amount)] {
        sqlx::query(
            "INSERT INTO ledger_entries (tx_id, wallet, amount, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(tx_id)
        .bind(wallet)
        .bind(signed)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Db {
    /// A wallet's balance (0 for a wallet never used).
    pub async fn balance(&self, wallet: &str) -> Result<i64> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT balance FROM wallets WHERE id = $1")
            .bind(wallet)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(b,)| b).unwrap_or(0))
    }

    /// Entries of `wallet` (all wallets when `None`), oldest first.
    pub async fn ledger(&self, wallet: Option<&str>) -> Result<Vec<LedgerEntry>> {
        let sql = "SELECT e.tx_id, e.wallet, e.amount, t.memo, e.created_ms FROM ledger_entries e \
                   JOIN transactions t ON t.id = e.tx_id";
        let rows: Vec<(String, String, i64, String, i64)> = match wallet {
            Some(w) => {
                sqlx::query_as(&format!(
                    "{sql} WHERE e.wallet = $1 ORDER BY e.created_ms, e.tx_id"
                ))
                .bind(w)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(&format!("{sql} ORDER BY e.created_ms, e.tx_id, e.wallet"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(tx_id, wallet, amount, memo, created_ms)| LedgerEntry {
                tx_id,
                wallet,
                amount,
                memo,
                created_ms,
            })
            .collect())
    }

    /// Checks the ledger's invariants: every transaction's entries sum to zero, and every
    /// wallet's balance equals the sum of its entries. Returns the problems found.
    pub async fn audit_ledger(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let unbalanced: Vec<(String, i64)> = sqlx::query_as(
            "SELECT tx_id, CAST(SUM(amount) AS BIGINT) FROM ledger_entries GROUP BY tx_id HAVING SUM(amount) <> 0",
        )
        .fetch_all(&self.pool)
        .await?;
        for (tx, sum) in unbalanced {
            problems.push(format!("transaction {tx} sums to {sum}"));
        }
        let drift: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT w.id, w.balance, CAST(COALESCE((SELECT SUM(e.amount) FROM ledger_entries e WHERE e.wallet = w.id), 0) AS BIGINT) \
             FROM wallets w",
        )
        .fetch_all(&self.pool)
        .await?;
        for (wallet, balance, sum) in drift {
            if balance != sum {
                problems.push(format!(
                    "wallet {wallet} holds {balance} but its entries sum to {sum}"
                ));
            }
        }
        Ok(problems)
    }
}
