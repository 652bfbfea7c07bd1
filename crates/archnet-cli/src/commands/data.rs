//! `archnet data …`

use std::path::Path;

use anyhow::Context;
use archnet_data::{DatasetSummary, ImageDataset, Split, open_dataset};

use crate::cli::DataArgs;

/// `archnet data inspect PATH`
pub fn inspect(path: &Path, split: Split) -> anyhow::Result<()> {
    use std::io::Write;
    let dataset = open_dataset(path, split)?;
    let text = format!(
        "dataset: {} ({split} split)\n{}",
        path.display(),
        DatasetSummary::of(&dataset)
    );
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Loads the dataset that `args` describe, with its limit applied.
pub fn load(args: &DataArgs) -> anyhow::Result<ImageDataset> {
    let mut dataset = open_dataset(&args.data, args.data_split).with_context(|| {
        format!(
            "reading the {} split of {}",
            args.data_split,
            args.data.display()
        )
    })?;
    if let Some(limit) = args.limit {
        dataset.truncate(limit);
    }
    Ok(dataset)
}
