//! Exports archnet's base models to ONNX.
//!
//! burn-onnx's experimental exporter traces the model's forward pass twice (batch 2 and 3) and
//! emits opset 18 with a symbolic batch axis; it handles every base model archnet trains (the
//! CNN's adaptive pooling is written as matrix products for that reason). Its tensor names are
//! generated (`tensor_198`), so the graph is then decoded with tract's prost types, its input
//! and output renamed to `input` and `logits`, and archnet's metadata added.

use archnet_model::base::{BaseModel, BaseModelSpec};
use burn::module::Module;
use burn::prelude::*;
use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};
use prost::Message;
use tract_onnx::pb;

use crate::error::{OnnxError, Result};
use crate::{INPUT_NAME, OUTPUT_NAME};

/// Metadata written into an exported model (`metadata_props`), so a model file says what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportInfo {
    /// Key id of the encrypted data the model was trained on (`None`: plain data).
    pub key_id: Option<String>,
    /// Class names in logit order.
    pub class_names: Vec<String>,
}

/// Metadata keys archnet writes (defined beside the validator that reads them).
pub use archnet_validate::metadata;

/// Exports `model` (described by `spec`) to ONNX bytes: IR 8, opset 18, input `input`
/// `[N, C, H, W]` f32 with symbolic `N`, output `logits` `[N, K]`.
pub fn export_model(model: &BaseModel, spec: &BaseModelSpec, info: &ExportInfo) -> Result<Vec<u8>> {
    let device = Device::default();
    let [c, h, w] = spec.input_shape;
    // The exporter moves a clone of the model to its capture device, and batch norm's running
    // statistics are shared between clones: the caller's model would be left on that device,
    // unusable. A copy rebuilt from the record shares nothing with `model`.
    let model = BaseModel::init(spec, &device)
        // It cannot fail for the spec of a model that exists; say so if it ever does.
        .map_err(|e| OnnxError::Export(format!("rebuilding the model for export: {e}")))?
        .load_record(model.clone().into_record());
    // Two traces with different batch sizes tell the exporter which axis is the batch.
    let sample = Tensor::<4>::zeros([2, c, h, w], &device);
    let validation = Tensor::<4>::zeros([3, c, h, w], &device);
    let specs = [InputSpec::new([
        AxisSpec::dynamic("N"),
        AxisSpec::Static,
        AxisSpec::Static,
        AxisSpec::Static,
    ])];
    let traced = OnnxExporter::new()
        .export_dynamic(&model, sample, validation, &specs, BaseModel::forward)
        .map_err(|e| OnnxError::Export(e.to_string()))?;
    let mut proto = pb::ModelProto::decode(traced.as_bytes())
        .map_err(|e| OnnxError::Export(format!("the exporter wrote unreadable protobuf: {e}")))?;
    name_interface(&mut proto)?;
    proto.producer_name = "archnet".into();
    proto.producer_version = env!("CARGO_PKG_VERSION").into();
    let mut props = vec![
        (metadata::VERSION, env!("CARGO_PKG_VERSION").to_string()),
        (metadata::BASE_MODEL, spec.kind.clone()),
        (
            metadata::CLASS_NAMES,
            serde_json::to_string(&info.class_names).expect("strings serialise"),
        ),
    ];
    if let Some(key_id) = &info.key_id {
        props.push((metadata::KEY_ID, key_id.clone()));
    }
    proto.metadata_props = props
        .into_iter()
        .map(|(key, value)| pb::StringStringEntryProto {
            key: key.into(),
            value,
        })
        .collect();
    Ok(proto.encode_to_vec())
}

/// Renames the graph's single input and output to [`INPUT_NAME`] and [`OUTPUT_NAME`], everywhere
/// they are referenced.
fn name_interface(proto: &mut pb::ModelProto) -> Result<()> {
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| OnnxError::Export("the exported model has no graph".into()))?;
    let (old_in, old_out) = match (graph.input.as_slice(), graph.output.as_slice()) {
        ([i], [o]) => (i.name.clone(), o.name.clone()),
        (i, o) => {
            return Err(OnnxError::Export(format!(
                "expected one input and one output, the trace has {} and {}",
                i.len(),
                o.len()
            )));
        }
    };
    let rename = |name: &mut String| {
        if *name == old_in {
            *name = INPUT_NAME.into();
        } else if *name == old_out {
            *name = OUTPUT_NAME.into();
        }
    };
    for node in &mut graph.node {
        node.input.iter_mut().for_each(rename);
        node.output.iter_mut().for_each(rename);
    }
    for value in graph
        .input
        .iter_mut()
        .chain(graph.output.iter_mut())
        .chain(graph.value_info.iter_mut())
    {
        rename(&mut value.name);
    }
    Ok(())
}

/// What [`export_file`] wrote.
pub struct Exported {
    /// The ONNX file.
    pub out: std::path::PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The exported model's card.
    pub card: archnet_model::trained::ModelCard,
}

/// `wrote FILE (SIZE): KIND taking input [N, C, H, W] f32, giving logits [N, K]; trained on …`.
impl std::fmt::Display for Exported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let spec = &self.card.spec;
        let [c, h, w] = spec.input_shape;
        write!(
            f,
            "wrote {} ({}): {} taking input [N, {c}, {h}, {w}] f32, giving logits [N, {}]; trained on {}",
            self.out.display(),
            archnet_data::fsutil::human_bytes(self.bytes),
            spec.kind,
            spec.classes,
            match &self.card.key_id {
                Some(id) => format!("data encrypted with key {id}"),
                None => "plain data".into(),
            }
        )
    }
}

/// Exports the trained model folder `model` (`archnet train`'s output) to the ONNX file `out`,
/// written atomically.
pub fn export_file(
    model: &std::path::Path,
    out: &std::path::Path,
) -> std::result::Result<Exported, crate::HandOffError> {
    let trained = archnet_model::trained::TrainedModel::load(model, &archnet_model::device())?;
    export_trained(trained, out)
}

/// Exports a trained model in memory to the ONNX file `out`, written atomically.
pub fn export_trained(
    trained: archnet_model::trained::TrainedModel,
    out: &std::path::Path,
) -> std::result::Result<Exported, crate::HandOffError> {
    let info = ExportInfo {
        key_id: trained.card.key_id.clone(),
        class_names: trained.card.class_names.clone(),
    };
    let bytes = export_model(&trained.model, &trained.card.spec, &info)?;
    archnet_data::fsutil::write_atomic(out, &bytes, 0o644)?;
    Ok(Exported {
        out: out.to_path_buf(),
        bytes: bytes.len() as u64,
        card: trained.card,
    })
}
