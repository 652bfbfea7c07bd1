//! The chunked upload path, driven through the server's router in process (no socket): announce
//! a file, put chunks (right, corrupted, mislabelled, out of range, the wrong size), complete,
//! ask for the status, and requests of any method and path with any body and headers.
//!
//! What must hold whatever arrives: the server answers (no panic), never with a 5xx, every error
//! is JSON `{"error": "…"}`, and an upload the server calls complete has exactly the bytes that
//! were announced.
#![no_main]

use std::sync::OnceLock;

use archnet_api::types::Role;
use archnet_server::server::{AppState, ServerConfig, router};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

/// Largest chunk the fuzzed server takes, so that chunk-size rules are reached with small inputs.
const MAX_CHUNK: u64 = 64;

#[derive(Arbitrary, Debug)]
enum Step {
    /// Announce `content` (as a publisher or a node) in chunks of `chunk` bytes.
    Announce {
        node: bool,
        chunk: u8,
        content: Vec<u8>,
    },
    /// Announce whatever JSON body the fuzzer makes.
    AnnounceRaw { node: bool, body: Vec<u8> },
    /// Put chunk `index` of the `upload`-th announced file: its true bytes unless `flip` names a
    /// byte to corrupt, `trim` bytes short, labelled with their sha256 unless `label` is given.
    Put {
        upload: u8,
        index: u8,
        flip: Option<u16>,
        trim: u8,
        label: Option<String>,
        other_account: bool,
    },
    /// Complete the `upload`-th announced file.
    Complete { upload: u8, other_account: bool },
    /// Any request: method, path under /api/v1, content type, token or not, body.
    Raw {
        method: u8,
        path: String,
        content_type: Option<String>,
        token: Option<bool>,
        body: Vec<u8>,
    },
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    publisher: String,
    node: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = ServerConfig {
            data_dir: dir.path().join("server"),
            chunk_bytes: 16,
            max_chunk_bytes: MAX_CHUNK,
            max_file_bytes: 4096,
            max_model_bytes: 1024,
            rate_per_second: 1_000_000,
            rate_burst: 1_000_000,
            ..ServerConfig::default()
        };
        let (app, publisher, node) = runtime.block_on(async {
            let state = AppState::open(config).await.unwrap();
            let publisher = state
                .db
                .create_account("pub", Role::Publisher, 100)
                .await
                .unwrap()
                .token;
            let node = state
                .db
                .create_account("node", Role::Node, 0)
                .await
                .unwrap()
                .token;
            (router(state), publisher, node)
        });
        Fixture {
            runtime,
            app,
            publisher,
            node,
            _dir: dir,
        }
    })
}

/// An upload this input announced.
struct Announced {
    id: String,
    content: Vec<u8>,
    chunk: usize,
    token: String,
}

fuzz_target!(|steps: Vec<Step>| {
    let f = fixture();
    f.runtime.block_on(async {
        let mut announced: Vec<Announced> = Vec::new();
        for step in steps.into_iter().take(12) {
            run(f, step, &mut announced).await;
        }
    });
});

async fn run(f: &Fixture, step: Step, announced: &mut Vec<Announced>) {
    let token = |node: bool| {
        if node {
            f.node.clone()
        } else {
            f.publisher.clone()
        }
    };
    match step {
        Step::Announce {
            node,
            chunk,
            content,
        } => {
            let body = serde_json::json!({
                "name": "file.bin",
                "size": content.len(),
                "sha256": hex(&Sha256::digest(&content)),
                "chunk_size": chunk,
            });
            let (status, json) = send(
                f,
                Method::POST,
                "/api/v1/uploads",
                Some(&token(node)),
                Some("application/json"),
                body.to_string().into_bytes(),
            )
            .await;
            if status == StatusCode::CREATED {
                let id = json["id"]
                    .as_str()
                    .expect("a created upload has an id")
                    .to_string();
                announced.push(Announced {
                    id,
                    content,
                    chunk: chunk as usize,
                    token: token(node),
                });
            }
        }
        Step::AnnounceRaw { node, body } => {
            send(
                f,
                Method::POST,
                "/api/v1/uploads",
                Some(&token(node)),
                Some("application/json"),
                body,
            )
            .await;
        }
        Step::Put {
            upload,
            index,
            flip,
            trim,
            label,
            other_account,
        } => {
            let Some(u) = pick(announced, upload) else {
                return;
            };
            let start = (index as usize * u.chunk).min(u.content.len());
            let end = (start + u.chunk).min(u.content.len());
            let mut bytes = u.content[start..end].to_vec();
            bytes.truncate(bytes.len().saturating_sub(trim as usize));
            let label = label.unwrap_or_else(|| hex(&Sha256::digest(&bytes)));
            if let Some(at) = flip {
                if !bytes.is_empty() {
                    let at = at as usize % bytes.len();
                    bytes[at] ^= 0x5a;
                }
            }
            let who = if other_account {
                stranger(f, &u.token)
            } else {
                u.token.clone()
            };
            let path = format!("/api/v1/uploads/{}/chunks/{index}", u.id);
            let request = Request::builder()
                .method(Method::PUT)
                .uri(&path)
                .header("authorization", format!("Bearer {who}"))
                .header("content-type", "application/octet-stream");
            let request = match axum::http::HeaderValue::from_str(&label) {
                Ok(v) => request.header(archnet_server::server::CHUNK_SHA256_HEADER, v),
                Err(_) => request,
            };
            answer(f, request.body(Body::from(bytes)).unwrap(), &path).await;
        }
        Step::Complete {
            upload,
            other_account,
        } => {
            let Some(u) = pick(announced, upload) else {
                return;
            };
            let who = if other_account {
                stranger(f, &u.token)
            } else {
                u.token.clone()
            };
            let (status, json) = send(
                f,
                Method::POST,
                &format!("/api/v1/uploads/{}/complete", u.id),
                Some(&who),
                None,
                Vec::new(),
            )
            .await;
            if status == StatusCode::OK {
                assert!(!other_account, "another account completed {}", u.id);
                assert_eq!(json["state"], "complete");
                // Complete means every chunk is there and the whole has the announced sha256.
                assert_eq!(
                    json["sha256"].as_str(),
                    Some(hex(&Sha256::digest(&u.content)).as_str())
                );
                assert_eq!(
                    json["received"].as_array().map(Vec::len),
                    json["chunks"].as_u64().map(|n| n as usize)
                );
            }
        }
        Step::Raw {
            method,
            path,
            content_type,
            token,
            body,
        } => {
            let method = [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
            ][method as usize % 5]
                .clone();
            let path = format!("/api/v1/{}", path.trim_start_matches('/'));
            if path.parse::<axum::http::Uri>().is_err() {
                return;
            }
            let who = token.map(|node| {
                if node {
                    f.node.clone()
                } else {
                    f.publisher.clone()
                }
            });
            send(
                f,
                method,
                &path,
                who.as_deref(),
                content_type.as_deref(),
                body,
            )
            .await;
        }
    }
}

fn pick(announced: &[Announced], i: u8) -> Option<&Announced> {
    (!announced.is_empty()).then(|| &announced[i as usize % announced.len()])
}

/// The token of the other account than `token`'s.
fn stranger(f: &Fixture, token: &str) -> String {
    if token == f.node {
        f.publisher.clone()
    } else {
        f.node.clone()
    }
}

async fn send(
    f: &Fixture,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(kind) = content_type.and_then(|k| axum::http::HeaderValue::from_str(k).ok()) {
        request = request.header("content-type", kind);
    }
    answer(f, request.body(Body::from(body)).unwrap(), path).await
}

/// Sends `request` and checks the promises every answer keeps.
async fn answer(
    f: &Fixture,
    request: Request<Body>,
    path: &str,
) -> (StatusCode, serde_json::Value) {
    let response = f.app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    assert!(
        !status.is_server_error(),
        "{path}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    if status.is_client_error() {
        assert!(
            json["error"].is_string(),
            "{path}: {status} without a JSON error: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    (status, json)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
