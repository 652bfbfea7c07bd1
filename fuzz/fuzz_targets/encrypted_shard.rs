//! One shard of an encrypted dataset (a safetensors file), with a manifest that names it with
//! the right size and sha256, so the fuzzer's bytes reach the decoder of every storage.
#![no_main]

use archnet_data::encrypted::{EncryptedDataset, MANIFEST_FILE};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the storage and the sample shape; the rest is the shard.
    let Some((&pick, shard)) = data.split_first() else {
        return;
    };
    let storage = ["f32", "f16", "q8"][(pick % 3) as usize];
    let side = 1 + (pick / 3) % 4;
    let quantization = if storage == "q8" {
        serde_json::json!({"scale": [0.5], "offset": [-1.0]})
    } else {
        serde_json::Value::Null
    };
    let manifest = serde_json::json!({
        "format": "archnet-encrypted-dataset",
        "version": 1,
        "key_id": "0000fuzzfuzz0000",
        "key_preset": "auto",
        "plain_shape": [1, side, side],
        "sample_shape": [1, side, side],
        "storage": storage,
        "class_names": ["a", "b"],
        "source_fingerprint": "fuzz",
        "created_at": "2026-12-06T00:00:00Z",
        "splits": {"train": {"count": 2, "source_offset": 0, "shards": [{
            "file": "train-00000.safetensors",
            "count": 2,
            "bytes": shard.len(),
            "sha256": hex(&Sha256::digest(shard)),
            "quantization": quantization,
        }]}},
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(MANIFEST_FILE), manifest.to_string()).unwrap();
    std::fs::write(dir.path().join("train-00000.safetensors"), shard).unwrap();
    if let Ok(dataset) = EncryptedDataset::open(dir.path())
        && let Ok(shards) = dataset.shards("train")
    {
        for s in shards {
            let _ = s;
        }
    }
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
