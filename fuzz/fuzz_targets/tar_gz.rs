//! A `.tar.gz` image folder read without unpacking: corrupt gzip, corrupt tar, paths that try to
//! leave the archive, links, and entries that inflate past the size limit must each be an
//! error or be skipped, never a panic or an allocation the header asks for.
#![no_main]

use archnet_data::Split;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("data.tar.gz");
    std::fs::write(&archive, data).unwrap();
    let _ = archnet_data::open_dataset(&archive, Split::Train);
    // Nothing is ever written outside the archive: the folder holds only what we put there.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "the reader wrote files");
});
