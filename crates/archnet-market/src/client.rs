//! The HTTP client of publishers, nodes and admins: JSON calls that retry while the server is
//! unreachable (a restart costs time, not work), and resumable checksummed file transfers in
//! chunks.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::error::{ClientError, Result};
use crate::states::UploadState;
use crate::types::{CreateUploadRequest, FileListing, UploadStatus};
use archnet_api::ErrorBody;
use archnet_api::{CHUNK_SHA256_HEADER, paths};

/// A client of one server, with one token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    /// How long to keep retrying a request the server did not answer (or answered 5xx/429).
    pub retry_for: Duration,
}

impl Client {
    /// A client of the server at `server` (`http://HOST:PORT` or `https://…`) acting with
    /// `token`; it retries a request for up to five minutes while the server is unreachable.
    pub fn new(server: &str, token: &str) -> Result<Client> {
        let base = server.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(server.to_string()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()?;
        Ok(Client {
            http,
            base,
            token: token.to_string(),
            retry_for: Duration::from_secs(300),
        })
    }

    /// The server's URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Sends the request `build` makes, retrying transient failures with backoff for up to
    /// `retry_for`; an error answer becomes [`ClientError::Remote`].
    async fn send(&self, build: impl Fn() -> RequestBuilder) -> Result<reqwest::Response> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(200);
        loop {
            let e = match build().send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => remote_error(resp).await,
                Err(e) => ClientError::Http(e),
            };
            if !e.is_transient() || started.elapsed() > self.retry_for {
                return Err(e);
            }
            tracing::debug!("retrying in {delay:?}: {e}");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// A GET of `path`, its JSON answer decoded.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        Ok(self
            .send(|| self.request(Method::GET, path))
            .await?
            .json()
            .await?)
    }

    /// A POST of `body` as JSON to `path`, its JSON answer decoded.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        Ok(self
            .send(|| self.request(Method::POST, path).json(body))
            .await?
            .json()
            .await?)
    }

    /// A POST whose answer may be 204 No Content (`None`).
    pub async fn post_maybe<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Option<T>> {
        let resp = self
            .send(|| self.request(Method::POST, path).json(body))
            .await?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        Ok(Some(resp.json().await?))
    }

    /// A POST with no answer body.
    pub async fn post_empty<B: Serialize>(&self, path: &str, body: &B) -> Result<()> {
        self.send(|| self.request(Method::POST, path).json(body))
            .await?;
        Ok(())
    }

    /// Raw bytes of a GET, checked against the `x-archnet-sha256` header when the server sends
    /// one.
    pub async fn get_bytes(&self, path: &str) -> Result<bytes::Bytes> {
        let resp = self.send(|| self.request(Method::GET, path)).await?;
        let expected = resp
            .headers()
            .get(CHUNK_SHA256_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.bytes().await?;
        if let Some(expected) = expected {
            let got = hex::encode(Sha256::digest(&bytes));
            if got != expected {
                return Err(ClientError::Corrupted(format!(
                    "{path}: the download's sha256 is {got}, the server announced {expected}"
                )));
            }
        }
        Ok(bytes)
    }

    /// Uploads `file` as `name`, resuming `resume` (an upload id from an earlier try) when it is
    /// still open. Each chunk carries its sha256; a chunk the server finds corrupted is sent
    /// again (up to 3 times). Returns the completed upload.
    pub async fn upload_file(
        &self,
        file: &Path,
        name: &str,
        resume: Option<&str>,
        on_bytes: &mut (dyn FnMut(u64) + Send),
    ) -> Result<UploadStatus> {
        let size = tokio::fs::metadata(file)
            .await
            .map_err(|e| ClientError::io(file, e))?
            .len();
        let sha256 = sha256_file(file).await?;
        let mut status = match resume {
            Some(id) => match self.get::<UploadStatus>(&paths::upload(id)).await {
                Ok(s) if s.sha256 == sha256 && s.size == size => Some(s),
                Ok(_) | Err(ClientError::Remote { status: 404, .. }) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        if status.is_none() {
            let req = CreateUploadRequest {
                name: name.to_string(),
                size,
                sha256: sha256.clone(),
                chunk_size: None,
            };
            status = Some(self.post(paths::UPLOADS, &req).await?);
        }
        let status = status.expect("set above");
        if status.state == UploadState::Complete {
            on_bytes(size);
            return Ok(status);
        }
        let mut f = tokio::fs::File::open(file)
            .await
            .map_err(|e| ClientError::io(file, e))?;
        for index in 0..status.chunks {
            let offset = index * status.chunk_size;
            let len = (size - offset).min(status.chunk_size);
            if status.received.contains(&index) {
                on_bytes(len);
                continue;
            }
            let mut buf = vec![0u8; len as usize];
            f.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| ClientError::io(file, e))?;
            f.read_exact(&mut buf)
                .await
                .map_err(|e| ClientError::io(file, e))?;
            let chunk_sha = hex::encode(Sha256::digest(&buf));
            let body = bytes::Bytes::from(buf);
            let path = paths::upload_chunk(&status.id, index);
            let mut attempts = 0;
            loop {
                attempts += 1;
                let sent = self
                    .send(|| {
                        self.request(Method::PUT, &path)
                            .header(CHUNK_SHA256_HEADER, &chunk_sha)
                            .body(body.clone())
                    })
                    .await;
                match sent {
                    Ok(_) => break,
                    // Corrupted on the way: send it again.
                    Err(ClientError::Remote {
                        status: 400,
                        message,
                    }) if message.contains("corrupted") && attempts < 3 => {
                        tracing::warn!("{message}");
                    }
                    Err(e) => return Err(e),
                }
            }
            on_bytes(len);
        }
        self.post(&paths::upload_complete(&status.id), &()).await
    }

    /// Downloads one file of a listing into `dir` through `chunk_path(index)`, resuming from
    /// chunks already on disk (`dir/.partial/NAME.INDEX`, each checked against its sha256), then
    /// checks the whole file's sha256.
    pub async fn download_file(
        &self,
        listing: &FileListing,
        dir: &Path,
        chunk_path: &(dyn Fn(u64) -> String + Sync),
        on_bytes: &mut (dyn FnMut(u64) + Send),
    ) -> Result<()> {
        archnet_api::check_file_name(&listing.name).map_err(ClientError::Corrupted)?;
        let target = dir.join(&listing.name);
        if tokio::fs::metadata(&target)
            .await
            .is_ok_and(|m| m.len() == listing.size)
            && sha256_file(&target).await? == listing.sha256
        {
            on_bytes(listing.size);
            return Ok(());
        }
        let partial = dir.join(".partial");
        tokio::fs::create_dir_all(&partial)
            .await
            .map_err(|e| ClientError::io(&partial, e))?;
        // The chunks are kept in order as they are checked, so the file is written once.
        let mut whole = Vec::with_capacity(listing.size as usize);
        let mut parts = Vec::new();
        for chunk in &listing.chunks {
            let part = partial.join(format!("{}.{}", listing.name, chunk.index));
            let have = match tokio::fs::read(&part).await {
                Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == chunk.sha256 => Some(bytes),
                _ => None,
            };
            let bytes = match have {
                Some(b) => b,
                None => {
                    let b = self.get_bytes(&chunk_path(chunk.index)).await?;
                    let got = hex::encode(Sha256::digest(&b));
                    if got != chunk.sha256 {
                        return Err(ClientError::Corrupted(format!(
                            "chunk {} of {} arrived corrupted (sha256 {got}, expected {})",
                            chunk.index, listing.name, chunk.sha256
                        )));
                    }
                    tokio::fs::write(&part, &b)
                        .await
                        .map_err(|e| ClientError::io(&part, e))?;
                    b.to_vec()
                }
            };
            on_bytes(bytes.len() as u64);
            whole.extend_from_slice(&bytes);
            parts.push(part);
        }
        if hex::encode(Sha256::digest(&whole)) != listing.sha256 {
            return Err(ClientError::Corrupted(format!(
                "{}: the assembled file does not match its sha256",
                listing.name
            )));
        }
        let tmp = partial.join(format!("{}.assembled", listing.name));
        tokio::fs::write(&tmp, &whole)
            .await
            .map_err(|e| ClientError::io(&tmp, e))?;
        tokio::fs::rename(&tmp, &target)
            .await
            .map_err(|e| ClientError::io(&target, e))?;
        for part in parts {
            let _ = tokio::fs::remove_file(part).await;
        }
        Ok(())
    }
}

/// Turns an error answer into [`ClientError::Remote`] with the server's one-line message.
async fn remote_error(resp: reqwest::Response) -> ClientError {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<ErrorBody>(&text)
        .map(|b| b.error)
        .unwrap_or(text);
    ClientError::Remote { status, message }
}

/// sha256 of a file, lowercase hex, read in 1 MiB blocks.
pub async fn sha256_file(path: &Path) -> Result<String> {
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(|e| ClientError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .await
            .map_err(|e| ClientError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
