//! What archnet accepts as an ONNX model from an untrusted party, checked on the protobuf
//! before tract sees it.
//!
//! The rules, and why:
//! - **Size**: at most [`ModelPolicy::max_bytes`] (512 MiB by default, the server's upload limit).
//! - **Operators**: only [`ALLOWED_OPERATORS`] of the default ONNX domain: what image classifiers
//!   use. Control flow (`If`, `Loop`, `Scan`) and anything that carries a subgraph are refused,
//!   as are local functions and custom domains: they are where a loader is most likely to be
//!   attacked and no classifier needs them.
//! - **No external data**: a tensor stored "beside the model" would make the loader open a path
//!   of the submitter's choosing.
//! - **Window attributes in range**: kernels, strides and dilations ≥ 1, pads ≥ 0, all ≤ 65,536
//!   (fuzzing found a zero kernel side that breaks tract's shape arithmetic).
//! - **One float input, outputs present, opset ≥ 7 and ≤ 24, at most [`ModelPolicy::max_nodes`]
//!   nodes.**

use prost::Message;
use tract_onnx::pb;

use crate::error::{OnnxError, Result};

/// Operators an accepted model may use (default domain `ai.onnx`).
pub const ALLOWED_OPERATORS: [&str; 37] = [
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Div",
    "Dropout",
    "Elu",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Identity",
    "LeakyRelu",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "Mul",
    "Pad",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// Limits applied to an untrusted model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPolicy {
    /// Largest accepted file, in bytes.
    pub max_bytes: u64,
    /// Most graph nodes.
    pub max_nodes: usize,
}

impl ModelPolicy {
    /// The default policy with files of at most `mib` MiB.
    pub fn with_max_mib(mib: u64) -> ModelPolicy {
        ModelPolicy {
            max_bytes: mib << 20,
            ..ModelPolicy::default()
        }
    }
}

impl Default for ModelPolicy {
    fn default() -> Self {
        ModelPolicy {
            max_bytes: 512 << 20,
            max_nodes: 10_000,
        }
    }
}

/// What [`inspect`] found in an accepted model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSummary {
    /// The ONNX IR version.
    pub ir_version: i64,
    /// The default-domain opset.
    pub opset: i64,
    /// `producer_name` as the model states it (untrusted, shown only).
    pub producer: String,
    /// The graph's one input.
    pub input_name: String,
    /// Input dimensions; `None` for a symbolic or unknown one.
    pub input_dims: Vec<Option<i64>>,
    /// The graph's one output.
    pub output_name: String,
    /// Nodes in the graph.
    pub nodes: usize,
    /// Operator types used, sorted, each once.
    pub operators: Vec<String>,
    /// Number of stored weights (elements of all initializers).
    pub parameters: u64,
    /// `metadata_props` as (key, value).
    pub metadata: Vec<(String, String)>,
}

/// `IR …, opset …, N nodes, N weights, producer `…`; operators: …`, as `archnet validate` prints.
impl std::fmt::Display for ModelSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IR {}, opset {}, {} nodes, {} weights, producer `{}`; operators: {}",
            self.ir_version,
            self.opset,
            self.nodes,
            self.parameters,
            self.producer,
            self.operators.join(" ")
        )
    }
}

impl ModelSummary {
    /// The value of metadata entry `key`.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads an ONNX file, refusing one over `policy.max_bytes` before reading it whole.
pub fn read_model(path: &std::path::Path, policy: &ModelPolicy) -> Result<Vec<u8>> {
    let io = |source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > policy.max_bytes {
        return Err(OnnxError::Refused(format!(
            "{}: the model is {size} bytes, the limit is {}",
            path.display(),
            policy.max_bytes
        )));
    }
    std::fs::read(path).map_err(io)
}

/// Decodes `bytes` and checks them against `policy`; returns the protobuf (for the runner) and a
/// summary. Never panics, whatever the bytes.
// Why one function: it is the policy's checklist, one refusal after another, in the order a
// reviewer reads it; each check is a few lines and the larger ones (`check_connections`,
// `tensor_dims`) are functions of their own.
pub fn inspect(bytes: &[u8], policy: &ModelPolicy) -> Result<(pb::ModelProto, ModelSummary)> {
    if bytes.len() as u64 > policy.max_bytes {
        return Err(OnnxError::Refused(format!(
            "the model is {} bytes, the limit is {}",
            bytes.len(),
            policy.max_bytes
        )));
    }
    if bytes.is_empty() {
        return Err(OnnxError::Malformed("the file is empty".into()));
    }
    let proto = pb::ModelProto::decode(bytes).map_err(|e| {
        OnnxError::Malformed(format!(
            "protobuf decoding failed (truncated or not ONNX?): {e}"
        ))
    })?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| OnnxError::Malformed("the model has no graph".into()))?;
    if proto.ir_version < 3 {
        return Err(OnnxError::Malformed(format!(
            "IR version {} is not a model archnet can run (3 or later)",
            proto.ir_version
        )));
    }
    let opset = default_domain_opset(&proto)?;
    if !proto.functions.is_empty() {
        return Err(OnnxError::Refused(
            "the model defines local functions; archnet accepts plain graphs only".into(),
        ));
    }
    if graph.node.len() > policy.max_nodes {
        return Err(OnnxError::Refused(format!(
            "the graph has {} nodes, the limit is {}",
            graph.node.len(),
            policy.max_nodes
        )));
    }
    let mut operators: Vec<String> = Vec::new();
    for node in &graph.node {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(OnnxError::Refused(format!(
                "operator {}:{} (node `{}`) is from a custom domain",
                node.domain, node.op_type, node.name
            )));
        }
        if !ALLOWED_OPERATORS.contains(&node.op_type.as_str()) {
            return Err(OnnxError::Refused(format!(
                "operator `{}` (node `{}`) is not on the allow-list (docs/onnx.md)",
                node.op_type, node.name
            )));
        }
        if node
            .attribute
            .iter()
            .any(|a| a.g.is_some() || !a.graphs.is_empty())
        {
            return Err(OnnxError::Refused(format!(
                "node `{}` carries a subgraph",
                node.name
            )));
        }
        if let Some(t) = node
            .attribute
            .iter()
            .filter_map(|a| a.t.as_ref())
            .find(|t| is_external(t))
        {
            return Err(OnnxError::Refused(format!(
                "constant `{}` refers to external data",
                t.name
            )));
        }
        check_window_attributes(node)?;
        if !operators.contains(&node.op_type) {
            operators.push(node.op_type.clone());
        }
    }
    operators.sort();
    check_connections(graph)?;
    if let Some(t) = graph.initializer.iter().find(|t| is_external(t)) {
        return Err(OnnxError::Refused(format!(
            "weight `{}` refers to external data",
            t.name
        )));
    }
    // Older exporters list weights among the inputs too; the data input is the one that is not.
    let weights: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !weights.contains(&i.name.as_str()))
        .collect();
    let [input] = inputs.as_slice() else {
        return Err(OnnxError::Refused(format!(
            "a classifier takes one input, this model takes {}",
            inputs.len()
        )));
    };
    let output = graph
        .output
        .first()
        .ok_or_else(|| OnnxError::Malformed("the graph has no output".into()))?;
    let input_dims = tensor_dims(input)?;
    let parameters = graph
        .initializer
        .iter()
        .map(|t| t.dims.iter().map(|&d| d.max(0) as u64).product::<u64>())
        .sum();
    let summary = ModelSummary {
        ir_version: proto.ir_version,
        opset,
        producer: format!("{} {}", proto.producer_name, proto.producer_version)
            .trim()
            .to_string(),
        input_name: input.name.clone(),
        input_dims,
        output_name: output.name.clone(),
        nodes: graph.node.len(),
        operators,
        parameters,
        metadata: proto
            .metadata_props
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect(),
    };
    Ok((proto, summary))
}

/// Refuses a graph that reads a tensor nobody defines: every node input and graph output must be
/// a graph input, a weight or some node's output. Found by fuzzing: tract 0.23 indexes a map
/// with an undefined output name and panics.
fn check_connections(graph: &pb::GraphProto) -> Result<()> {
    let defined: std::collections::HashSet<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .chain(graph.initializer.iter().map(|t| t.name.as_str()))
        .chain(
            graph
                .node
                .iter()
                .flat_map(|n| n.output.iter().map(String::as_str)),
        )
        .collect();
    // An empty name is an omitted optional input.
    let undefined = |name: &&String| !name.is_empty() && !defined.contains(name.as_str());
    for node in &graph.node {
        if let Some(name) = node.input.iter().find(undefined) {
            return Err(OnnxError::Malformed(format!(
                "node `{}` reads `{name}`, which nothing defines",
                node.name
            )));
        }
    }
    // Unlike a node input, a graph output cannot be omitted: an empty name is undefined too.
    if let Some(output) = graph
        .output
        .iter()
        .find(|o| !defined.contains(o.name.as_str()))
    {
        return Err(OnnxError::Malformed(format!(
            "graph output `{}` is not produced by any node",
            output.name
        )));
    }
    Ok(())
}

/// Largest kernel, stride, dilation or padding accepted in a window attribute.
const MAX_WINDOW: i64 = 1 << 16;

/// Refuses window attributes (`kernel_shape`, `strides`, `dilations`, `pads`, `group`) outside
/// sane ranges. Found by fuzzing: a `MaxPool` with a zero kernel side makes tract 0.23 subtract
/// with overflow (a panic with overflow checks, a nonsense shape without).
fn check_window_attributes(node: &pb::NodeProto) -> Result<()> {
    for attribute in &node.attribute {
        let (low, values): (i64, Vec<i64>) = match attribute.name.as_str() {
            "kernel_shape" | "strides" | "dilations" => (1, attribute.ints.clone()),
            "pads" => (0, attribute.ints.clone()),
            "group" => (1, vec![attribute.i]),
            _ => continue,
        };
        if let Some(bad) = values.iter().find(|&&v| !(low..=MAX_WINDOW).contains(&v)) {
            return Err(OnnxError::Refused(format!(
                "node `{}` ({}) has {} = {bad}, outside {low}..={MAX_WINDOW}",
                node.name, node.op_type, attribute.name
            )));
        }
    }
    Ok(())
}

/// The opset of the default domain, which must be one tract implements.
fn default_domain_opset(proto: &pb::ModelProto) -> Result<i64> {
    let opset = proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| OnnxError::Malformed("the model imports no default-domain opset".into()))?;
    if !(7..=24).contains(&opset) {
        return Err(OnnxError::Refused(format!(
            "opset {opset} is outside the supported range 7..=24"
        )));
    }
    Ok(opset)
}

fn is_external(t: &pb::TensorProto) -> bool {
    // data_location 1 is EXTERNAL.
    t.data_location == Some(1) || !t.external_data.is_empty()
}

/// The dimensions of a float tensor input (`None` where symbolic).
fn tensor_dims(value: &pb::ValueInfoProto) -> Result<Vec<Option<i64>>> {
    use pb::tensor_shape_proto::dimension::Value;
    let tensor = match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => t,
        _ => {
            return Err(OnnxError::Refused(format!(
                "input `{}` is not a tensor",
                value.name
            )));
        }
    };
    // Element type 1 is FLOAT.
    if tensor.elem_type != 1 {
        return Err(OnnxError::Refused(format!(
            "input `{}` has element type {}, archnet feeds f32 (1)",
            value.name, tensor.elem_type
        )));
    }
    Ok(tensor
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(Value::DimValue(v)) if v > 0 => Some(v),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}
