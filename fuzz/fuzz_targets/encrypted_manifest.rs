//! An encrypted dataset's `manifest.json`, as the server reads one from an upload and a node
//! from a download: parse, check, open.
#![no_main]

use archnet_data::encrypted::{EncryptedDataset, MANIFEST_FILE, Manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = serde_json::from_slice::<Manifest>(data) {
        let _ = manifest.check(std::path::Path::new(MANIFEST_FILE));
        let _ = manifest.total_count();
        let _ = manifest.total_bytes();
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(MANIFEST_FILE), data).unwrap();
    if let Ok(dataset) = EncryptedDataset::open(dir.path()) {
        for split in dataset
            .manifest()
            .splits
            .keys()
            .cloned()
            .collect::<Vec<_>>()
        {
            if let Ok(shards) = dataset.shards(&split) {
                for shard in shards.take(4) {
                    let _ = shard;
                }
            }
        }
    }
});
