//! A key file (safetensors: an 8-byte length, a JSON header whose `__metadata__.archnet` holds the
//! key's metadata and architecture, then the weights), as `archnet encrypt` and `archnet key
//! show` read one: header only, then the whole key with its weights checked against its id.
//!
//! A file the fuzzer writes cannot match its own key id by chance, so the input may also ask for
//! the id to be made right (first byte odd): the target then rewrites the metadata's `key_id` to
//! the weights' real hash, which takes the loader past that check and into building the
//! architecture the header describes and reading the tensors. Bit 2 of that byte says the rest is
//! the metadata JSON alone (see [`wrapped_metadata`]).
#![no_main]

use archnet_model::keyfile::KeyFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.safetensors");
    // Mode bit 2: the input is the metadata JSON alone, wrapped here in a weightless key file, so
    // that mutations land on the architecture rather than in 100 KB of weights.
    let file = if mode & 2 == 2 {
        wrapped_metadata(file)
    } else {
        file.to_vec()
    };
    let bytes = if mode & 1 == 1 {
        with_true_key_id(&file).unwrap_or(file)
    } else {
        file
    };
    std::fs::write(&path, &bytes).unwrap();
    let _ = KeyFile::read_metadata(&path);
    let _ = KeyFile::load(&path, &archnet_model::device());
});

/// A key file with no tensors whose metadata is `json` (as text, invalid UTF-8 replaced).
fn wrapped_metadata(json: &[u8]) -> Vec<u8> {
    let header = serde_json::json!({
        "__metadata__": { "archnet": String::from_utf8_lossy(json) }
    });
    let header = serde_json::to_vec(&header).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out
}

/// `file` with its metadata's `key_id` set to what its weights hash to, when it parses that far.
fn with_true_key_id(file: &[u8]) -> Option<Vec<u8>> {
    let len = u64::from_le_bytes(file.get(..8)?.try_into().ok()?) as usize;
    let header = file.get(8..8usize.checked_add(len)?)?;
    let data = &file[8 + len..];
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).ok()?;
    let meta = header.get("__metadata__")?.get("archnet")?.as_str()?;
    let mut meta: serde_json::Value = serde_json::from_str(meta).ok()?;
    let id = weights_id(&header, data)?;
    meta.as_object_mut()?
        .insert("key_id".into(), serde_json::Value::String(id));
    header.get_mut("__metadata__")?.as_object_mut()?.insert(
        "archnet".into(),
        serde_json::Value::String(meta.to_string()),
    );
    let header = serde_json::to_vec(&header).ok()?;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    Some(out)
}

/// The key id as the key file defines it: sha256 over the tensors in name order (name, each
/// dimension as a little-endian u64, the bytes), its first 16 hex digits.
fn weights_id(header: &serde_json::Map<String, serde_json::Value>, data: &[u8]) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut names: Vec<&String> = header.keys().filter(|k| *k != "__metadata__").collect();
    names.sort();
    let mut h = Sha256::new();
    for name in names {
        let entry = &header[name];
        h.update(name.as_bytes());
        for d in entry.get("shape")?.as_array()? {
            h.update(d.as_u64()?.to_le_bytes());
        }
        let offsets = entry.get("data_offsets")?.as_array()?;
        let (start, end) = (
            offsets.first()?.as_u64()? as usize,
            offsets.get(1)?.as_u64()? as usize,
        );
        h.update(data.get(start..end)?);
    }
    Some(hex(&h.finalize())[..16].to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
