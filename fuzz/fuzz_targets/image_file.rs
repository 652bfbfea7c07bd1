//! One image of an image folder (`cat/0.png` beside a valid `dog/0.png`): a file that is not
//! the image it says must be named, not crash the reader.
#![no_main]

use archnet_data::Split;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    for class in ["cat", "dog"] {
        std::fs::create_dir(dir.path().join(class)).unwrap();
    }
    let good = archnet_data::readers::folder::encode_png([1, 4, 4], &[7; 16]);
    std::fs::write(dir.path().join("dog/0.png"), good).unwrap();
    // Half the inputs as a PNG name, half as a JPEG name: both decoders see every input.
    let name = if data.first().is_some_and(|b| b & 1 == 1) {
        "cat/0.jpg"
    } else {
        "cat/0.png"
    };
    std::fs::write(dir.path().join(name), data).unwrap();
    let _ = archnet_data::open_dataset(dir.path(), Split::Train);
});
