//! The HTTP API's rules, each checked by a request that breaks one: authentication, roles and
//! ownership, validation data never served, plain names only, body and upload limits, replays,
//! corrupted chunks, rate limits, lease expiry, escrow and payment exactly once.

use std::path::Path;
use std::time::Duration;

use archnet_market::client::Client;
use archnet_market::db::Db;
use archnet_market::server::{self, AppState, CHUNK_SHA256_HEADER, LocalServer, ServerConfig};
use archnet_market::types::*;
use archnet_market::{publisher, testkit};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

struct Harness {
    url: String,
    db: Db,
    http: reqwest::Client,
    /// Dropping the harness stops the server.
    _server: LocalServer,
    _dir: tempfile::TempDir,
}

async fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig {
        data_dir: dir.path().join("server"),
        reaper_interval_ms: 100,
        ..ServerConfig::default()
    };
    tweak(&mut config);
    let state = AppState::open(config).await.unwrap();
    let db = state.db.clone();
    let server = LocalServer::start(state).await.unwrap();
    Harness {
        url: server.url.clone(),
        db,
        http: reqwest::Client::new(),
        _server: server,
        _dir: dir,
    }
}

impl Harness {
    async fn account(&self, name: &str, role: Role, credit: i64) -> String {
        self.db
            .create_account(name, role, credit)
            .await
            .unwrap()
            .token
    }

    fn client(&self, token: &str) -> Client {
        let mut c = Client::new(&self.url, token).unwrap();
        c.retry_for = Duration::from_secs(5);
        c
    }

    /// Publishes a tiny task as `token`; returns its id.
    async fn publish(
        &self,
        token: &str,
        work: &Path,
        fee: i64,
        bar: f64,
        attempts: u32,
    ) -> TaskInfo {
        self.publish_with(token, work, 20, |o| {
            o.fee = fee;
            o.min_accuracy = bar;
            o.max_attempts = Some(attempts);
        })
        .await
    }

    /// Publishes a tiny task of `validation` validation samples as `token`, with the options
    /// `tweak` sets.
    async fn publish_with(
        &self,
        token: &str,
        work: &Path,
        validation: usize,
        tweak: impl FnOnce(&mut publisher::PublishOptions),
    ) -> TaskInfo {
        testkit::tiny_dataset(work, 40, validation).unwrap();
        let mut options = publisher::PublishOptions {
            key: "unused".into(),
            data: "unused".into(),
            limit: None,
            work_dir: work.to_path_buf(),
            name: "tiny".into(),
            fee: 10,
            min_accuracy: 0.5,
            deadline_s: None,
            max_attempts: None,
            requirements: Requirements::default(),
            storage: archnet_data::encrypted::Storage::F32,
            split: None,
            gate: Default::default(),
            contest: None,
            share_audit_picture: false,
        };
        tweak(&mut options);
        publisher::upload_and_open(&self.client(token), &options, &mut |_| {})
            .await
            .unwrap()
    }

    async fn status(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> StatusCode {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().status()
    }
}

fn caps() -> LeaseRequest {
    LeaseRequest {
        capabilities: Capabilities {
            cores: 2,
            memory_mb: 1024,
            backends: vec!["flex".into()],
        },
    }
}

/// Uploads the tiny model as `node` and hands it in under `lease`.
async fn submit(c: &Client, dir: &Path, lease: &str) -> archnet_market::Result<SubmissionInfo> {
    let model = dir.join("model.onnx");
    std::fs::write(&model, testkit::tiny_model().unwrap()).unwrap();
    let upload = c
        .upload_file(&model, "model.onnx", None, &mut |_| {})
        .await?;
    let req = SubmitRequest {
        upload_id: upload.id,
        download_ms: 1,
        train_ms: 1,
        upload_ms: 1,
    };
    c.post(&format!("/api/v1/leases/{lease}/submission"), &req)
        .await
}

async fn verdict(c: &Client, lease: &str) -> SubmissionInfo {
    for _ in 0..600 {
        let s: SubmissionInfo = c
            .get(&format!("/api/v1/leases/{lease}/submission"))
            .await
            .unwrap();
        if s.state == "accepted" || s.state == "rejected" {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no verdict");
}

fn status_of(e: archnet_market::ClientError) -> u16 {
    match e {
        archnet_market::ClientError::Remote { status, .. } => status,
        other => panic!("expected an error answer, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_roles_and_ownership_are_enforced() {
    let h = start(|_| {}).await;
    let publisher = h.account("pub", Role::Publisher, 100).await;
    let other_publisher = h.account("pub2", Role::Publisher, 100).await;
    let node = h.account("node", Role::Node, 0).await;
    let admin = h.account("admin", Role::Admin, 0).await;
    use reqwest::Method as M;

    assert_eq!(h.status(M::GET, "/healthz", None).await, StatusCode::OK);
    assert_eq!(
        h.status(M::GET, "/api/v1/me", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.status(M::GET, "/api/v1/me", Some("archnet_not-a-token"))
            .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.status(M::GET, "/api/v1/tasks", Some(&node)).await,
        StatusCode::FORBIDDEN
    );
    let lease = h
        .client(&publisher)
        .post::<_, LeaseGrant>("/api/v1/leases", &caps())
        .await;
    assert_eq!(
        status_of(lease.unwrap_err()),
        403,
        "a publisher cannot lease"
    );
    let req = CreateAccountRequest {
        name: "x".into(),
        role: Role::Admin,
        credit: 10,
    };
    let made = h
        .client(&publisher)
        .post::<_, CreatedAccount>("/api/v1/accounts", &req)
        .await;
    assert_eq!(
        status_of(made.unwrap_err()),
        403,
        "only admins create accounts"
    );
    let made: CreatedAccount = h
        .client(&admin)
        .post("/api/v1/accounts", &req)
        .await
        .unwrap();
    assert!(made.token.starts_with("archnet_"));
    let ledger = h
        .client(&publisher)
        .get::<Vec<LedgerEntry>>("/api/v1/ledger?wallet=all")
        .await;
    assert_eq!(status_of(ledger.unwrap_err()), 403);

    let dir = tempfile::tempdir().unwrap();
    let task = h.publish(&publisher, dir.path(), 10, 0.01, 3).await;
    // Another publisher cannot see it, or fetch its model.
    let seen = h
        .client(&other_publisher)
        .get::<TaskInfo>(&format!("/api/v1/tasks/{}", task.id))
        .await;
    assert_eq!(status_of(seen.unwrap_err()), 404);
    let listed: Vec<TaskInfo> = h
        .client(&other_publisher)
        .get("/api/v1/tasks")
        .await
        .unwrap();
    assert!(listed.is_empty());
    // A node cannot publish.
    let req = CreateTaskRequest {
        name: "n".into(),
        fee: 1,
        min_accuracy: 0.5,
        max_attempts: None,
        deadline_s: None,
        requirements: Requirements::default(),
        mode: TaskMode::First,
        max_nodes: None,
        submission_limit: None,
        train_files: vec![],
        validation_files: vec![],
        t1_ms: 0,
        upload_ms: 0,
        audit: None,
        audit_picture: None,
    };
    let opened = h
        .client(&node)
        .post::<_, TaskInfo>("/api/v1/tasks", &req)
        .await;
    assert_eq!(status_of(opened.unwrap_err()), 403);
    // A publisher cannot open a task over another publisher's uploads.
    let mut stolen = req.clone();
    stolen.train_files = vec![FileRef {
        name: "manifest.json".into(),
        upload_id: h.db.task_files(&task.id, "train").await.unwrap()[0]
            .upload_id
            .clone(),
    }];
    stolen.validation_files = stolen.train_files.clone();
    let opened = h
        .client(&other_publisher)
        .post::<_, TaskInfo>("/api/v1/tasks", &stolen)
        .await;
    assert_eq!(status_of(opened.unwrap_err()), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_never_get_validation_data_and_names_stay_plain() {
    let h = start(|_| {}).await;
    let publisher = h.account("pub", Role::Publisher, 100).await;
    let node = h.account("node", Role::Node, 0).await;
    let other_node = h.account("node2", Role::Node, 0).await;
    let dir = tempfile::tempdir().unwrap();
    h.publish(&publisher, dir.path(), 10, 0.01, 3).await;
    let c = h.client(&node);
    let grant: LeaseGrant = c.post("/api/v1/leases", &caps()).await.unwrap();
    let listing: DatasetListing = c
        .get(&format!("/api/v1/leases/{}/files", grant.lease_id))
        .await
        .unwrap();
    assert!(
        listing
            .files
            .iter()
            .all(|f| !f.name.starts_with("validation")),
        "{listing:?}"
    );
    assert!(listing.files.iter().any(|f| f.name == "manifest.json"));
    let manifest = c
        .get_bytes(&format!(
            "/api/v1/leases/{}/files/manifest.json/chunks/0",
            grant.lease_id
        ))
        .await
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        manifest["splits"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["train"]
    );

    let path = |name: &str| format!("/api/v1/leases/{}/files/{name}/chunks/0", grant.lease_id);
    let asked = c.get_bytes(&path("validation-00000.safetensors")).await;
    assert_eq!(
        status_of(asked.unwrap_err()),
        403,
        "validation data is refused"
    );
    let traversal = c.get_bytes(&path("..%2Fvalidation%2Fmanifest.json")).await;
    assert_eq!(
        status_of(traversal.unwrap_err()),
        400,
        "path traversal is refused"
    );
    // Another node cannot use this lease.
    let theirs = h
        .client(&other_node)
        .get::<DatasetListing>(&format!("/api/v1/leases/{}/files", grant.lease_id))
        .await;
    assert_eq!(status_of(theirs.unwrap_err()), 404);
    // Upload names must be plain.
    let req = CreateUploadRequest {
        name: "../../etc/passwd".into(),
        size: 1,
        sha256: "0".repeat(64),
        chunk_size: None,
    };
    let made = c.post::<_, UploadStatus>("/api/v1/uploads", &req).await;
    assert_eq!(status_of(made.unwrap_err()), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_and_corrupted_chunks_are_refused() {
    let h = start(|c| {
        c.max_chunk_bytes = 1 << 20;
        c.chunk_bytes = 1 << 20;
        c.max_model_bytes = 4 << 20;
    })
    .await;
    let node = h.account("node", Role::Node, 0).await;
    let c = h.client(&node);
    // A JSON body over 1 MiB.
    let huge = serde_json::json!({ "capabilities": { "cores": 1, "memory_mb": 1, "backends": vec!["x".repeat(1 << 16); 20] } });
    let resp = h
        .http
        .post(format!("{}/api/v1/leases", h.url))
        .bearer_auth(&node)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // An upload over the model limit is refused before any byte is sent.
    let req = CreateUploadRequest {
        name: "big.onnx".into(),
        size: 5 << 20,
        sha256: "0".repeat(64),
        chunk_size: None,
    };
    assert_eq!(
        status_of(
            c.post::<_, UploadStatus>("/api/v1/uploads", &req)
                .await
                .unwrap_err()
        ),
        413
    );
    // A chunk body over the chunk limit.
    let data = vec![7u8; (1 << 20) + 10];
    let sha = hex::encode(Sha256::digest(&data));
    let req = CreateUploadRequest {
        name: "m.onnx".into(),
        size: data.len() as u64,
        sha256: sha.clone(),
        chunk_size: None,
    };
    let upload: UploadStatus = c.post("/api/v1/uploads", &req).await.unwrap();
    let put = |index: u64, body: Vec<u8>, sha: String| {
        h.http
            .put(format!(
                "{}/api/v1/uploads/{}/chunks/{index}",
                h.url, upload.id
            ))
            .bearer_auth(&node)
            .header(CHUNK_SHA256_HEADER, sha)
            .body(body)
            .send()
    };
    let resp = put(0, vec![0u8; (1 << 20) + 4096], "0".repeat(64))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A corrupted chunk is refused and sent again.
    let first = data[..1 << 20].to_vec();
    let first_sha = hex::encode(Sha256::digest(&first));
    let mut corrupted = first.clone();
    corrupted[100] ^= 0xff;
    let resp = put(0, corrupted, first_sha.clone()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("corrupted"));
    let before: UploadStatus = c
        .get(&format!("/api/v1/uploads/{}", upload.id))
        .await
        .unwrap();
    assert!(
        before.received.is_empty(),
        "nothing of the corrupted chunk was kept"
    );
    assert_eq!(
        put(0, first.clone(), first_sha.clone())
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put(0, first, first_sha).await.unwrap().status(),
        StatusCode::NO_CONTENT,
        "a retry is accepted"
    );
    let last = data[1 << 20..].to_vec();
    let last_sha = hex::encode(Sha256::digest(&last));
    assert_eq!(
        put(1, last, last_sha).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let done: UploadStatus = c
        .post(&format!("/api/v1/uploads/{}/complete", upload.id), &())
        .await
        .unwrap();
    assert_eq!(done.state, "complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_submission_is_refused_and_pays_once() {
    let h = start(|_| {}).await;
    let publisher = h.account("pub", Role::Publisher, 25).await;
    let node = h.account("node", Role::Node, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let task = h.publish(&publisher, dir.path(), 10, 0.01, 3).await;
    let c = h.client(&node);
    let grant: LeaseGrant = c.post("/api/v1/leases", &caps()).await.unwrap();
    submit(&c, dir.path(), &grant.lease_id).await.unwrap();
    let replay = submit(&c, dir.path(), &grant.lease_id).await;
    assert_eq!(status_of(replay.unwrap_err()), 409);
    let v = verdict(&c, &grant.lease_id).await;
    assert_eq!(v.state, "accepted", "{v:?}");
    let replay = submit(&c, dir.path(), &grant.lease_id).await;
    assert_eq!(status_of(replay.unwrap_err()), 409);
    let balance: Balance = c.get("/api/v1/balance").await.unwrap();
    assert_eq!(balance.balance, 10);
    let pub_balance: Balance = h.client(&publisher).get("/api/v1/balance").await.unwrap();
    assert_eq!(pub_balance.balance, 15);
    let pays =
        h.db.ledger(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.tx_id == format!("pay:{}", task.id))
            .count();
    assert_eq!(pays, 2, "one payment, two entries");
    assert!(h.db.audit_ledger().await.unwrap().is_empty());
    // A fee the publisher cannot cover is refused.
    let dir2 = tempfile::tempdir().unwrap();
    testkit::tiny_dataset(dir2.path(), 40, 20).unwrap();
    let options = publisher::PublishOptions {
        key: "unused".into(),
        data: "unused".into(),
        limit: None,
        work_dir: dir2.path().to_path_buf(),
        name: "too dear".into(),
        fee: 16,
        min_accuracy: 0.5,
        deadline_s: None,
        max_attempts: None,
        requirements: Requirements::default(),
        storage: archnet_data::encrypted::Storage::F32,
        split: None,
        gate: Default::default(),
        contest: None,
        share_audit_picture: false,
    };
    let opened = publisher::upload_and_open(&h.client(&publisher), &options, &mut |_| {}).await;
    assert_eq!(status_of(opened.unwrap_err()), 402);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_leases_requeue_and_rejections_refund() {
    let h = start(|c| c.lease_ttl_s = 1).await;
    let publisher = h.account("pub", Role::Publisher, 10).await;
    let a = h.account("node-a", Role::Node, 0).await;
    let b = h.account("node-b", Role::Node, 0).await;
    let dir = tempfile::tempdir().unwrap();
    // A bar no untrained model reaches, and two attempts.
    let task = h.publish(&publisher, dir.path(), 10, 1.0, 2).await;
    let (ca, cb) = (h.client(&a), h.client(&b));
    let grant_a: LeaseGrant = ca.post("/api/v1/leases", &caps()).await.unwrap();
    assert!(
        cb.post_maybe::<_, LeaseGrant>("/api/v1/leases", &caps())
            .await
            .unwrap()
            .is_none(),
        "leased once at a time"
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let grant_b: LeaseGrant = cb.post("/api/v1/leases", &caps()).await.unwrap();
    assert_eq!(grant_b.task_id, task.id);
    let hb = ca
        .post::<_, HeartbeatResponse>(
            &format!("/api/v1/leases/{}/heartbeat", grant_a.lease_id),
            &(),
        )
        .await;
    assert_eq!(
        status_of(hb.unwrap_err()),
        409,
        "an expired lease cannot be renewed"
    );
    assert_eq!(
        status_of(
            submit(&ca, dir.path(), &grant_a.lease_id)
                .await
                .unwrap_err()
        ),
        409
    );
    submit(&cb, dir.path(), &grant_b.lease_id).await.unwrap();
    assert_eq!(verdict(&cb, &grant_b.lease_id).await.state, "rejected");
    let grant: LeaseGrant = cb.post("/api/v1/leases", &caps()).await.unwrap();
    submit(&cb, dir.path(), &grant.lease_id).await.unwrap();
    assert_eq!(verdict(&cb, &grant.lease_id).await.state, "rejected");
    let t: TaskInfo = h
        .client(&publisher)
        .get(&format!("/api/v1/tasks/{}", task.id))
        .await
        .unwrap();
    assert_eq!(t.state, "failed");
    let refunded: Balance = h.client(&publisher).get("/api/v1/balance").await.unwrap();
    assert_eq!(refunded.balance, 10, "the fee came back");
    assert!(h.db.overlapping_leases().await.unwrap().is_empty());
    assert!(h.db.audit_ledger().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_rate_limited() {
    let h = start(|c| {
        c.rate_per_second = 2;
        c.rate_burst = 3;
    })
    .await;
    let node = h.account("node", Role::Node, 0).await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(
            h.status(reqwest::Method::GET, "/api/v1/me", Some(&node))
                .await,
        );
    }
    assert!(codes.contains(&StatusCode::TOO_MANY_REQUESTS), "{codes:?}");
    assert_eq!(codes[0], StatusCode::OK);
}

#[test]
fn the_committed_openapi_document_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let current = server::openapi::document();
    if committed.trim() != current.trim() {
        if std::env::var_os("ARCHNET_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, current + "\n").unwrap();
            return;
        }
        panic!(
            "docs/openapi.json is out of date; regenerate it with ARCHNET_UPDATE_OPENAPI=1 cargo test -p archnet-market --test api"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_go_only_to_nodes_that_meet_their_requirements() {
    let h = start(|_| {}).await;
    let publisher = h.account("pub", Role::Publisher, 100).await;
    let small = h.account("small", Role::Node, 0).await;
    let big = h.account("big", Role::Node, 0).await;
    let dir = tempfile::tempdir().unwrap();
    testkit::tiny_dataset(dir.path(), 40, 20).unwrap();
    let options = publisher::PublishOptions {
        key: "unused".into(),
        data: "unused".into(),
        limit: None,
        work_dir: dir.path().to_path_buf(),
        name: "needs a big machine".into(),
        fee: 5,
        min_accuracy: 0.5,
        deadline_s: None,
        max_attempts: None,
        requirements: Requirements {
            min_cores: 64,
            min_memory_mb: 1 << 20,
            backend: Some("cuda".into()),
        },
        storage: archnet_data::encrypted::Storage::F32,
        split: None,
        gate: Default::default(),
        contest: None,
        share_audit_picture: false,
    };
    let task = publisher::upload_and_open(&h.client(&publisher), &options, &mut |_| {})
        .await
        .unwrap();
    let offer = |cores, memory_mb, backend: &str| LeaseRequest {
        capabilities: Capabilities {
            cores,
            memory_mb,
            backends: vec!["flex".into(), backend.into()],
        },
    };
    for (cores, memory, backend) in [
        (2, 1 << 21, "cuda"),
        (64, 1024, "cuda"),
        (64, 1 << 21, "wgpu"),
    ] {
        let got = h
            .client(&small)
            .post_maybe::<_, LeaseGrant>("/api/v1/leases", &offer(cores, memory, backend))
            .await
            .unwrap();
        assert!(
            got.is_none(),
            "{cores} cores, {memory} MiB, {backend} must not get the task"
        );
    }
    let got: Option<LeaseGrant> = h
        .client(&big)
        .post_maybe("/api/v1/leases", &offer(64, 1 << 21, "cuda"))
        .await
        .unwrap();
    assert_eq!(got.unwrap().task_id, task.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_runs_its_own_trainer_program_and_gets_paid() {
    let h = start(|_| {}).await;
    let publisher = h.account("pub", Role::Publisher, 100).await;
    let node = h.account("node", Role::Node, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let task = h
        .publish(&publisher, &dir.path().join("pub"), 7, 0.01, 3)
        .await;
    // The node owner's secret training code: here a script that checks it got the encrypted
    // training split and writes a model.
    let model = dir.path().join("secret-model.onnx");
    std::fs::write(&model, testkit::tiny_model().unwrap()).unwrap();
    let script = dir.path().join("train.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nset -e\ngrep -q '\"train\"' \"$1/manifest.json\"\n! grep -q '\"validation\"' \"$1/manifest.json\"\ncp {} \"$2\"\n",
            model.display()
        ),
    )
    .unwrap();
    let options = archnet_market::node::NodeOptions {
        work_dir: dir.path().join("node"),
        capabilities: archnet_market::node::detect_capabilities(),
        trainer: archnet_market::node::Trainer::External(format!("sh {}", script.display())),
        once: true,
        poll: Duration::from_millis(100),
        max_idle: Some(Duration::from_secs(30)),
    };
    let outcomes = archnet_market::node::run(&h.client(&node), &options)
        .await
        .unwrap();
    let submission = outcomes[0].submission.clone().expect("handed in");
    assert_eq!(submission.state, "accepted", "{submission:?}");
    let t: TaskInfo = h
        .client(&publisher)
        .get(&format!("/api/v1/tasks/{}", task.id))
        .await
        .unwrap();
    assert_eq!(t.state, "completed");
    let paid: Balance = h.client(&node).get("/api/v1/balance").await.unwrap();
    assert_eq!(paid.balance, 7);
    // A trainer that fails is reported, not hidden.
    h.publish(&publisher, &dir.path().join("pub2"), 7, 0.01, 3)
        .await;
    let failing = archnet_market::node::NodeOptions {
        trainer: archnet_market::node::Trainer::External("false".into()),
        ..options
    };
    let err = archnet_market::node::run(&h.client(&node), &failing)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exited with"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_resumes_with_the_chunks_already_sent() {
    let h = start(|c| {
        c.chunk_bytes = 1 << 16;
    })
    .await;
    let node = h.account("node", Role::Node, 0).await;
    let c = h.client(&node);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.onnx");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let req = CreateUploadRequest {
        name: "model.onnx".into(),
        size: data.len() as u64,
        sha256: hex::encode(Sha256::digest(&data)),
        chunk_size: None,
    };
    let upload: UploadStatus = c.post("/api/v1/uploads", &req).await.unwrap();
    assert_eq!(upload.chunks, 4);
    // The first try sent one chunk and died.
    let first = &data[..1 << 16];
    let resp = h
        .http
        .put(format!("{}/api/v1/uploads/{}/chunks/0", h.url, upload.id))
        .bearer_auth(&node)
        .header(CHUNK_SHA256_HEADER, hex::encode(Sha256::digest(first)))
        .body(first.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let mut sent = 0;
    let done = c
        .upload_file(&file, "model.onnx", Some(&upload.id), &mut |n| sent += n)
        .await
        .unwrap();
    assert_eq!(
        (done.id.as_str(), done.state.as_str()),
        (upload.id.as_str(), "complete")
    );
    assert_eq!(done.received, vec![0, 1, 2, 3]);
    assert_eq!(sent, data.len() as u64);
}

/// Waits until `f` holds of the task's leaderboard as `c` sees it.
async fn board_until(c: &Client, task: &str, f: impl Fn(&Leaderboard) -> bool) -> Leaderboard {
    // A minute: the other tests of this file validate at the same time on two cores.
    for _ in 0..1200 {
        let board = c.leaderboard(task).await.unwrap();
        if f(&board) {
            return board;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the leaderboard of {task} never got there");
}

// Why one function: one contest's life from opening to settlement, each step checked where it
// happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contest_hides_private_scores_limits_submissions_and_pays_the_best_once() {
    let h = start(|_| {}).await;
    let publisher = h.account("pub", Role::Publisher, 30).await;
    let nodes = [
        h.account("node-a", Role::Node, 0).await,
        h.account("node-b", Role::Node, 0).await,
        h.account("node-c", Role::Node, 0).await,
    ];
    let clients: Vec<Client> = nodes.iter().map(|t| h.client(t)).collect();
    let dir = tempfile::tempdir().unwrap();
    // A contest needs a deadline; node limits are for contests only.
    let no_deadline = CreateTaskRequest {
        name: "c".into(),
        fee: 1,
        min_accuracy: 0.5,
        max_attempts: None,
        deadline_s: None,
        requirements: Requirements::default(),
        mode: TaskMode::Contest,
        max_nodes: None,
        submission_limit: None,
        train_files: vec![],
        validation_files: vec![],
        t1_ms: 0,
        upload_ms: 0,
        audit: None,
        audit_picture: None,
    };
    let refused = h.client(&publisher).create_task(&no_deadline).await;
    assert_eq!(status_of(refused.unwrap_err()), 400);
    let first_with_limit = CreateTaskRequest {
        mode: TaskMode::First,
        max_nodes: Some(2),
        ..no_deadline
    };
    let refused = h.client(&publisher).create_task(&first_with_limit).await;
    assert_eq!(status_of(refused.unwrap_err()), 400);

    // Two nodes at once, two submissions each, a bar every model that runs reaches. The
    // deadline is far off; the test moves it to now when it is ready (below), so that a slow
    // machine cannot make the contest close early.
    let deadline_s = 3600;
    let task = h
        .publish_with(&publisher, dir.path(), 200, |o| {
            o.min_accuracy = 0.01;
            o.deadline_s = Some(deadline_s);
            o.contest = Some(publisher::ContestOptions {
                max_nodes: Some(2),
                submission_limit: Some(2),
            });
        })
        .await;
    let contest = task.contest.clone().expect("a contest");
    assert_eq!(task.mode, TaskMode::Contest);
    assert_eq!((contest.max_nodes, contest.submission_limit), (2, 2));
    assert_eq!(contest.public_samples + contest.private_samples, 200);
    assert_eq!(contest.public_samples, 100);

    let grant_a: LeaseGrant = clients[0].post("/api/v1/leases", &caps()).await.unwrap();
    let grant_b: LeaseGrant = clients[1].post("/api/v1/leases", &caps()).await.unwrap();
    assert_eq!(grant_a.task_id, task.id);
    assert_eq!(grant_b.task_id, task.id);
    assert_eq!(grant_a.mode, TaskMode::Contest);
    assert_eq!(grant_a.submissions_left, Some(2));
    assert!(
        clients[2].lease(&caps()).await.unwrap().is_none(),
        "max_nodes = 2: a third node waits"
    );
    assert!(
        clients[0].lease(&caps()).await.unwrap().is_none(),
        "one lease per node at a time"
    );
    submit(&clients[0], dir.path(), &grant_a.lease_id)
        .await
        .unwrap();
    let grant_c: LeaseGrant = clients[2].post("/api/v1/leases", &caps()).await.unwrap();
    assert_eq!(grant_c.task_id, task.id, "A's slot went to C");
    submit(&clients[1], dir.path(), &grant_b.lease_id)
        .await
        .unwrap();
    submit(&clients[2], dir.path(), &grant_c.lease_id)
        .await
        .unwrap();
    let grant_a2: LeaseGrant = clients[0].post("/api/v1/leases", &caps()).await.unwrap();
    assert_eq!(grant_a2.submissions_left, Some(1));
    submit(&clients[0], dir.path(), &grant_a2.lease_id)
        .await
        .unwrap();
    assert!(
        clients[0].lease(&caps()).await.unwrap().is_none(),
        "A has used its two submissions"
    );

    // Before the deadline a node sees public scores only, on its submissions and the board.
    let seen = board_until(&clients[2], &task.id, |b| {
        b.entries.iter().all(|e| e.state == SubmissionState::Scored)
    })
    .await;
    assert_eq!(seen.entries.len(), 4);
    assert!(!seen.settled);
    for e in &seen.entries {
        assert!(
            e.public_accuracy.is_some() && e.private_accuracy.is_none(),
            "{e:?}"
        );
    }
    let mine: SubmissionInfo = clients[0]
        .get(&format!("/api/v1/leases/{}/submission", grant_a.lease_id))
        .await
        .unwrap();
    assert_eq!(mine.state, SubmissionState::Scored);
    assert!(mine.public_accuracy.is_some());
    assert_eq!(
        (mine.accuracy, mine.private_accuracy, mine.rank),
        (None, None, None)
    );
    let Some(ValidationReport::Ran(run)) = &mine.report else {
        panic!("{mine:?}");
    };
    assert_eq!(run.samples, 100, "the report covers the public part alone");
    assert_eq!(run.confusion.iter().flatten().sum::<usize>(), 100);
    assert_eq!(Some(run.accuracy), mine.public_accuracy);
    assert!(run.parts.as_ref().is_some_and(|p| p.private.is_none()));
    let raw = h
        .http
        .get(format!(
            "{}/api/v1/leases/{}/submission",
            h.url, grant_a.lease_id
        ))
        .bearer_auth(&nodes[0])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains("\"private_accuracy\":null"), "{raw}");
    assert!(raw.contains("\"private\":null"), "{raw}");
    // The publisher, who owns the data, sees both parts at once.
    let owner = h.client(&publisher).task(&task.id).await.unwrap();
    assert!(
        owner
            .submissions
            .iter()
            .all(|s| s.private_accuracy.is_some())
    );

    // After the deadline: no more submissions, one payment, to the best private score.
    let late: LeaseGrant = clients[1].post("/api/v1/leases", &caps()).await.unwrap();
    sqlx::query("UPDATE tasks SET deadline_ms = $1 WHERE id = $2")
        .bind(archnet_market::db::now_ms() - 1)
        .bind(&task.id)
        .execute(h.db.pool())
        .await
        .unwrap();
    let settled = board_until(&clients[1], &task.id, |b| b.settled).await;
    assert_eq!(
        status_of(
            submit(&clients[1], dir.path(), &late.lease_id)
                .await
                .unwrap_err()
        ),
        409,
        "the contest closed"
    );
    let t = h.client(&publisher).task(&task.id).await.unwrap();
    assert_eq!(t.state, TaskState::Completed, "{t}");
    let best = t
        .submissions
        .iter()
        .filter(|s| s.private_accuracy.is_some())
        .min_by(|a, b| {
            b.private_accuracy
                .partial_cmp(&a.private_accuracy)
                .unwrap()
                .then(a.created_ms.cmp(&b.created_ms))
        })
        .unwrap();
    assert_eq!(
        t.accepted_submission.as_deref(),
        Some(best.id.as_str()),
        "{t}"
    );
    assert_eq!(settled.entries[0].submission_id, best.id);
    assert_eq!(settled.entries[0].rank, Some(1));
    assert!(settled.entries.iter().all(|e| e.private_accuracy.is_some()));
    let ranks: Vec<u32> = settled.entries.iter().filter_map(|e| e.rank).collect();
    assert_eq!(ranks, vec![1, 2, 3, 4]);
    let pays: Vec<LedgerEntry> =
        h.db.ledger(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.tx_id == format!("pay:{}", task.id))
            .collect();
    assert_eq!(pays.len(), 2, "one payment, two entries: {pays:?}");
    let mut paid = 0;
    for c in &clients {
        paid += c.balance().await.unwrap().balance;
    }
    assert_eq!(paid, 10);
    let publisher_balance = h.client(&publisher).balance().await.unwrap().balance;
    assert_eq!(publisher_balance, 20);
    // Every node now sees its final rank and its private score.
    let mine: SubmissionInfo = clients[0]
        .get(&format!("/api/v1/leases/{}/submission", grant_a.lease_id))
        .await
        .unwrap();
    assert!(
        mine.rank.is_some() && mine.private_accuracy.is_some(),
        "{mine:?}"
    );
    assert!(h.db.overlapping_leases().await.unwrap().is_empty());
    assert!(h.db.audit_ledger().await.unwrap().is_empty());
    // Settling again pays nothing more.
    assert_eq!(h.db.settle_contests().await.unwrap(), 0);
}

/// Signs in to the dashboard with `token`; returns the session cookie (`name=value`).
async fn sign_in(h: &Harness, http: &reqwest::Client, token: &str) -> String {
    let answer = http
        .post(format!("{}/session", h.url))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let set_cookie = answer.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(!set_cookie.contains(token), "the token is not the cookie");
    assert_eq!(answer.headers()[reqwest::header::LOCATION], "/");
    set_cookie.split(';').next().unwrap().to_string()
}

/// A dashboard page as `cookie` sees it: status and body, with the security headers checked.
async fn page(
    h: &Harness,
    http: &reqwest::Client,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, String) {
    let mut req = http.get(format!("{}{path}", h.url));
    if let Some(c) = cookie {
        req = req.header(reqwest::header::COOKIE, c);
    }
    let answer = req.send().await.unwrap();
    let csp = answer.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let status = answer.status();
    let body = answer.text().await.unwrap();
    assert!(!body.contains("<script"), "no script on any page:\n{body}");
    (status, body)
}

/// Task `id`'s dashboard page as `cookie` sees it.
async fn task_page(
    h: &Harness,
    http: &reqwest::Client,
    id: &str,
    cookie: &str,
) -> (StatusCode, String) {
    page(h, http, &format!("/dashboard/tasks/{id}"), Some(cookie)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_signs_in_by_cookie_escapes_names_and_shows_each_role_its_page() {
    let h = start(|_| {}).await;
    let publisher = h.account("pub", Role::Publisher, 30).await;
    let node = h.account("node-a", Role::Node, 0).await;
    let admin = h.account("root", Role::Admin, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let xss = "<script>alert(1)</script>";
    let task = h
        .publish_with(&publisher, dir.path(), 20, |o| {
            o.name = xss.into();
            o.min_accuracy = 0.01;
            o.deadline_s = Some(3600);
            o.contest = Some(publisher::ContestOptions::default());
        })
        .await;
    let c = h.client(&node);
    let grant: LeaseGrant = c.post("/api/v1/leases", &caps()).await.unwrap();
    submit(&c, dir.path(), &grant.lease_id).await.unwrap();
    board_until(&c, &task.id, |b| {
        b.entries.iter().all(|e| e.state == SubmissionState::Scored)
    })
    .await;

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (status, body) = page(&h, &http, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("name=\"token\"") && body.contains("type=\"password\""),
        "{body}"
    );
    let wrong = http
        .post(format!("{}/session", h.url))
        .form(&[("token", "not-a-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    // The publisher: their task, its name as text, the leaderboard with both parts, the timeline.
    let cookie = sign_in(&h, &http, &publisher).await;
    let (_, home) = page(&h, &http, "/", Some(&cookie)).await;
    assert!(
        home.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{home}"
    );
    assert!(!home.contains(xss));
    let (status, shown) = task_page(&h, &http, &task.id, &cookie).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert!(
        shown.contains("id=\"leaderboard\"") && shown.contains("node-a"),
        "{shown}"
    );
    assert!(shown.contains("private part"), "{shown}");
    assert!(shown.contains("<svg id=\"timeline\""), "{shown}");
    assert!(!shown.contains(xss));

    // The node: the open contest, its submission with the public score only.
    let node_cookie = sign_in(&h, &http, &node).await;
    let (_, node_home) = page(&h, &http, "/", Some(&node_cookie)).await;
    assert!(
        node_home.contains("Your submissions") && node_home.contains("scored"),
        "{node_home}"
    );
    assert!(node_home.contains("&lt;script&gt;"), "{node_home}");
    // Another's task page is not shown to a node.
    let (status, _) = task_page(&h, &http, &task.id, &node_cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The admin: the ledger's audit, the node just seen, every task.
    let admin_cookie = sign_in(&h, &http, &admin).await;
    let (_, admin_home) = page(&h, &http, "/", Some(&admin_cookie)).await;
    assert!(admin_home.contains("Balanced"), "{admin_home}");
    assert!(
        admin_home.contains("node-a") && admin_home.contains("2 cores"),
        "{admin_home}"
    );
    assert!(admin_home.contains(&task.id), "{admin_home}");

    // Signing out ends the session on the server, whatever the browser keeps.
    let out = http
        .post(format!("{}/session/end", h.url))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let (_, after) = page(&h, &http, "/", Some(&cookie)).await;
    assert!(after.contains("name=\"token\""), "signed out: {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_carries_its_audit_and_shows_its_picture_only_when_shared() {
    let h = start(|_| {}).await;
    let publisher = h.account("pub", Role::Publisher, 100).await;
    let stranger = h.account("other-pub", Role::Publisher, 100).await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The numbers always travel with the task; the picture (plain victim images) only by choice.
    let kept = dir.path().join("kept");
    std::fs::create_dir_all(&kept).unwrap();
    let summary = testkit::tiny_audit(&kept).unwrap();
    let task = h.publish_with(&publisher, &kept, 20, |_| {}).await;
    assert_eq!(task.audit.as_ref(), Some(&summary));
    assert!(!task.audit_picture);
    let cookie = sign_in(&h, &http, &publisher).await;
    let (_, body) = task_page(&h, &http, &task.id, &cookie).await;
    assert!(
        body.contains("id=\"audit\"") && body.contains("test data: ridge, 100 pairs"),
        "{body}"
    );
    assert!(body.contains("Picture not shared"), "{body}");
    let picture_of = |id: &str| format!("/dashboard/tasks/{id}/audit.png");
    let (status, _) = page(&h, &http, &picture_of(&task.id), Some(&cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    testkit::tiny_audit(&shared).unwrap();
    let task = h
        .publish_with(&publisher, &shared, 20, |o| o.share_audit_picture = true)
        .await;
    assert!(task.audit_picture);
    let (_, body) = task_page(&h, &http, &task.id, &cookie).await;
    assert!(body.contains("id=\"audit-picture\""), "{body}");
    let answer = http
        .get(format!("{}{}", h.url, picture_of(&task.id)))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()[reqwest::header::CONTENT_TYPE], "image/png");
    let png = answer.bytes().await.unwrap();
    assert_eq!(png, std::fs::read(shared.join("audit.png")).unwrap());
    // Another publisher and a signed-out browser see nothing of it.
    let other = sign_in(&h, &http, &stranger).await;
    let (status, _) = page(&h, &http, &picture_of(&task.id), Some(&other)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = page(&h, &http, &picture_of(&task.id), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The server checks what it stores: a picture must be a PNG of the caller's, with numbers
    // of the dataset's own key, in range.
    let c = h.client(&publisher);
    let base = dir.path().join("base");
    testkit::tiny_dataset(&base, 40, 20).unwrap();
    let mut files = Vec::new();
    for split in ["train", "validation"] {
        let mut refs = Vec::new();
        let folder = base.join(split);
        let mut names: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let up = c
                .upload_file(&folder.join(&name), &name, None, &mut |_| {})
                .await
                .unwrap();
            refs.push(FileRef {
                name,
                upload_id: up.id,
            });
        }
        files.push(refs);
    }
    let not_png = dir.path().join("not.png");
    std::fs::write(&not_png, b"GIF89a, not a PNG at all").unwrap();
    let not_png = c
        .upload_file(&not_png, "audit.png", None, &mut |_| {})
        .await
        .unwrap();
    let request = |audit: Option<AuditSummary>, picture: Option<String>| CreateTaskRequest {
        name: "audited".into(),
        fee: 5,
        min_accuracy: 0.5,
        max_attempts: None,
        deadline_s: None,
        requirements: Requirements::default(),
        mode: TaskMode::First,
        max_nodes: None,
        submission_limit: None,
        train_files: files[0].clone(),
        validation_files: files[1].clone(),
        t1_ms: 0,
        upload_ms: 0,
        audit,
        audit_picture: picture,
    };
    let refused = |r: archnet_market::Result<TaskInfo>| {
        let e = r.unwrap_err();
        (e.status().expect("an error answer"), e.to_string())
    };
    let (status, why) = refused(
        c.create_task(&request(Some(summary.clone()), Some(not_png.id.clone())))
            .await,
    );
    assert_eq!(status, 400);
    assert!(why.contains("not a PNG"), "{why}");
    let (status, why) = refused(
        c.create_task(&request(None, Some(not_png.id.clone())))
            .await,
    );
    assert_eq!(status, 400);
    assert!(why.contains("needs the audit"), "{why}");
    let other_key = AuditSummary {
        key_id: "another-key".into(),
        ..summary.clone()
    };
    let (status, why) = refused(c.create_task(&request(Some(other_key), None)).await);
    assert_eq!(status, 400);
    assert!(why.contains("audits key another-key"), "{why}");
    let mut out_of_range = summary.clone();
    out_of_range.attacks[0].reidentification = 1.5;
    let (status, why) = refused(c.create_task(&request(Some(out_of_range), None)).await);
    assert_eq!(status, 400);
    assert!(why.contains("[0, 1]"), "{why}");
    // Someone else's upload is not found, whatever it holds.
    let theirs = h
        .client(&stranger)
        .upload_file(&shared.join("audit.png"), "audit.png", None, &mut |_| {})
        .await
        .unwrap();
    let (status, _) = refused(
        c.create_task(&request(Some(summary.clone()), Some(theirs.id)))
            .await,
    );
    assert_eq!(status, 404);
    // Nothing was charged for the refusals: two tasks' fees in escrow.
    assert_eq!(c.balance().await.unwrap().balance, 80);
}

/// The value of the series `name` (with its labels, as written) in a Prometheus text page.
fn series(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no series {name} in:\n{page}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_for_admins_and_move_with_the_market() {
    let h = start(|_| {}).await;
    let publisher = h.account("pub", Role::Publisher, 25).await;
    let node = h.account("node", Role::Node, 0).await;
    let admin = h.account("root", Role::Admin, 0).await;
    let scrape = |token: Option<String>| {
        let (http, url) = (h.http.clone(), format!("{}/metrics", h.url));
        async move {
            let mut req = http.get(url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let answer = req.send().await.unwrap();
            (answer.status(), answer.text().await.unwrap())
        }
    };
    assert_eq!(scrape(None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(scrape(Some(node.clone())).await.0, StatusCode::FORBIDDEN);
    let (status, before) = scrape(Some(admin.clone())).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(series(&before, "archnet_leases_granted_total"), 0.0);
    assert_eq!(series(&before, "archnet_payments_total"), 0.0);

    let dir = tempfile::tempdir().unwrap();
    let task = h.publish(&publisher, dir.path(), 10, 0.01, 3).await;
    let c = h.client(&node);
    let grant: LeaseGrant = c.post("/api/v1/leases", &caps()).await.unwrap();
    submit(&c, dir.path(), &grant.lease_id).await.unwrap();
    assert_eq!(verdict(&c, &grant.lease_id).await.state, "accepted");

    let (_, after) = scrape(Some(admin)).await;
    assert_eq!(series(&after, "archnet_leases_granted_total"), 1.0);
    assert_eq!(series(&after, "archnet_leases{state=\"submitted\"}"), 1.0);
    assert_eq!(series(&after, "archnet_tasks{state=\"completed\"}"), 1.0);
    assert_eq!(
        series(&after, "archnet_validations_total{verdict=\"accepted\"}"),
        1.0
    );
    assert_eq!(series(&after, "archnet_payments_total"), 1.0);
    assert_eq!(
        series(&after, "archnet_validation_seconds_count{verdict=\"ran\"}"),
        1.0
    );
    // Requests are timed by their route's template, not by each id.
    let leases = "archnet_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/leases\",status=\"200\"}";
    assert_eq!(series(&after, leases), 1.0);
    assert!(!after.contains(&task.id), "no id in a label");
}
