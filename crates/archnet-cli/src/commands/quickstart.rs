//! `archnet quickstart`: the whole publisher-side story on a small real sample embedded in the
//! binary (1,000 MNIST training and 200 test images), so it runs from a fresh clone with no
//! other files: train a key, encrypt, decrypt, let a (simulated) node train on the ciphertexts
//! and hand back ONNX, validate it, predict plain images through it, and report what happened
//! with measured figures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use archnet_data::Split;
use archnet_data::encrypted::Storage;
use archnet_model::train::{Loss, Recipe};

use super::human_bytes;
use crate::cli::{
    DataArgs, DecryptArgs, EncryptArgs, ExportArgs, KeyTrainArgs, OnnxLimitArgs, PredictArgs,
    QuickstartArgs, TrainArgs, ValidateArgs,
};

/// The embedded sample: (file name, bytes). See `samples/mnist-sample/README.md` (CC BY-SA 3.0).
const SAMPLE: [(&str, &[u8]); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../../../../samples/mnist-sample/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../../../../samples/mnist-sample/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../../../../samples/mnist-sample/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../../../../samples/mnist-sample/t10k-labels-idx1-ubyte.gz"),
    ),
];

/// Epochs of key training on the 1,000-image sample (measured: about a minute on 2 cores).
const KEY_EPOCHS: usize = 12;

/// Epochs the simulated compute node trains its cnn on the encrypted sample.
const NODE_EPOCHS: usize = 3;

/// The library's limits, with validation capped at 10 minutes (the sample takes seconds).
fn default_onnx_limits() -> OnnxLimitArgs {
    OnnxLimitArgs {
        max_seconds: 600,
        ..OnnxLimitArgs::default()
    }
}

/// `archnet quickstart`
pub fn run(args: &QuickstartArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let temp;
    let work: PathBuf = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir().context("creating a temporary folder")?;
            temp.path().to_path_buf()
        }
    };
    let data = match &args.data {
        Some(d) => d.clone(),
        None => write_sample(&work.join("sample"))?,
    };
    step(1, "the plain dataset (the publisher's private images)");
    super::data::inspect(&data, Split::Train)?;

    step(
        2,
        "train a key: H-encoder E1 + L-decoder D1 as an identity map (stays with the publisher)",
    );
    let key_path = work.join("sample.key");
    let t = Instant::now();
    let meta = super::key::train(&KeyTrainArgs {
        preset: "auto".into(),
        data: data_args(&data),
        out: key_path.clone(),
        recipe: Recipe::Fast,
        loss: Loss::Bce,
        lr: None,
        batch_size: 32,
        epochs: KEY_EPOCHS,
        max_samples: None,
        seed: 0,
        checkpoint_dir: Some(work.join("sample.key.ckpt")),
        checkpoint_every: 0,
        resume: false,
        eval_limit: 200,
    })?;
    let key_seconds = t.elapsed().as_secs_f64();
    super::key::info(&key_path)?;

    step(
        3,
        "encrypt with E1 (what the server and compute nodes receive)",
    );
    let mut sizes = Vec::new();
    let mut encrypt_seconds = 0.0;
    for storage in [Storage::F32, Storage::Q8] {
        let out = work.join(format!("encrypted-{storage}"));
        let t = Instant::now();
        let manifest = super::crypt::encrypt(&EncryptArgs {
            key: key_path.clone(),
            data: data_args(&data),
            out: out.clone(),
            split: None,
            storage,
            batch_size: 64,
        })?;
        if storage == Storage::F32 {
            encrypt_seconds = t.elapsed().as_secs_f64();
        }
        sizes.push((storage, out, manifest.total_bytes()));
    }

    step(
        4,
        "decrypt with D1 and compare with the originals (only the key holder can do this)",
    );
    let mut qualities = Vec::new();
    for (storage, dir, _) in &sizes {
        let report = super::crypt::decrypt(&DecryptArgs {
            key: key_path.clone(),
            data: dir.clone(),
            out: work.join(format!("decrypted-{storage}")),
            reference: Some(data.clone()),
            reference_split: Split::Train,
            splits: vec![],
            limit: None,
            batch_size: 64,
        })?;
        qualities.push(report.quality.expect("a reference was given"));
    }

    step(
        5,
        "a compute node trains its own model on the encrypted training split and exports ONNX",
    );
    let encrypted = &sizes[0].1;
    let model_dir = work.join("node-model");
    let onnx_path = work.join("node-model.onnx");
    let t = Instant::now();
    super::classify::train(&TrainArgs {
        model: "cnn".into(),
        data: encrypted.clone(),
        out: model_dir.clone(),
        epochs: NODE_EPOCHS,
        batch_size: 64,
        lr: 1e-3,
        seed: 0,
        patience: None,
        limit: None,
        resume: false,
    })?;
    super::onnx::export(&ExportArgs {
        model: model_dir,
        out: onnx_path.clone(),
    })?;
    let node_seconds = t.elapsed().as_secs_f64();

    step(
        6,
        "the server validates the ONNX model with tract on the encrypted validation split",
    );
    super::onnx::validate(&ValidateArgs {
        onnx: onnx_path.clone(),
        data: encrypted.clone(),
        split: None,
        limit: None,
        limits: default_onnx_limits(),
    })?;

    step(
        7,
        "the publisher classifies new plain images: E1 with the key, then the delivered model",
    );
    super::onnx::predict(&PredictArgs {
        key: key_path.clone(),
        onnx: onnx_path,
        data: DataArgs {
            data: data.clone(),
            data_split: Split::Test,
            limit: None,
        },
        show: 5,
        limits: default_onnx_limits(),
    })?;

    step(8, "summary");
    let plain_bytes: u64 = 1000 * 784;
    println!(
        "key:        {} ({} preset), trained in {key_seconds:.0} s",
        meta.key_id, meta.architecture.preset
    );
    if let Some(r) = &meta.reconstruction {
        println!(
            "            held-out reconstruction: {:.2} dB PSNR, SSIM {:.3} on {} test images",
            r.quality.psnr_db, r.quality.ssim, r.quality.count
        );
    }
    println!("encryption: {encrypt_seconds:.1} s for 1,000 images (f32)");
    println!(
        "node:       cnn trained {NODE_EPOCHS} epochs on ciphertexts and exported in {node_seconds:.0} s"
    );
    for ((storage, dir, bytes), q) in sizes.iter().zip(&qualities) {
        println!(
            "  {storage:<4} {:>10} ({:.1}× the plain {}), decrypted: {:.2} dB PSNR, SSIM {:.3}  [{}]",
            human_bytes(*bytes),
            *bytes as f64 / plain_bytes as f64,
            human_bytes(plain_bytes),
            q.psnr_db,
            q.ssim,
            dir.display()
        );
    }
    println!("total:      {:.0} s", started.elapsed().as_secs_f64());
    println!();
    // Say what is protected as measured (results/README.md), not as the paper claims.
    println!(
        "What this protects: the images and the key never leave the publisher; nodes see ciphertexts."
    );
    println!(
        "What it does not: ciphertext channels can show the image (try `archnet visualize`), and"
    );
    println!(
        "anyone with a few (image, ciphertext) pairs can learn to invert E1. It is obfuscation,"
    );
    println!(
        "not encryption: read docs/threat-model.md before publishing data you must keep secret."
    );
    if args.work_dir.is_none() {
        println!("(the temporary folder is removed now; pass --work-dir DIR to keep the files)");
    }
    Ok(())
}

fn step(n: usize, what: &str) {
    println!("\n== {n}. {what}");
}

fn data_args(path: &Path) -> DataArgs {
    DataArgs {
        data: path.to_path_buf(),
        data_split: Split::Train,
        limit: None,
    }
}

fn write_sample(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, bytes) in SAMPLE {
        std::fs::write(dir.join(name), bytes)
            .with_context(|| format!("writing {}", dir.join(name).display()))?;
    }
    Ok(dir.to_path_buf())
}
