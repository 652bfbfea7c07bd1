//! One typed method per call of the HTTP API, over [`Client`]'s generic verbs. The paths come
//! from [`archnet_api::paths`]; nothing else in the clients spells one.

use archnet_api::paths;
use archnet_api::types::{
    AccountInfo, Balance, CreateAccountRequest, CreateTaskRequest, CreatedAccount, DatasetListing,
    DeliveryReport, FileListing, HeartbeatResponse, Leaderboard, LeaseGrant, LeaseRequest,
    LedgerEntry, SubmissionInfo, SubmitRequest, TaskInfo,
};

use crate::client::Client;
use crate::error::Result;

impl Client {
    /// `GET /api/v1/me`: the caller's account.
    pub async fn me(&self) -> Result<AccountInfo> {
        self.get(paths::ME).await
    }

    /// `GET /api/v1/balance`: the caller's balance.
    pub async fn balance(&self) -> Result<Balance> {
        self.get(paths::BALANCE).await
    }

    /// `GET /api/v1/ledger`: the caller's entries, or (admin) one wallet's or `all`.
    pub async fn ledger(&self, wallet: Option<&str>) -> Result<Vec<LedgerEntry>> {
        self.get(&paths::ledger(wallet)).await
    }

    /// `POST /api/v1/accounts` (admin): a new account and its token, shown once.
    pub async fn create_account(&self, request: &CreateAccountRequest) -> Result<CreatedAccount> {
        self.post(paths::ACCOUNTS, request).await
    }

    /// `POST /api/v1/tasks` (publisher): opens a task over completed uploads, escrowing its fee.
    pub async fn create_task(&self, request: &CreateTaskRequest) -> Result<TaskInfo> {
        self.post(paths::TASKS, request).await
    }

    /// `GET /api/v1/tasks`: the tasks the caller may see.
    pub async fn tasks(&self) -> Result<Vec<TaskInfo>> {
        self.get(paths::TASKS).await
    }

    /// `GET /api/v1/tasks/{id}`: one task with its leases, submissions and timing.
    pub async fn task(&self, id: &str) -> Result<TaskInfo> {
        self.get(&paths::task(id)).await
    }

    /// `GET /api/v1/tasks/{id}/leaderboard`: the task's submissions, ranked.
    pub async fn leaderboard(&self, id: &str) -> Result<Leaderboard> {
        self.get(&paths::task_leaderboard(id)).await
    }

    /// `GET /api/v1/tasks/{id}/model` (publisher): the accepted model's bytes.
    pub async fn task_model(&self, id: &str) -> Result<bytes::Bytes> {
        self.get_bytes(&paths::task_model(id)).await
    }

    /// `POST /api/v1/tasks/{id}/delivery` (publisher): how long the model's download took.
    pub async fn report_delivery(&self, id: &str, report: &DeliveryReport) -> Result<()> {
        self.post_empty(&paths::task_delivery(id), report).await
    }

    /// `POST /api/v1/leases` (node): a lease on a task this node can run, or `None` for now.
    pub async fn lease(&self, request: &LeaseRequest) -> Result<Option<LeaseGrant>> {
        self.post_maybe(paths::LEASES, request).await
    }

    /// `POST /api/v1/leases/{id}/heartbeat` (node): keeps the lease alive.
    pub async fn heartbeat(&self, lease: &str) -> Result<HeartbeatResponse> {
        self.post(&paths::lease_heartbeat(lease), &()).await
    }

    /// `GET /api/v1/leases/{id}/files` (node): the training split's files and their chunks.
    pub async fn lease_files(&self, lease: &str) -> Result<DatasetListing> {
        self.get(&paths::lease_files(lease)).await
    }

    /// `GET /api/v1/leases/{id}/files/{name}/chunks/{index}` (node), chunk by chunk: one file
    /// of the leased training split into `dir`, resumed and checked ([`Client::download_file`]).
    pub async fn download_lease_file(
        &self,
        lease: &str,
        file: &FileListing,
        dir: &std::path::Path,
    ) -> Result<()> {
        let chunk_path = |i: u64| paths::lease_file_chunk(lease, &file.name, i);
        self.download_file(file, dir, &chunk_path, &mut |_| {})
            .await
    }

    /// `POST /api/v1/leases/{id}/submission` (node): hands in an uploaded model.
    pub async fn submit(&self, lease: &str, request: &SubmitRequest) -> Result<SubmissionInfo> {
        self.post(&paths::lease_submission(lease), request).await
    }

    /// `GET /api/v1/leases/{id}/submission` (node): the handed-in model's validation so far.
    pub async fn submission(&self, lease: &str) -> Result<SubmissionInfo> {
        self.get(&paths::lease_submission(lease)).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The clients' paths and the server's OpenAPI document name the same endpoints.
    #[test]
    fn every_client_path_is_in_the_servers_openapi_document() {
        let doc: serde_json::Value =
            serde_json::from_str(&archnet_server::server::openapi::document()).unwrap();
        let served: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
        let ours: BTreeSet<String> = archnet_api::paths::templates().into_iter().collect();
        assert_eq!(ours, served);
    }
}
