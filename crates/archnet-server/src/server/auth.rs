//! Who is calling: the bearer token, looked up by its hash, and a rate limit per token.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use crate::db::Account;
use crate::error::{Result, ServerError};
use archnet_api::types::Role;

/// Requests allowed per token.
pub type Limiter = Arc<DefaultKeyedRateLimiter<String>>;

pub fn limiter(per_second: u32, burst: u32) -> Limiter {
    let per_second = NonZeroU32::new(per_second.max(1)).expect("positive");
    let burst = NonZeroU32::new(burst.max(1)).expect("positive");
    Arc::new(RateLimiter::keyed(
        Quota::per_second(per_second).allow_burst(burst),
    ))
}

/// Accounts recently found by their token's hash. Every request authenticates, and at a
/// thousand polling nodes the look-up was a database round trip per poll (results/bench.md,
/// the marketplace at scale). Accounts never change and tokens are never revoked, so a hit is
/// always right; entries still expire after [`TokenCache::TTL`] so that a revocation added later
/// takes effect within it. Unknown tokens are not cached (a flood of made-up tokens cannot fill
/// it), and it is emptied when it reaches [`TokenCache::CAPACITY`].
#[derive(Clone, Default)]
pub struct TokenCache(Arc<Mutex<HashMap<String, (Account, Instant)>>>);

impl TokenCache {
    /// How long an entry is trusted.
    pub const TTL: Duration = Duration::from_secs(60);
    /// Entries kept at most.
    pub const CAPACITY: usize = 100_000;

    fn get(&self, hash: &str) -> Option<Account> {
        let cache = self.0.lock().ok()?;
        cache
            .get(hash)
            .filter(|(_, at)| at.elapsed() < Self::TTL)
            .map(|(account, _)| account.clone())
    }

    fn put(&self, hash: String, account: &Account) {
        if let Ok(mut cache) = self.0.lock() {
            if cache.len() >= Self::CAPACITY {
                cache.clear();
            }
            cache.insert(hash, (account.clone(), Instant::now()));
        }
    }
}

/// The authenticated caller of a request; extracting it answers 401 without a valid token and
/// 429 past the token's rate limit.
#[derive(Debug, Clone)]
pub struct Caller(pub Account);

impl Caller {
    /// Refuses callers of any other role.
    pub fn require(&self, role: Role) -> Result<&Account> {
        if self.0.role == role {
            Ok(&self.0)
        } else {
            Err(ServerError::Forbidden(format!(
                "this needs a {role} token; this one is a {}'s",
                self.0.role
            )))
        }
    }

    pub fn is_admin(&self) -> bool {
        self.0.role == Role::Admin
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ServerError::Unauthorized("no Authorization header".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ServerError::Unauthorized("expected `Authorization: Bearer TOKEN`".into())
            })?;
        let hash = crate::db::hash_token(token);
        let account = match state.tokens.get(&hash) {
            Some(account) => account,
            None => {
                let account = state
                    .db
                    .account_by_token_hash(&hash)
                    .await?
                    .ok_or_else(|| ServerError::Unauthorized("unknown token".into()))?;
                state.tokens.put(hash, &account);
                account
            }
        };
        if state.limiter.check_key(&account.id).is_err() {
            return Err(ServerError::RateLimited(format!(
                "more than {} requests per second from this token",
                state.config.rate_per_second
            )));
        }
        Ok(Caller(account))
    }
}
