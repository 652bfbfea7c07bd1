//! `archnet train` and `archnet evaluate`: base models on plain or encrypted data.

use archnet_data::samples::EvaluationTable;
use archnet_model::trainjob::{self, TrainEvent, TrainJob};

use crate::cli::{EvaluateArgs, TrainArgs};
use crate::progress::samples_bar;

/// `archnet train`
pub fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let job = TrainJob {
        model: args.model.clone(),
        data: args.data.clone(),
        limit: args.limit,
        config: args.recipe.config(args.seed, args.patience),
        out: args.out.clone(),
        resume: args.resume,
    };
    let bar = samples_bar(100 * args.recipe.epochs as u64, "train");
    trainjob::train(&job, &mut |event| match event {
        TrainEvent::Batch(epoch, pct, loss) => {
            bar.set_position((epoch * 100 + pct) as u64);
            bar.set_message(format!("epoch {} loss {loss:.4}", epoch + 1));
        }
        TrainEvent::Trained => bar.finish_and_clear(),
        other => bar.suspend(|| println!("{other}")),
    })?;
    Ok(())
}

/// `archnet evaluate`
pub fn evaluate(args: &EvaluateArgs) -> anyhow::Result<()> {
    let d = &args.data;
    let (evaluation, classes) = trainjob::score(&args.model, &d.data, d.split.as_deref(), d.limit)?;
    println!("{}", EvaluationTable(&evaluation, &classes));
    Ok(())
}
