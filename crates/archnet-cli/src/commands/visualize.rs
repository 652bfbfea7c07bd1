//! `archnet visualize`: what the encryption looks like (the paper's Fig. 8/9).

use crate::cli::VisualizeArgs;

/// `archnet visualize`
pub fn run(args: &VisualizeArgs) -> anyhow::Result<()> {
    let (key, meta, data) =
        archnet_model::KeyFile::load_with_images(&args.key, &super::data::source(&args.data))?;
    let path = archnet_lab::outputs::draw_encryption(&key, &meta, &data, args.count, &args.out)?;
    println!("written: {}", path.display());
    Ok(())
}
