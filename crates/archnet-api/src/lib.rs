//! The contract between the archnet marketplace server and its clients (publisher, node,
//! admin): the JSON bodies ([`types`]), the states of uploads, tasks, leases and submissions
//! ([`states`]), every path of the HTTP API ([`paths`]) and the body of every error answer
//! ([`ErrorBody`]). It depends on no server or client code, so both sides link the same words
//! and neither links the other.

#![warn(missing_docs)]

pub mod paths;
pub mod states;
pub mod types;

use serde::{Deserialize, Serialize};

/// The JSON body of every error answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// One line naming the problem.
    pub error: String,
}

/// The header carrying the SHA-256 (hex) of an uploaded or downloaded chunk.
pub const CHUNK_SHA256_HEADER: &str = "x-archnet-sha256";

/// Accepts plain file names only: letters, digits, `.`, `_`, `-`, not starting with `.`, at most
/// 128 characters. Names reach the file system of nodes and of the validator; the server refuses
/// other names, and a client refuses a listing that names one.
pub fn check_file_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "file name `{name}` is not a plain name (letters, digits, `.`, `_`, `-`)"
        ))
    }
}
