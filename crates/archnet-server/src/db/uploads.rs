//! Uploads and their chunks.

use super::{Db, is_unique_violation, new_id, now_ms};
use crate::error::{Result, ServerError};
use archnet_api::types::{ChunkInfo, UploadState, UploadStatus};

/// An upload as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UploadRow {
    /// The upload id (`upl_` + hex, made by the server).
    pub id: String,
    /// The account uploading.
    pub owner: String,
    /// The file's name as announced.
    pub name: String,
    /// The whole file's size, bytes.
    pub size: i64,
    /// The whole file's SHA-256, hex, as announced.
    pub sha256: String,
    /// Bytes per chunk (the last one may be shorter).
    pub chunk_size: i64,
    /// Open while chunks arrive, complete once they all have and the file checks out.
    #[sqlx(try_from = "String")]
    pub state: UploadState,
    /// When the first chunk arrived (ms since the epoch).
    pub first_chunk_ms: Option<i64>,
    /// When the upload was completed (ms since the epoch).
    pub completed_ms: Option<i64>,
}

impl UploadRow {
    /// Number of chunks the file is cut into (an empty file has none).
    pub fn chunk_count(&self) -> u64 {
        (self.size as u64).div_ceil(self.chunk_size as u64)
    }

    /// Expected size of chunk `index`.
    pub fn chunk_len(&self, index: u64) -> u64 {
        let start = index * self.chunk_size as u64;
        (self.size as u64 - start).min(self.chunk_size as u64)
    }
}

/// A stored chunk.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ChunkRow {
    /// The chunk's index in the file.
    pub idx: i64,
    /// Its size, bytes.
    pub size: i64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

impl From<ChunkRow> for ChunkInfo {
    fn from(c: ChunkRow) -> Self {
        ChunkInfo {
            index: c.idx as u64,
            size: c.size as u64,
            sha256: c.sha256,
        }
    }
}

const UPLOAD_COLUMNS: &str =
    "id, owner, name, size, sha256, chunk_size, state, first_chunk_ms, completed_ms";

impl Db {
    /// Announces `owner`'s upload of `name`: `size` bytes with SHA-256 `sha256`, in chunks of
    /// `chunk_size`; returns it, open.
    pub async fn create_upload(
        &self,
        owner: &str,
        name: &str,
        size: u64,
        sha256: &str,
        chunk_size: u64,
    ) -> Result<UploadRow> {
        let id = new_id("upl");
        sqlx::query(
            "INSERT INTO uploads (id, owner, name, size, sha256, chunk_size, state, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7)",
        )
        .bind(&id)
        .bind(owner)
        .bind(name)
        .bind(size as i64)
        .bind(sha256)
        .bind(chunk_size as i64)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.upload(&id).await
    }

    /// The upload `id`; `NotFound` when there is none.
    pub async fn upload(&self, id: &str) -> Result<UploadRow> {
        sqlx::query_as(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("upload {id}")))
    }

    /// The upload `id` if `owner` made it; another account's upload is "not found" (its
    /// existence is not revealed).
    pub async fn owned_upload(&self, id: &str, owner: &str) -> Result<UploadRow> {
        let upload = self.upload(id).await?;
        if upload.owner != owner {
            return Err(ServerError::NotFound(format!("upload {id}")));
        }
        Ok(upload)
    }

    /// The chunks of an upload received so far, by index.
    pub async fn chunks(&self, upload_id: &str) -> Result<Vec<ChunkRow>> {
        Ok(sqlx::query_as(
            "SELECT idx, size, sha256 FROM upload_chunks WHERE upload_id = $1 ORDER BY idx",
        )
        .bind(upload_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// What an upload has received and what it still misses, as the API reports it.
    pub async fn upload_status(&self, upload: &UploadRow) -> Result<UploadStatus> {
        let received = self
            .chunks(&upload.id)
            .await?
            .into_iter()
            .map(|c| c.idx as u64)
            .collect();
        Ok(UploadStatus {
            id: upload.id.clone(),
            name: upload.name.clone(),
            size: upload.size as u64,
            sha256: upload.sha256.clone(),
            chunk_size: upload.chunk_size as u64,
            chunks: upload.chunk_count(),
            received,
            state: upload.state,
        })
    }

    /// Records a chunk whose bytes are already in the store. A chunk sent again with the same
    /// checksum is accepted (a retry); with another checksum it is a conflict.
    pub async fn record_chunk(
        &self,
        upload_id: &str,
        index: u64,
        size: u64,
        sha256: &str,
    ) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO upload_chunks (upload_id, idx, size, sha256) VALUES ($1, $2, $3, $4)",
        )
        .bind(upload_id)
        .bind(index as i64)
        .bind(size as i64)
        .bind(sha256)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                let (existing,): (String,) = sqlx::query_as(
                    "SELECT sha256 FROM upload_chunks WHERE upload_id = $1 AND idx = $2",
                )
                .bind(upload_id)
                .bind(index as i64)
                .fetch_one(&self.pool)
                .await?;
                if existing != sha256 {
                    return Err(ServerError::Conflict(format!(
                        "chunk {index} of upload {upload_id} was already received with other content"
                    )));
                }
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query(
            "UPDATE uploads SET first_chunk_ms = $1 WHERE id = $2 AND first_chunk_ms IS NULL",
        )
        .bind(now_ms())
        .bind(upload_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks an open upload complete (after its chunks have been checked against the file's hash).
    pub async fn mark_upload_complete(&self, upload_id: &str) -> Result<()> {
        sqlx::query("UPDATE uploads SET state = 'complete', completed_ms = $1 WHERE id = $2 AND state = 'open'")
            .bind(now_ms())
            .bind(upload_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
