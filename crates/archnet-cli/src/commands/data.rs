//! `archnet data …`

use std::path::Path;

use archnet_data::{DataSource, DatasetSummary, Split, open_dataset};

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

/// The images `args` describe.
pub fn source(args: &DataArgs) -> DataSource {
    DataSource {
        path: args.data.clone(),
        split: args.data_split,
        limit: args.limit,
    }
}
