//! The server's path for an untrusted ONNX upload: policy check, then tract's loader and
//! optimiser for MNIST-shaped input. Any panic or crash here is a bug (a refusal is fine).
#![no_main]

use archnet_validate::{ModelPolicy, OnnxClassifier, ValidationLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // libfuzzer-sys aborts on any panic, even one `OnnxClassifier` catches and turns into an
        // error (it guards tract that way). A silent hook lets caught panics unwind as they do in
        // the server; a panic that escapes still fails the run. ARCHNET_FUZZ_STRICT=1 keeps
        // libfuzzer's hook, to find the inputs on which tract itself panics.
        if std::env::var_os("ARCHNET_FUZZ_STRICT").is_none() {
            std::panic::set_hook(Box::new(|_| {}));
        }
    },
    |data: &[u8]| {
    let limits = ValidationLimits {
        batch_size: 2,
        ..ValidationLimits::default()
    };
    if let Ok(model) = OnnxClassifier::load(data, &ModelPolicy::default(), &limits, [1, 28, 28], 10) {
        let _ = model.logits(&[0.5; 2 * 28 * 28], 2);
    }
});
