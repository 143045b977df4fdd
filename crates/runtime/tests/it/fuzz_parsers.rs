//! The bytes a stranger controls in the runtime: the framed postcard stream between the
//! executor and its runners (a runner that runs a hostile module), and a downloaded result
//! archive. Any input is decoded or refused without a panic, and an archive never writes
//! outside its folder. The long runs are the AFL++ targets `runner_frames` and
//! `result_archive` in `fuzz/`.

use std::{
    fs,
    io::{Cursor, Write},
    path::Path,
};

use poco_runtime::{archive_digest, callback_digest, fuzzing::runner_frames, output_digest};
use proptest::prelude::*;
use zip::{write::SimpleFileOptions, CompressionMethod, ZipWriter};

use crate::common::sha256;

/// Frames (`u32` little-endian length, then the bytes) around `payloads`.
fn framed(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// A zip of `(name, bytes)` entries; names ending in `/` are folders.
fn zip_of(entries: &[(String, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let method = if deflate {
        CompressionMethod::Deflated
    } else {
        CompressionMethod::Stored
    };
    let options = SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        // The writer refuses some names (a second entry of the same name): leave those out.
        if let Some(dir) = name.strip_suffix('/') {
            let _ = zip.add_directory(dir, options);
        } else if zip.start_file(name.as_str(), options).is_ok() {
            zip.write_all(bytes).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

/// Runs `archive_digest` into `root/out`; nothing may appear in `root` beside `out`.
fn digest_inside(archive: &[u8]) -> Result<Option<alloy_primitives::B256>, TestCaseError> {
    let root = tempfile::tempdir().unwrap();
    let digest = archive_digest(archive, &root.path().join("out")).ok();
    for entry in fs::read_dir(root.path()).unwrap() {
        let name = entry.unwrap().file_name();
        prop_assert_eq!(name, "out", "the archive wrote outside its folder");
    }
    Ok(digest)
}

fn entry_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("computed.json".to_string()),
        Just("result.bin".to_string()),
        Just("../escape".to_string()),
        Just("/etc/escape".to_string()),
        Just("a/../../escape".to_string()),
        Just("C:\\escape".to_string()),
        Just("dir/".to_string()),
        "[a-z./\\\\]{1,12}",
        any::<String>(),
    ]
}

fn computed_json() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(br#"{"deterministic-output-path":"/iexec_out/result.bin"}"#.to_vec()),
        Just(br#"{"deterministic-output-path":"/iexec_out"}"#.to_vec()),
        Just(br#"{"deterministic-output-path":"/iexec_out/../../etc"}"#.to_vec()),
        "0x[0-9a-f]{0,16}".prop_map(|h| format!(r#"{{"callback-data":"{h}"}}"#).into_bytes()),
        "[ -~]{0,40}"
            .prop_map(|p| format!(r#"{{"deterministic-output-path":{p:?}}}"#).into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_runner_bytes_are_decoded_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        runner_frames(&bytes);
    }

    #[test]
    fn any_runner_frames_are_decoded_or_refused(payloads in proptest::collection::vec(
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            // Variant tags first, then anything: reaches the messages' fields.
            (0u8..7, proptest::collection::vec(any::<u8>(), 0..64))
                .prop_map(|(tag, rest)| [vec![tag], rest].concat()),
        ], 0..6)) {
        runner_frames(&framed(&payloads));
    }

    /// A frame announcing more than the cap is refused before its bytes are read.
    #[test]
    fn frame_size_cap_holds(len in (1u32 << 30) + 1.., rest in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut bytes = len.to_le_bytes().to_vec();
        bytes.extend(rest);
        prop_assert_eq!(runner_frames(&bytes), 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_archive_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        digest_inside(&bytes)?;
    }

    /// Zips with hostile names and any computed.json: refused, or extracted inside.
    #[test]
    fn hostile_zips_stay_inside(
        entries in proptest::collection::vec((entry_name(), proptest::collection::vec(any::<u8>(), 0..32)), 0..5),
        computed in computed_json(),
        deflate in any::<bool>(),
    ) {
        let mut entries = entries;
        entries.push(("computed.json".to_string(), computed));
        digest_inside(&zip_of(&entries, deflate))?;
    }

    /// A well-formed result archive digests as its deterministic output or callback does.
    #[test]
    fn result_archive_digest_is_the_output_digest(
        content in proptest::collection::vec(any::<u8>(), 0..256),
        callback in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32)),
        deflate in any::<bool>(),
    ) {
        let computed = match &callback {
            Some(data) => format!(r#"{{"callback-data":"0x{}"}}"#, alloy_primitives::hex::encode(data)),
            None => r#"{"deterministic-output-path":"/iexec_out/result.bin"}"#.to_string(),
        };
        let archive = zip_of(
            &[("computed.json".into(), computed.into_bytes()), ("result.bin".into(), content.clone())],
            deflate,
        );
        let digest = digest_inside(&archive)?.expect("a well-formed archive digests");
        let expected = match &callback {
            Some(data) => callback_digest(data),
            None => {
                let dir = tempfile::tempdir().unwrap();
                let file = dir.path().join("result.bin");
                fs::write(&file, &content).unwrap();
                prop_assert_eq!(output_digest(Path::new(&file)).unwrap(), sha256(&content));
                sha256(&content)
            }
        };
        prop_assert_eq!(digest, expected);
    }
}
