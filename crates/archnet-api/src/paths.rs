//! Every path of the HTTP API, in one place: the clients build their requests from these, and
//! a test in `archnet-market` checks each against the OpenAPI document the server serves.

/// Liveness and the database engine (no token).
pub const HEALTH: &str = "/healthz";
/// The OpenAPI document.
pub const OPENAPI: &str = "/openapi.json";
/// The caller's account.
pub const ME: &str = "/api/v1/me";
/// New accounts (admin).
pub const ACCOUNTS: &str = "/api/v1/accounts";
/// The caller's balance.
pub const BALANCE: &str = "/api/v1/balance";
/// Resumable uploads.
pub const UPLOADS: &str = "/api/v1/uploads";
/// Tasks: open one (publisher), list them.
pub const TASKS: &str = "/api/v1/tasks";
/// Ask for a lease (node).
pub const LEASES: &str = "/api/v1/leases";

/// The ledger: the caller's own wallet, or (admin) one wallet or `all`.
pub fn ledger(wallet: Option<&str>) -> String {
    match wallet {
        Some(w) => format!("/api/v1/ledger?wallet={w}"),
        None => "/api/v1/ledger".into(),
    }
}

/// One upload's status.
pub fn upload(id: &str) -> String {
    format!("{UPLOADS}/{id}")
}

/// One chunk of an upload.
pub fn upload_chunk(id: &str, index: u64) -> String {
    format!("{UPLOADS}/{id}/chunks/{index}")
}

/// Closes an upload once every chunk arrived.
pub fn upload_complete(id: &str) -> String {
    format!("{UPLOADS}/{id}/complete")
}

/// One task.
pub fn task(id: &str) -> String {
    format!("{TASKS}/{id}")
}

/// A completed task's accepted model (publisher).
pub fn task_model(id: &str) -> String {
    format!("{TASKS}/{id}/model")
}

/// The publisher's report of how long the model's download took.
pub fn task_delivery(id: &str) -> String {
    format!("{TASKS}/{id}/delivery")
}

/// A task's submissions, ranked (a contest's leaderboard).
pub fn task_leaderboard(id: &str) -> String {
    format!("{TASKS}/{id}/leaderboard")
}

/// Keeps a lease alive.
pub fn lease_heartbeat(id: &str) -> String {
    format!("{LEASES}/{id}/heartbeat")
}

/// The files a lease may download.
pub fn lease_files(id: &str) -> String {
    format!("{LEASES}/{id}/files")
}

/// One chunk of one of a lease's files.
pub fn lease_file_chunk(id: &str, name: &str, index: u64) -> String {
    format!("{LEASES}/{id}/files/{name}/chunks/{index}")
}

/// Hand in a model (POST), or see how its validation went (GET).
pub fn lease_submission(id: &str) -> String {
    format!("{LEASES}/{id}/submission")
}

/// Every path template, as the OpenAPI document writes it (`{id}` for a parameter).
pub fn templates() -> Vec<String> {
    let id = "{id}";
    vec![
        HEALTH.into(),
        ME.into(),
        ACCOUNTS.into(),
        BALANCE.into(),
        ledger(None),
        UPLOADS.into(),
        upload(id),
        upload_chunk(id, 0).replace("/0", "/{index}"),
        upload_complete(id),
        TASKS.into(),
        task(id),
        task_model(id),
        task_delivery(id),
        task_leaderboard(id),
        LEASES.into(),
        lease_heartbeat(id),
        lease_files(id),
        lease_file_chunk(id, "{name}", 0).replace("/0", "/{index}"),
        lease_submission(id),
    ]
}
