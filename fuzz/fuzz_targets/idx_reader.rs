//! An IDX images file and its labels file, as `archnet data inspect` and every command reads a
//! folder of them: any bytes must give a dataset or an error, never a panic.
#![no_main]

use archnet_data::Split;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first four bytes (little-endian) say how long the images file is; the labels file is
    // the rest (scripts/fuzz.sh makes seeds of that layout from the MNIST sample).
    if data.len() < 4 {
        return;
    }
    let (head, rest) = data.split_at(4);
    let cut = (u32::from_le_bytes(head.try_into().unwrap()) as usize).min(rest.len());
    let (images, labels) = rest.split_at(cut);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train-images-idx3-ubyte"), images).unwrap();
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), labels).unwrap();
    let _ = archnet_data::open_dataset(dir.path(), Split::Train);
    let _ = archnet_data::open_dataset(&dir.path().join("train-images-idx3-ubyte"), Split::Train);
});
