//! Accounts and API tokens.

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{Db, is_unique_violation, ledger, new_id, now_ms};
use crate::error::{Result, ServerError};
use archnet_api::types::{AccountInfo, CreatedAccount, Role};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// The account id.
    pub id: String,
    /// The account name.
    pub name: String,
    /// What the account may do.
    pub role: Role,
}

impl Account {
    /// An account from its `(id, name, role)` row; a role the code does not know is an internal
    /// error.
    pub(crate) fn from_row((id, name, role): (String, String, String)) -> Result<Account> {
        Ok(Account {
            id,
            name,
            role: role.parse().map_err(ServerError::Internal)?,
        })
    }
}

/// The stored form of a token: its sha256, hex. A leaked database yields no usable token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Account names become wallet ids and appear in logs: keep them plain.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ServerError::BadRequest(format!(
            "account name `{name}`: use 1-64 letters, digits, `-`, `_` or `.`"
        )))
    }
}

impl Db {
    /// Creates an account with a fresh token (returned once) and deposits `credit` credits.
    pub async fn create_account(
        &self,
        name: &str,
        role: Role,
        credit: i64,
    ) -> Result<CreatedAccount> {
        check_name(name)?;
        if credit < 0 {
            return Err(ServerError::BadRequest(
                "credit must not be negative".into(),
            ));
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = format!("archnet_{}", hex::encode(secret));
        let id = new_id("acct");
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, name, role, token_hash, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(name)
        .bind(role.as_str())
        .bind(hash_token(&token))
        .bind(now_ms())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(ServerError::Conflict(format!(
                    "an account named `{name}` exists"
                )));
            }
            other => other?,
        };
        let wallet = ledger::account_wallet(&id);
        ledger::open_wallet(&mut tx, &wallet).await?;
        if credit > 0 {
            ledger::transfer(
                &mut tx,
                &format!("deposit:{id}"),
                ledger::MINT,
                &wallet,
                credit,
                &format!("initial credit of {name}"),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(CreatedAccount {
            account: AccountInfo {
                id,
                name: name.to_string(),
                role,
                balance: credit,
            },
            token,
        })
    }

    /// The account a token belongs to, if any.
    pub async fn account_by_token(&self, token: &str) -> Result<Option<Account>> {
        self.account_by_token_hash(&hash_token(token)).await
    }

    /// The account whose token hashes to `hash` ([`hash_token`]).
    pub async fn account_by_token_hash(&self, hash: &str) -> Result<Option<Account>> {
        let row: Option<(String, String, String)> =
            sqlx::query_as("SELECT id, name, role FROM accounts WHERE token_hash = $1")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
        row.map(Account::from_row).transpose()
    }

    /// An account with its balance.
    pub async fn account_info(&self, id: &str) -> Result<AccountInfo> {
        let row: Option<(String, String, String)> =
            sqlx::query_as("SELECT id, name, role FROM accounts WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let (id, name, role) = row.ok_or_else(|| ServerError::NotFound(format!("account {id}")))?;
        let balance = self.balance(&ledger::account_wallet(&id)).await?;
        Ok(AccountInfo {
            id,
            name,
            role: role.parse().map_err(ServerError::Internal)?,
            balance,
        })
    }

    /// The name of an account (for listings).
    pub async fn account_name(&self, id: &str) -> Result<String> {
        let name: Option<(String,)> = sqlx::query_as("SELECT name FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(name.map(|(n,)| n).unwrap_or_else(|| id.to_string()))
    }
}
