//! A CIFAR-10 binary batch file, read as `--data data_batch_1.bin` would be.
#![no_main]

use archnet_data::Split;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data_batch_1.bin");
    std::fs::write(&file, data).unwrap();
    let _ = archnet_data::open_dataset(&file, Split::Train);
    let _ = archnet_data::open_dataset(dir.path(), Split::Train);
});
