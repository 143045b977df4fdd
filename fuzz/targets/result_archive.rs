//! A downloaded result archive, as a requester checks it: any bytes through
//! `poco_runtime::archive_digest`, which must extract inside its folder or refuse.

use afl::fuzz;

fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let dest = dir.path().join("out");
    fuzz!(|bytes: &[u8]| {
        let _ = std::fs::remove_dir_all(&dest);
        let _ = poco_runtime::archive_digest(bytes, &dest);
        // Nothing lands beside the destination folder.
        for entry in std::fs::read_dir(dir.path()).expect("the temporary folder") {
            let name = entry.expect("an entry").file_name();
            assert_eq!(name, "out", "the archive wrote outside its folder");
        }
    });
}
