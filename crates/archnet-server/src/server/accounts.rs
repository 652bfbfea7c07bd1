//! Accounts, balances, the ledger and the health check.

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;

use super::AppState;
use super::auth::Caller;
use super::body::ApiJson;
use crate::db::account_wallet;
use crate::error::{Result, ServerError};
use archnet_api::ErrorBody;
use archnet_api::types::{
    AccountInfo, Balance, CreateAccountRequest, CreatedAccount, Health, LedgerEntry, Role,
};

/// The account routes (under `/api/v1`): who am I, new accounts, balance, ledger.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/accounts", post(create))
        .route("/balance", get(balance))
        .route("/ledger", get(ledger))
}

/// Liveness and the database engine; needs no token.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>> {
    sqlx::query("SELECT 1").execute(state.db.pool()).await?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: state.db.backend().as_str().into(),
    }))
}

/// The caller's account and balance.
#[utoipa::path(get, path = "/api/v1/me", security(("token" = [])),
    responses((status = 200, body = AccountInfo), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<AccountInfo>> {
    Ok(Json(state.db.account_info(&caller.0.id).await?))
}

/// Creates an account (admin only); the answer holds its token, shown this once.
#[utoipa::path(post, path = "/api/v1/accounts", security(("token" = [])), request_body = CreateAccountRequest,
    responses((status = 201, body = CreatedAccount), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateAccountRequest>,
) -> Result<(StatusCode, Json<CreatedAccount>)> {
    caller.require(Role::Admin)?;
    let created = state
        .db
        .create_account(&req.name, req.role, req.credit)
        .await?;
    tracing::info!(account = %created.account.id, name = %req.name, role = %req.role, "account created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// The caller's wallet balance.
#[utoipa::path(get, path = "/api/v1/balance", security(("token" = [])), responses((status = 200, body = Balance)))]
pub async fn balance(State(state): State<AppState>, caller: Caller) -> Result<Json<Balance>> {
    let wallet = account_wallet(&caller.0.id);
    Ok(Json(Balance {
        balance: state.db.balance(&wallet).await?,
        wallet,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LedgerQuery {
    /// Admin only: `all`, or one wallet id; others always see their own wallet.
    pub wallet: Option<String>,
}

/// Ledger entries of the caller's wallet (an admin may ask for any wallet or all).
#[utoipa::path(get, path = "/api/v1/ledger", security(("token" = [])), params(LedgerQuery),
    responses((status = 200, body = Vec<LedgerEntry>), (status = 403, body = ErrorBody)))]
pub async fn ledger(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<LedgerQuery>,
) -> Result<Json<Vec<LedgerEntry>>> {
    let own = account_wallet(&caller.0.id);
    let wallet = match q.wallet.as_deref() {
        None => Some(own),
        Some(w) if w == own => Some(own),
        Some(_) if !caller.is_admin() => {
            return Err(ServerError::Forbidden(
                "only an admin reads other wallets".into(),
            ));
        }
        Some("all") => None,
        Some(w) => Some(w.to_string()),
    };
    Ok(Json(state.db.ledger(wallet.as_deref()).await?))
}
