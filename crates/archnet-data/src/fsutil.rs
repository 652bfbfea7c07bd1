//! Small file-system helpers shared by everything that writes files archnet must not corrupt.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// Writes `bytes` to `path` atomically: a temporary sibling is written, flushed to disk and
/// renamed over `path`, so a reader (or a crash) never sees a half-written file. On Unix the file
/// gets permission bits `mode` (e.g. `0o600` for keys) from the moment it exists.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(DataError::io(path, e));
    }
    Ok(())
}

/// A unique name beside `path` for a file or folder being built: `.<name>.<pid>.<n>.partial`.
pub fn temp_sibling(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{}.{n}.partial", std::process::id()))
}

/// Refuses an output path that exists already: archnet never overwrites a dataset or image folder.
pub fn ensure_new_output(out: &Path) -> Result<()> {
    if out.exists() {
        return Err(DataError::io(
            out,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "output already exists; choose a new folder",
            ),
        ));
    }
    Ok(())
}

/// The current time as an RFC 3339 string in UTC (`2026-11-25T13:36:11Z`).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The sha256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_mode_and_leaves_no_temp() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("secret.key");
        write_atomic(&p, b"abc", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_replaces_existing() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        write_atomic(&p, b"old", 0o644).unwrap();
        write_atomic(&p, b"new", 0o644).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }
}
