//! Blobs (dataset shards, ONNX models) in an object store: a local folder by default, an
//! S3-compatible bucket (`s3://bucket/prefix`, credentials from the usual `AWS_*` variables)
//! for several replicas. Every file is kept as the chunks it was uploaded in, under
//! `uploads/<upload id>/<index>`; a chunk is written once, before the database records it, so a
//! crash between the two leaves at worst an unrecorded chunk that the client sends again.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};

use crate::error::{Result, ServerError};

/// The marketplace's blob store.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    prefix: StorePath,
    description: String,
}

impl BlobStore {
    /// `url` is `s3://bucket[/prefix]` or `file:///abs/path`; `None` is the folder `blobs/`
    /// inside `data_dir`.
    pub fn open(url: Option<&str>, data_dir: &Path) -> Result<BlobStore> {
        match url {
            None => Self::local(&data_dir.join("blobs")),
            Some(u) if u.starts_with("s3://") => {
                let parsed = url::Url::parse(u)
                    .map_err(|e| ServerError::Config(format!("store URL `{u}`: {e}")))?;
                let store = AmazonS3Builder::from_env().with_url(u).build()?;
                Ok(BlobStore {
                    inner: Arc::new(store),
                    prefix: StorePath::from(parsed.path().trim_matches('/')),
                    description: u.to_string(),
                })
            }
            Some(u) if u.starts_with("file://") => Self::local(Path::new(&u["file://".len()..])),
            Some(u) => Err(ServerError::Config(format!(
                "store URL `{u}`: expected s3://bucket/prefix or file:///path"
            ))),
        }
    }

    fn local(dir: &Path) -> Result<BlobStore> {
        std::fs::create_dir_all(dir).map_err(|e| ServerError::io(dir, e))?;
        Ok(BlobStore {
            inner: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
            prefix: StorePath::default(),
            description: dir.display().to_string(),
        })
    }

    /// Where the blobs are, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    fn chunk_path(&self, upload_id: &str, index: u64) -> StorePath {
        // Upload ids are made by the server (`upl_` + hex), never by a client.
        self.prefix
            .child("uploads")
            .child(upload_id)
            .child(index.to_string())
    }

    /// Stores chunk `index` of upload `upload_id` (replacing a chunk sent before).
    pub async fn put_chunk(&self, upload_id: &str, index: u64, bytes: Bytes) -> Result<()> {
        self.inner
            .put(&self.chunk_path(upload_id, index), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// A whole (small) upload of `chunks` chunks, in memory.
    pub async fn read_all(&self, upload_id: &str, chunks: u64) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        for i in 0..chunks {
            bytes.extend_from_slice(&self.get_chunk(upload_id, i).await?);
        }
        Ok(bytes)
    }

    /// Reads chunk `index` of upload `upload_id`.
    pub async fn get_chunk(&self, upload_id: &str, index: u64) -> Result<Bytes> {
        Ok(self
            .inner
            .get(&self.chunk_path(upload_id, index))
            .await?
            .bytes()
            .await?)
    }
}
