//! `archnet encrypt` and `archnet decrypt`

use anyhow::Context;
use archnet_data::DataSource;
use archnet_model::pipeline::{
    DecryptOptions, DecryptReport, EncryptReport, EncryptSettings, decrypt_files, encrypt_files,
};

use crate::cli::{DecryptArgs, EncryptArgs};
use crate::progress::samples_bar;

/// `archnet encrypt`: returns what was written.
pub fn encrypt(args: &EncryptArgs) -> anyhow::Result<EncryptReport> {
    let settings = EncryptSettings {
        split: args.split,
        storage: args.storage,
        batch_size: args.batch_size,
        noise: args.noise,
    };
    let bar = samples_bar(0, "encrypt");
    let data = super::data::source(&args.data);
    let report = encrypt_files(&args.key, &data, &args.out, &settings, &mut |n, total| {
        bar.set_length(total as u64);
        bar.inc(n as u64)
    })
    .with_context(|| {
        format!(
            "encrypting {} into {}",
            args.data.data.display(),
            args.out.display()
        )
    })?;
    bar.finish_and_clear();
    println!("{report}");
    Ok(report)
}

/// `archnet decrypt`
pub fn decrypt(args: &DecryptArgs) -> anyhow::Result<DecryptReport> {
    let split = args.reference_split;
    let reference = args.reference.as_ref().map(|p| DataSource::new(p, split));
    let options = DecryptOptions {
        splits: args.splits.clone(),
        limit: args.limit,
        batch_size: args.batch_size.max(1),
    };
    let bar = samples_bar(0, "decrypt");
    let report = decrypt_files(
        &args.key,
        &args.data,
        &args.out,
        reference.as_ref(),
        &options,
        &mut |n, total| {
            bar.set_length(total as u64);
            bar.inc(n as u64)
        },
    )?;
    bar.finish_and_clear();
    println!("{report}");
    Ok(report)
}
