//! The web dashboard at `/`: server-rendered HTML (maud, which escapes every value it is given),
//! no script at all, and a Content-Security-Policy that forbids any. A person signs in with an
//! API token posted in a form body (never a URL); the server answers with a session id in an
//! HttpOnly, SameSite=Strict cookie and keeps only its hash. Pages by role: a publisher's tasks
//! (state, leaderboard, the §4.7 time budget as a timeline), a node's open tasks, leases,
//! submissions and balance, an admin's view of every task, the nodes seen lately, the validation
//! queue and the ledger's audit.

mod pages;

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use tower_http::set_header::SetResponseHeaderLayer;

use super::AppState;
use crate::db::Account;
use crate::error::{Result, ServerError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "archnet_session";

/// What the pages allow themselves: their own stylesheet and images, forms posted back here,
/// nothing else (no script from anywhere, inline or not; no framing).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's routes, with its security headers.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/session", post(sign_in))
        .route("/session/end", post(sign_out))
        .route("/dashboard/tasks/{id}", get(task_page))
        .route("/dashboard/tasks/{id}/audit.png", get(audit_picture))
        .route("/dashboard.css", get(stylesheet))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// The signed-in account of a request, if its cookie names a live session.
async fn viewer(state: &AppState, jar: &CookieJar) -> Result<Option<Account>> {
    match jar.get(SESSION_COOKIE) {
        Some(c) => state.db.session_account(c.value()).await,
        None => Ok(None),
    }
}

/// A page, or the error page (as HTML, with the error's status).
fn page(result: Result<maud::Markup>) -> Response {
    match result {
        Ok(markup) => markup.into_response(),
        Err(e) => {
            let status = e.status();
            let shown = if status.is_server_error() {
                tracing::error!("dashboard: {e}");
                "internal error (see the server log)".to_string()
            } else {
                e.to_string()
            };
            (status, pages::error_page(&shown)).into_response()
        }
    }
}

/// The signed-in account's page by role, or the sign-in form.
async fn home(State(state): State<AppState>, jar: CookieJar) -> Response {
    page(
        async {
            match viewer(&state, &jar).await? {
                Some(account) => pages::home(&state, &account).await,
                None => Ok(pages::sign_in(None)),
            }
        }
        .await,
    )
}

/// The sign-in form's body.
#[derive(serde::Deserialize)]
struct SignIn {
    token: String,
}

/// Checks the token and starts a session; the token itself goes no further than this request.
/// The cookie lasts until the browser closes; the server ends the session after
/// [`crate::db::SESSION_TTL_MS`] in any case.
async fn sign_in(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<SignIn>,
) -> Response {
    let account = match state.db.account_by_token(form.token.trim()).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return (
                StatusCode::UNAUTHORIZED,
                pages::sign_in(Some("unknown token")),
            )
                .into_response();
        }
        Err(e) => return page(Err(e)),
    };
    let id = match state.db.create_session(&account).await {
        Ok(id) => id,
        Err(e) => return page(Err(e)),
    };
    tracing::info!(account = %account.name, "dashboard sign-in");
    let cookie = Cookie::build((SESSION_COOKIE, id))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build();
    (jar.add(cookie), Redirect::to("/")).into_response()
}

/// Ends the session and clears the cookie.
async fn sign_out(State(state): State<AppState>, jar: CookieJar) -> Response {
    if let Some(c) = jar.get(SESSION_COOKIE)
        && let Err(e) = state.db.end_session(c.value()).await
    {
        return page(Err(e));
    }
    let gone = Cookie::build((SESSION_COOKIE, "")).path("/").build();
    (jar.remove(gone), Redirect::to("/")).into_response()
}

/// One task's page (its publisher or an admin).
async fn task_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    page(
        async {
            let account = viewer(&state, &jar)
                .await?
                .ok_or_else(|| ServerError::Unauthorized("sign in first".into()))?;
            pages::task(&state, &account, &id).await
        }
        .await,
    )
}

/// The picture of a task's leakage audit, when its publisher shared it: for the publisher and
/// admins only, like the task page.
async fn audit_picture(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let picture = async {
        let account = viewer(&state, &jar)
            .await?
            .ok_or_else(|| ServerError::Unauthorized("sign in first".into()))?;
        let task = super::tasks::owned_task(&state.db, &id, &account).await?;
        let upload = match state.db.task_audit(&task.id).await? {
            Some((_, Some(upload))) => state.db.upload(&upload).await?,
            _ => {
                return Err(ServerError::NotFound(format!(
                    "task {id} has no shared audit picture"
                )));
            }
        };
        state.store.read_all(&upload.id, upload.chunk_count()).await
    }
    .await;
    match picture {
        Ok(bytes) => ([(header::CONTENT_TYPE, "image/png")], bytes).into_response(),
        Err(e) => (e.status(), e.to_string()).into_response(),
    }
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("dashboard.css"),
    )
}
