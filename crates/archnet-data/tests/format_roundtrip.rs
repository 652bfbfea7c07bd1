//! Property test: whatever the shapes, batch boundaries, shard size and storage, what the writer
//! stores is what the reader returns (exactly for f32, within the codec's error otherwise).

use archnet_data::encrypted::{EncryptedDataset, EncryptedDatasetWriter, Storage, WriterHeader};
use proptest::prelude::*;

fn header(shape: [usize; 3], storage: Storage) -> WriterHeader {
    WriterHeader {
        key_id: "k".into(),
        key_preset: "p".into(),
        plain_shape: [1, 1, 1],
        sample_shape: shape,
        storage,
        class_names: (0..5).map(|i| i.to_string()).collect(),
        source_fingerprint: "f".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn written_samples_read_back(
        c in 1usize..4, h in 1usize..5, w in 1usize..5,
        n in 1usize..40,
        batch in 1usize..9,
        shard_samples in 1usize..12,
        storage in prop_oneof![Just(Storage::F32), Just(Storage::F16), Just(Storage::Q8)],
        seed in any::<u32>(),
    ) {
        let len = c * h * w;
        let values: Vec<f32> = (0..n * len)
            .map(|i| (((i as u64 * 2_654_435_761 + seed as u64) % 20_011) as f32 / 1000.0) - 10.0)
            .collect();
        let labels: Vec<u16> = (0..n).map(|i| (i % 5) as u16).collect();
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("enc");
        let shard_bytes = shard_samples * len * storage.bytes_per_value();
        let mut writer = EncryptedDatasetWriter::create(&dir, header([c, h, w], storage), shard_bytes).unwrap();
        for (start, chunk) in (0..n).step_by(batch).zip(values.chunks(batch * len)) {
            let end = (start + batch).min(n);
            writer.push_batch("train", chunk, &labels[start..end]).unwrap();
        }
        let manifest = writer.finish().unwrap();
        prop_assert_eq!(manifest.splits["train"].shards.len(), n.div_ceil(shard_samples));

        let ds = EncryptedDataset::open(&dir).unwrap();
        let mut got_x = Vec::new();
        let mut got_y = Vec::new();
        for shard in ds.shards("train").unwrap() {
            let shard = shard.unwrap();
            got_x.extend(shard.x);
            got_y.extend(shard.y.unwrap());
        }
        prop_assert_eq!(&got_y, &labels);
        prop_assert_eq!(got_x.len(), values.len());
        // q8 error ≤ half a step of a 20-wide range (per shard and channel); f16 ≤ 10 · 2⁻¹¹.
        let tolerance = match storage { Storage::F32 => 0.0, Storage::F16 => 0.005, Storage::Q8 => 20.0 / 255.0 / 2.0 + 1e-4 };
        for (a, b) in values.iter().zip(&got_x) {
            prop_assert!((a - b).abs() <= tolerance, "{} vs {} ({:?})", a, b, storage);
        }
    }
}
