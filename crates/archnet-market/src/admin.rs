//! The administrator's side: making accounts, either straight in a server's database (to make
//! the first admin, before any token exists) or through a running server with an admin token.

use std::path::PathBuf;

use archnet_api::types::{CreateAccountRequest, CreatedAccount};
use archnet_server::db::Db;

use crate::client::Client;
use crate::error::{ClientError, Result};

/// Where a new account is written.
#[derive(Debug, Clone)]
pub enum AccountStore {
    /// Straight into a database (`sqlite://…` or `postgres://…`); `data_dir` is created first
    /// when the database is a server data folder's SQLite file.
    Database {
        /// The database URL.
        url: String,
        /// The server data folder the URL points into, if it does.
        data_dir: Option<PathBuf>,
    },
    /// Through a running server, as an admin.
    Server {
        /// The server's URL.
        url: String,
        /// An admin's token.
        token: String,
    },
}

impl AccountStore {
    /// The store `archnet admin create-account`'s flags name: a database URL (and the data folder
    /// it lies in), else a server data folder, else a running server at `server` (by default the
    /// local one) with an admin's `token`.
    pub fn from_flags(
        database: Option<String>,
        data_dir: Option<PathBuf>,
        server: Option<String>,
        token: Option<String>,
    ) -> Result<AccountStore> {
        Ok(match (database, data_dir) {
            (Some(url), data_dir) => AccountStore::Database { url, data_dir },
            (None, Some(dir)) => AccountStore::data_dir(dir),
            (None, None) => AccountStore::Server {
                url: server.unwrap_or_else(|| crate::DEFAULT_SERVER.into()),
                token: token.ok_or(ClientError::NoAdminToken)?,
            },
        })
    }

    /// The SQLite database of the server data folder `dir`.
    pub fn data_dir(dir: PathBuf) -> AccountStore {
        AccountStore::Database {
            url: Db::sqlite_url(&dir),
            data_dir: Some(dir),
        }
    }
}

/// Makes the account `request` names in `store`; the token in the answer is shown once.
pub async fn create_account(
    store: &AccountStore,
    request: &CreateAccountRequest,
) -> Result<CreatedAccount> {
    match store {
        AccountStore::Database { url, data_dir } => {
            if let Some(dir) = data_dir {
                std::fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
            }
            let db = Db::connect(url).await?;
            let created = db
                .create_account(&request.name, request.role, request.credit)
                .await;
            db.close().await;
            Ok(created?)
        }
        AccountStore::Server { url, token } => {
            Client::new(url, token)?.create_account(request).await
        }
    }
}
