//! `archnet train` and `archnet evaluate`: base models on plain or encrypted data.

use std::path::Path;

use archnet_data::encrypted::{EncryptedDataset, MANIFEST_FILE};
use archnet_data::{Split, open_dataset};
use archnet_model::base::BaseModelSpec;
use archnet_model::classify::{
    ClassifierTrainConfig, Evaluation, Samples, evaluate as evaluate_model, train_classifier,
};
use archnet_model::trained::{CARD_FILE, ModelCard, TrainedModel, WEIGHTS_FILE};

use crate::cli::{EvaluateArgs, TrainArgs};
use crate::progress::samples_bar;

fn is_encrypted(path: &Path) -> bool {
    path.join(MANIFEST_FILE).is_file()
}

/// Opens `split` of a plain or encrypted dataset as labeled samples.
fn open_samples(path: &Path, split: &str, limit: Option<usize>) -> anyhow::Result<Samples> {
    if is_encrypted(path) {
        let dataset = EncryptedDataset::open(path)?;
        dataset.split(split)?;
        return Ok(Samples::Encrypted {
            dataset,
            split: split.to_string(),
        });
    }
    let split: Split = split.parse().map_err(anyhow::Error::msg)?;
    let mut data = open_dataset(path, split)?;
    if data.labels.is_none() {
        anyhow::bail!(
            "{}: the dataset has no labels; a classifier needs them",
            path.display()
        );
    }
    if let Some(limit) = limit {
        data.truncate(limit);
    }
    Ok(Samples::Plain(data))
}

/// The samples a model is evaluated on: `split`, or by default an encrypted dataset's
/// `validation` split or a plain dataset's `test` release.
pub(crate) fn open_evaluation_samples(
    path: &Path,
    split: Option<&str>,
    limit: Option<usize>,
) -> anyhow::Result<Samples> {
    let default_split = if is_encrypted(path) {
        "validation"
    } else {
        "test"
    };
    open_samples(path, split.unwrap_or(default_split), limit)
}

/// Refuses to run a model on data from a key other than the one it was trained on (when both
/// are known): its accuracy there would be meaningless.
pub(crate) fn ensure_same_key(
    model_key: Option<&str>,
    data_key: Option<&str>,
) -> anyhow::Result<()> {
    if let (Some(model_key), Some(data_key)) = (model_key, data_key)
        && model_key != data_key
    {
        anyhow::bail!(
            "the model was trained on data of key {model_key}, but this data is from key {data_key}"
        );
    }
    Ok(())
}

/// `archnet train`
pub fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let encrypted = is_encrypted(&args.data);
    let (train_split, validation_split) = if encrypted {
        ("train", "validation")
    } else {
        ("train", "test")
    };
    let train = open_samples(&args.data, train_split, args.limit)?;
    let validation = open_samples(&args.data, validation_split, None).ok();
    let spec = BaseModelSpec {
        kind: args.model.clone(),
        input_shape: train.shape(),
        classes: train.class_names().len(),
    };
    let config = ClassifierTrainConfig {
        learning_rate: args.lr,
        batch_size: args.batch_size.max(1),
        epochs: args.epochs,
        seed: args.seed,
        patience: args.patience,
    };
    println!(
        "training {} on {} {} samples of {:?} ({} classes), validation: {}",
        spec.kind,
        train.len(),
        if encrypted { "encrypted" } else { "plain" },
        spec.input_shape,
        spec.classes,
        validation
            .as_ref()
            .map(|v| format!("{} samples", v.len()))
            .unwrap_or_else(|| "none".into())
    );
    let bar = samples_bar(100 * args.epochs as u64, "train");
    let outcome = train_classifier(
        &spec,
        &train,
        validation.as_ref(),
        &config,
        &args.out,
        args.resume,
        &mut |epoch, pct, loss| {
            bar.set_position((epoch * 100 + pct) as u64);
            bar.set_message(format!("epoch {} loss {loss:.4}", epoch + 1));
        },
    )?;
    bar.finish_and_clear();
    for m in &outcome.history {
        println!(
            "epoch {:>3}: loss {:.4}, train accuracy {:.2}%, validation accuracy {}, {:.0} s",
            m.epoch + 1,
            m.train_loss,
            100.0 * m.train_accuracy,
            m.validation_accuracy
                .map(|v| format!("{:.2}%", 100.0 * v))
                .unwrap_or_else(|| "-".into()),
            m.seconds
        );
    }
    let validation_accuracy = outcome.history.last().and_then(|m| m.validation_accuracy);
    let trained = TrainedModel {
        card: ModelCard {
            spec,
            class_names: train.class_names(),
            key_id: train.key_id(),
            config,
            validation_accuracy,
        },
        model: outcome.model,
    };
    trained.save(&args.out)?;
    println!(
        "model written to {} ({WEIGHTS_FILE}, {CARD_FILE}, metrics.csv)",
        args.out.display()
    );
    Ok(())
}

/// `archnet evaluate`
pub fn evaluate(args: &EvaluateArgs) -> anyhow::Result<()> {
    let TrainedModel { card, model } = TrainedModel::load(&args.model, &archnet_model::device())?;
    let samples = open_evaluation_samples(&args.data, args.split.as_deref(), args.limit)?;
    if samples.shape() != card.spec.input_shape {
        anyhow::bail!(
            "{}: the model takes {:?} samples but the data has {:?}",
            args.data.display(),
            card.spec.input_shape,
            samples.shape()
        );
    }
    ensure_same_key(card.key_id.as_deref(), samples.key_id().as_deref())?;
    let evaluation = evaluate_model(&model, &samples, 256)?;
    print_evaluation(&evaluation, &card.class_names);
    Ok(())
}

pub(crate) fn print_evaluation(e: &Evaluation, class_names: &[String]) {
    println!(
        "accuracy: {:.2}% on {} samples",
        100.0 * e.accuracy,
        e.count
    );
    println!("confusion matrix (rows: true class, columns: predicted):");
    for (i, row) in e.confusion.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>5}")).collect();
        let per_class = e.per_class_accuracy()[i];
        println!(
            "  {:>12} {}  {:>6.2}%",
            class_names.get(i).map(String::as_str).unwrap_or("?"),
            cells.join(""),
            100.0 * per_class
        );
    }
}
