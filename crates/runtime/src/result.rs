//! From /iexec_out to a result: computed.json, the result digest and the
//! result archive.
//!
//! # Result digest
//!
//! As the iExec worker computes it:
//! - with `callback-data` in computed.json: `keccak256(callback bytes)`;
//! - else, if `deterministic-output-path` names a file: `sha256(file bytes)`;
//! - else, if it names a folder: `keccak256(sha256(f1) ‖ sha256(f2) ‖ ...)`
//!   over every regular file below the folder, recursively, sorted by their
//!   path relative to that folder (`/`-separated, byte order). For a flat
//!   folder this is iExec's "sorted by name"; an empty folder digests to
//!   `keccak256("")`.
//!
//! # Result archive
//!
//! A zip of everything in /iexec_out (computed.json included), entries at the
//! archive's root, sorted by path, folders before their content, every
//! timestamp 1980-01-01 00:00, modes 0644/0755, deflate. The same output gives
//! the same archive bytes with the same build of this crate.
//!
//! Only regular files and folders may be left in /iexec_out: a symbolic link
//! (which could point anywhere on the worker) or a special file is refused.

use std::{
    fs::{self, File},
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

use alloy_primitives::{keccak256, B256};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::{write::SimpleFileOptions, CompressionMethod, DateTime, ZipWriter};

use crate::{
    error::{Error, Result},
    logs::Logs,
    request::{TaskWorkspace, COMPUTED_JSON, IEXEC_OUT},
};

/// The contents of `/iexec_out/computed.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputedJson {
    /// Path of the deterministic output, inside /iexec_out.
    #[serde(
        rename = "deterministic-output-path",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deterministic_output_path: Option<String>,
    /// ABI-encoded bytes for the deal's callback, as `0x` hex.
    #[serde(
        rename = "callback-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub callback_data: Option<String>,
}

/// The result of a successful execution, ready to contribute and upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskResult {
    /// What the app wrote in computed.json.
    #[serde(with = "computed_fields")]
    pub computed: ComputedJson,
    /// The result digest (see the module docs); `resultHash` and `resultSeal`
    /// are computed from it.
    pub digest: B256,
    /// Decoded `callback-data`, if any.
    pub callback_data: Option<Vec<u8>>,
    /// Host path of the deterministic output, if computed.json names one.
    pub deterministic_output: Option<PathBuf>,
    /// Host path of the result archive (zip of /iexec_out).
    pub archive: PathBuf,
    /// sha256 of the archive, to check uploads.
    pub archive_sha256: B256,
    /// Total bytes of the files in /iexec_out.
    pub output_bytes: u64,
}

/// [`ComputedJson`] as its two fields, always both: its own serialization
/// skips absent fields, which formats that are not self-describing (the
/// runner protocol's) cannot read back.
mod computed_fields {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::ComputedJson;

    pub(super) fn serialize<S: Serializer>(c: &ComputedJson, s: S) -> Result<S::Ok, S::Error> {
        (&c.deterministic_output_path, &c.callback_data).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ComputedJson, D::Error> {
        let (deterministic_output_path, callback_data) = Deserialize::deserialize(d)?;
        Ok(ComputedJson {
            deterministic_output_path,
            callback_data,
        })
    }
}

/// A problem with the app's output, before the logs are attached.
#[derive(Debug)]
pub(crate) enum OutputProblem {
    MissingComputedJson,
    InvalidComputedJson(String),
    InvalidOutput { path: String, reason: &'static str },
    TooLarge { written_bytes: u64 },
    Worker(Error),
}

impl OutputProblem {
    pub(crate) fn into_error(self, limit_bytes: u64, logs: Logs) -> Error {
        let logs = Box::new(logs);
        match self {
            Self::MissingComputedJson => Error::MissingComputedJson { logs },
            Self::InvalidComputedJson(reason) => Error::InvalidComputedJson { reason, logs },
            Self::InvalidOutput { path, reason } => Error::InvalidOutput {
                path,
                reason: reason.into(),
                logs,
            },
            Self::TooLarge { written_bytes } => Error::OutputTooLarge {
                limit_bytes,
                written_bytes,
                logs,
            },
            Self::Worker(e) => e,
        }
    }
}

impl From<Error> for OutputProblem {
    fn from(e: Error) -> Self {
        Self::Worker(e)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum EntryKind {
    Dir,
    File { size: u64 },
}

/// One entry below /iexec_out, by its `/`-separated relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    rel: String,
    kind: EntryKind,
}

/// Lists everything below `root`, sorted by relative path, refusing
/// anything that is not a regular file or a folder.
fn walk(root: &Path) -> Result<Vec<Entry>, OutputProblem> {
    let mut entries = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let read = fs::read_dir(&dir).map_err(|e| Error::io("cannot list the output", &dir, e))?;
        for item in read {
            let item = item.map_err(|e| Error::io("cannot list the output", &dir, e))?;
            let Some(name) = item.file_name().to_str().map(str::to_owned) else {
                return Err(OutputProblem::InvalidOutput {
                    path: format!("{prefix}{}", item.file_name().to_string_lossy()),
                    reason: "its name is not valid UTF-8",
                });
            };
            let rel = format!("{prefix}{name}");
            let path = item.path();
            // symlink_metadata: never follow a link the app made.
            let meta = fs::symlink_metadata(&path)
                .map_err(|e| Error::io("cannot read the output", &path, e))?;
            let kind = meta.file_type();
            if kind.is_dir() {
                stack.push((path, format!("{rel}/")));
                entries.push(Entry {
                    rel,
                    kind: EntryKind::Dir,
                });
            } else if kind.is_file() {
                entries.push(Entry {
                    rel,
                    kind: EntryKind::File { size: meta.len() },
                });
            } else if kind.is_symlink() {
                return Err(OutputProblem::InvalidOutput {
                    path: rel,
                    reason: "it is a symbolic link",
                });
            } else {
                return Err(OutputProblem::InvalidOutput {
                    path: rel,
                    reason: "it is a special file",
                });
            }
        }
    }
    entries.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(entries)
}

fn sha256_file(path: &Path) -> Result<B256> {
    let mut file = File::open(path).map_err(|e| Error::io("cannot open a result file", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io("cannot read a result file", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(B256::from_slice(&hasher.finalize()))
}

/// Digest of callback data: `keccak256(bytes)`.
pub fn callback_digest(callback_data: &[u8]) -> B256 {
    keccak256(callback_data)
}

/// Digest of a deterministic output on disk: sha256 of a file, or the
/// keccak256 of the sorted per-file sha256 list of a folder (see the module
/// docs). A requester uses it to check a downloaded result against the
/// on-chain digest.
pub fn output_digest(path: &Path) -> Result<B256> {
    let meta =
        fs::symlink_metadata(path).map_err(|e| Error::io("cannot read the output", path, e))?;
    if meta.is_file() {
        return sha256_file(path);
    }
    let entries = walk(path).map_err(|p| match p {
        OutputProblem::Worker(e) => e,
        OutputProblem::InvalidOutput { path: rel, reason } => Error::InvalidRequest {
            reason: format!("{} cannot be digested: {rel}: {reason}", path.display()),
        },
        other => Error::InvalidRequest {
            reason: format!("{other:?}"),
        },
    })?;
    folder_digest(
        path,
        entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::File { .. })),
    )
}

fn folder_digest<'a>(base: &Path, files: impl Iterator<Item = &'a Entry>) -> Result<B256> {
    let mut concat = Vec::new();
    for entry in files {
        concat.extend_from_slice(sha256_file(&base.join(&entry.rel))?.as_slice());
    }
    Ok(keccak256(&concat))
}

fn parse_callback(raw: &str) -> Result<Vec<u8>, OutputProblem> {
    let hex = raw
        .strip_prefix("0x")
        .or_else(|| raw.strip_prefix("0X"))
        .unwrap_or(raw);
    alloy_primitives::hex::decode(hex).map_err(|e| {
        OutputProblem::InvalidComputedJson(format!("callback-data is not 0x-prefixed hex: {e}"))
    })
}

/// Maps a `deterministic-output-path` to a `/`-separated path relative to
/// /iexec_out ("" for /iexec_out itself). Relative paths are taken relative
/// to /iexec_out.
fn resolve_output_path(raw: &str) -> Result<String, OutputProblem> {
    let rest = if let Some(rest) = raw.strip_prefix(IEXEC_OUT) {
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Err(outside(raw));
        }
        rest
    } else if raw.starts_with('/') {
        return Err(outside(raw));
    } else {
        raw
    };
    let mut parts = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(outside(raw)),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

fn outside(raw: &str) -> OutputProblem {
    OutputProblem::InvalidComputedJson(format!(
        "deterministic-output-path {raw:?} is not inside {IEXEC_OUT}"
    ))
}

/// Reads computed.json, checks the output size, computes the digest and
/// writes the archive. Used by every executor once the app has exited with
/// status 0.
pub(crate) fn collect(
    workspace: &TaskWorkspace,
    limit_bytes: u64,
) -> Result<TaskResult, OutputProblem> {
    let out_dir = workspace.output_dir();
    let entries = walk(&out_dir)?;
    let output_bytes: u64 = entries
        .iter()
        .map(|e| match e.kind {
            EntryKind::File { size } => size,
            EntryKind::Dir => 0,
        })
        .sum();
    if output_bytes > limit_bytes {
        return Err(OutputProblem::TooLarge {
            written_bytes: output_bytes,
        });
    }

    let computed_path = out_dir.join(COMPUTED_JSON);
    if !entries
        .iter()
        .any(|e| e.rel == COMPUTED_JSON && e.kind != EntryKind::Dir)
    {
        return Err(OutputProblem::MissingComputedJson);
    }
    let raw = fs::read(&computed_path)
        .map_err(|e| Error::io("cannot read computed.json", &computed_path, e))?;
    let computed: ComputedJson = serde_json::from_slice(&raw).map_err(|e| {
        OutputProblem::InvalidComputedJson(format!("not the expected JSON object: {e}"))
    })?;

    let callback_data = match computed.callback_data.as_deref() {
        None | Some("") => None,
        Some(hex) => Some(parse_callback(hex)?),
    };

    let deterministic = match computed.deterministic_output_path.as_deref() {
        None | Some("") => None,
        Some(raw) => {
            let rel = resolve_output_path(raw)?;
            let kind = if rel.is_empty() {
                Some(EntryKind::Dir)
            } else {
                entries
                    .iter()
                    .find(|e| e.rel == rel)
                    .map(|e| e.kind.clone())
            };
            let Some(kind) = kind else {
                return Err(OutputProblem::InvalidComputedJson(format!(
                    "deterministic-output-path {raw:?} does not exist"
                )));
            };
            Some((rel, kind))
        }
    };

    let digest = match (&callback_data, &deterministic) {
        (Some(bytes), _) => callback_digest(bytes),
        (None, Some((rel, EntryKind::File { .. }))) => sha256_file(&out_dir.join(rel))?,
        (None, Some((rel, EntryKind::Dir))) => {
            let prefix = if rel.is_empty() {
                String::new()
            } else {
                format!("{rel}/")
            };
            let files: Vec<Entry> = entries
                .iter()
                .filter(|e| matches!(e.kind, EntryKind::File { .. }))
                .filter_map(|e| {
                    e.rel.strip_prefix(&prefix).map(|r| Entry {
                        rel: r.to_owned(),
                        kind: e.kind.clone(),
                    })
                })
                .collect();
            // Sorted by the path relative to the folder; the prefix is shared,
            // so the order of `entries` is kept.
            folder_digest(&out_dir.join(rel), files.iter())?
        }
        (None, None) => {
            return Err(OutputProblem::InvalidComputedJson(
                "it has neither \"deterministic-output-path\" nor \"callback-data\"".to_owned(),
            ))
        }
    };

    let archive = workspace.archive_path();
    let archive_sha256 = write_archive(&out_dir, &entries, &archive)?;

    Ok(TaskResult {
        computed,
        digest,
        callback_data,
        deterministic_output: deterministic.map(|(rel, _)| out_dir.join(rel)),
        archive,
        archive_sha256,
        output_bytes,
    })
}

/// Writes the deterministic zip of `entries` (below `base`) to `dest`
/// atomically, and returns its sha256.
fn write_archive(base: &Path, entries: &[Entry], dest: &Path) -> Result<B256> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(parent)
        .map_err(|e| Error::io("cannot create the result archive", parent, e))?;
    let zip_err = |e: zip::result::ZipError| {
        Error::io("cannot write the result archive", dest, io::Error::other(e))
    };
    let mut zip = ZipWriter::new(tmp);
    let dir_options = SimpleFileOptions::default()
        .last_modified_time(DateTime::default())
        .unix_permissions(0o755);
    let file_options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    for entry in entries {
        match entry.kind {
            EntryKind::Dir => zip
                .add_directory(format!("{}/", entry.rel), dir_options)
                .map_err(zip_err)?,
            EntryKind::File { .. } => {
                let path = base.join(&entry.rel);
                zip.start_file(entry.rel.as_str(), file_options)
                    .map_err(zip_err)?;
                let mut file = File::open(&path)
                    .map_err(|e| Error::io("cannot open a result file", &path, e))?;
                io::copy(&mut file, &mut zip)
                    .map_err(|e| Error::io("cannot write the result archive", dest, e))?;
            }
        }
    }
    let mut tmp = zip.finish().map_err(zip_err)?;
    tmp.flush()
        .map_err(|e| Error::io("cannot write the result archive", dest, e))?;
    let digest = sha256_file(tmp.path())?;
    tmp.persist(dest)
        .map_err(|e| Error::io("cannot move the result archive in place", dest, e.error))?;
    Ok(digest)
}

/// How much a result archive may expand to when it is extracted: a worker (or whoever
/// wrote the archive) cannot fill the reader's disk with a zip bomb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Entries (files and folders) at most.
    pub max_entries: usize,
    /// Bytes of one extracted file at most.
    pub max_entry_bytes: u64,
    /// Bytes of all extracted files together at most.
    pub max_total_bytes: u64,
}

impl Default for ArchiveLimits {
    /// 10,000 entries, 256 MiB per file, 1 GiB in all.
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_entry_bytes: 256 << 20,
            max_total_bytes: 1 << 30,
        }
    }
}

/// Extracts a result archive into `dest` and computes its result digest, as the worker did:
/// what a requester runs to check a downloaded result against the on-chain digest. Entries
/// that would land outside `dest` are refused, and so is an archive that expands beyond
/// [`ArchiveLimits::default`].
pub fn archive_digest(archive: &[u8], dest: &Path) -> Result<B256> {
    archive_digest_with_limits(archive, dest, &ArchiveLimits::default())
}

/// [`archive_digest`] with other limits.
pub fn archive_digest_with_limits(
    archive: &[u8],
    dest: &Path,
    limits: &ArchiveLimits,
) -> Result<B256> {
    let invalid = |reason: String| Error::InvalidRequest { reason };
    let mut zip = zip::ZipArchive::new(io::Cursor::new(archive))
        .map_err(|e| invalid(format!("the result archive is not a zip file: {e}")))?;
    if zip.len() > limits.max_entries {
        return Err(invalid(format!(
            "the result archive has {} entries, more than the limit of {}: refusing it (a zip \
             bomb, or a result too large to read here)",
            zip.len(),
            limits.max_entries
        )));
    }
    fs::create_dir_all(dest).map_err(|e| Error::io("cannot create", dest, e))?;
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let entry = zip
            .by_index(i)
            .map_err(|e| invalid(format!("unreadable result archive entry: {e}")))?;
        let rel = entry.enclosed_name().ok_or_else(|| {
            invalid(format!(
                "the result archive entry {:?} points outside its folder",
                entry.name()
            ))
        })?;
        let path = dest.join(rel);
        if entry.is_dir() {
            fs::create_dir_all(&path).map_err(|e| Error::io("cannot create", &path, e))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        }
        let name = entry.name().to_owned();
        let left = limits.max_total_bytes.saturating_sub(total);
        let cap = limits.max_entry_bytes.min(left);
        let mut out = File::create(&path).map_err(|e| Error::io("cannot write", &path, e))?;
        // Read one byte more than allowed: the declared size of an entry may lie.
        let written = io::copy(&mut entry.take(cap.saturating_add(1)), &mut out)
            .map_err(|e| Error::io("cannot extract", &path, e))?;
        if written > cap {
            drop(out);
            let _ = fs::remove_file(&path);
            return Err(invalid(if cap == limits.max_entry_bytes {
                format!(
                    "the result archive entry {name:?} expands beyond {} bytes, the limit of \
                     one file: refusing it (a zip bomb, or a result too large to read here)",
                    limits.max_entry_bytes
                )
            } else {
                format!(
                    "the result archive expands beyond {} bytes in all, the limit: refusing \
                     it (a zip bomb, or a result too large to read here)",
                    limits.max_total_bytes
                )
            }));
        }
        total += written;
    }
    let computed_path = dest.join(COMPUTED_JSON);
    let text = fs::read(&computed_path)
        .map_err(|_| invalid("the result archive has no computed.json".into()))?;
    let computed: ComputedJson = serde_json::from_slice(&text)
        .map_err(|e| invalid(format!("the archive's computed.json is invalid: {e}")))?;
    if let Some(hex) = computed.callback_data.as_deref() {
        let bytes = parse_callback(hex).map_err(|p| invalid(format!("{p:?}")))?;
        return Ok(callback_digest(&bytes));
    }
    let raw = computed.deterministic_output_path.ok_or_else(|| {
        invalid("the archive's computed.json names no deterministic-output-path".into())
    })?;
    let rel = resolve_output_path(&raw).map_err(|p| invalid(format!("{p:?}")))?;
    output_digest(&dest.join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> (tempfile::TempDir, TaskWorkspace) {
        let dir = tempfile::tempdir().unwrap();
        let ws = TaskWorkspace::create(dir.path()).unwrap();
        (dir, ws)
    }

    fn write(ws: &TaskWorkspace, rel: &str, bytes: &[u8]) {
        let path = ws.output_dir().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn sha256(bytes: &[u8]) -> B256 {
        B256::from_slice(&Sha256::digest(bytes))
    }

    #[test]
    fn file_digest_is_its_sha256() {
        let (_d, ws) = workspace();
        write(&ws, "result.txt", b"42\n");
        write(
            &ws,
            COMPUTED_JSON,
            br#"{"deterministic-output-path":"/iexec_out/result.txt"}"#,
        );
        let result = collect(&ws, 1 << 20).unwrap();
        assert_eq!(result.digest, sha256(b"42\n"));
        assert_eq!(
            result.deterministic_output,
            Some(ws.output_dir().join("result.txt"))
        );
        assert_eq!(result.callback_data, None);
        assert!(result.archive.is_file());
    }

    #[test]
    fn folder_digest_hashes_sorted_file_digests() {
        let (_d, ws) = workspace();
        write(&ws, "res/b.txt", b"b");
        write(&ws, "res/a.txt", b"a");
        write(&ws, "res/sub/c.txt", b"c");
        write(
            &ws,
            COMPUTED_JSON,
            br#"{"deterministic-output-path":"/iexec_out/res/"}"#,
        );
        let result = collect(&ws, 1 << 20).unwrap();
        let mut concat = Vec::new();
        for part in [b"a", b"b", b"c"] {
            concat.extend_from_slice(sha256(part).as_slice());
        }
        assert_eq!(result.digest, keccak256(&concat));
        assert_eq!(
            output_digest(&ws.output_dir().join("res")).unwrap(),
            result.digest
        );
        assert_eq!(
            output_digest(&ws.output_dir().join("res/a.txt")).unwrap(),
            sha256(b"a")
        );
    }

    #[test]
    fn callback_data_digest_is_keccak_of_the_bytes() {
        let (_d, ws) = workspace();
        write(&ws, COMPUTED_JSON, br#"{"callback-data":"0x0102ff"}"#);
        let result = collect(&ws, 1 << 20).unwrap();
        assert_eq!(result.callback_data.as_deref(), Some(&[1u8, 2, 0xff][..]));
        assert_eq!(result.digest, keccak256([1u8, 2, 0xff]));
    }

    #[test]
    fn computed_json_problems() {
        let cases: [(&[u8], &str); 6] = [
            (b"not json", "expected JSON"),
            (br#"{}"#, "neither"),
            (
                br#"{"deterministic-output-path":"/etc/passwd"}"#,
                "not inside",
            ),
            (
                br#"{"deterministic-output-path":"/iexec_out/../x"}"#,
                "not inside",
            ),
            (
                br#"{"deterministic-output-path":"/iexec_out/nope"}"#,
                "does not exist",
            ),
            (br#"{"callback-data":"0xzz"}"#, "hex"),
        ];
        for (json, expected) in cases {
            let (_d, ws) = workspace();
            write(&ws, COMPUTED_JSON, json);
            match collect(&ws, 1 << 20) {
                Err(OutputProblem::InvalidComputedJson(reason)) => {
                    assert!(
                        reason.contains(expected),
                        "{reason} should mention {expected}"
                    )
                }
                other => panic!("{json:?}: unexpected {other:?}"),
            }
        }
        let (_d, ws) = workspace();
        write(&ws, "result.txt", b"x");
        assert!(matches!(
            collect(&ws, 1 << 20),
            Err(OutputProblem::MissingComputedJson)
        ));
    }

    #[test]
    fn relative_paths_are_inside_iexec_out() {
        assert_eq!(resolve_output_path("/iexec_out").unwrap(), "");
        assert_eq!(resolve_output_path("/iexec_out/./a//b/").unwrap(), "a/b");
        assert_eq!(resolve_output_path("a.txt").unwrap(), "a.txt");
        assert!(resolve_output_path("/iexec_outside/a").is_err());
    }

    #[test]
    fn size_cap_and_symlinks() {
        let (_d, ws) = workspace();
        write(&ws, "big.bin", &[0u8; 1000]);
        write(
            &ws,
            COMPUTED_JSON,
            br#"{"deterministic-output-path":"/iexec_out/big.bin"}"#,
        );
        assert!(
            matches!(collect(&ws, 999), Err(OutputProblem::TooLarge { written_bytes }) if written_bytes > 1000)
        );

        let (_d, ws) = workspace();
        write(
            &ws,
            COMPUTED_JSON,
            br#"{"deterministic-output-path":"/iexec_out/link"}"#,
        );
        std::os::unix::fs::symlink("/etc/passwd", ws.output_dir().join("link")).unwrap();
        assert!(
            matches!(collect(&ws, 1 << 20), Err(OutputProblem::InvalidOutput { path, .. }) if path == "link")
        );
    }

    /// A zip of `entries` (name, content), deflated.
    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = ZipWriter::new(io::Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, bytes) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn l4_zip_bomb_is_refused_before_it_fills_the_disk() {
        // 64 MiB of zeros deflate to about 64 KiB: a small archive that expands 1000-fold.
        let zeros = vec![0u8; 64 << 20];
        let bomb = zip_of(&[
            (
                "computed.json",
                br#"{"deterministic-output-path":"/iexec_out/a"}"#,
            ),
            ("a", &zeros),
            ("b", &zeros),
        ]);
        assert!(bomb.len() < 1 << 20, "the bomb is {} bytes", bomb.len());
        let limits = ArchiveLimits {
            max_entries: 100,
            max_entry_bytes: 1 << 20,
            max_total_bytes: 4 << 20,
        };
        let dir = tempfile::tempdir().unwrap();
        let err = archive_digest_with_limits(&bomb, dir.path(), &limits).unwrap_err();
        assert!(err.to_string().contains("zip bomb"), "{err}");
        assert!(err.to_string().contains("limit of one file"), "{err}");
        // Nothing beyond the limit reached the disk.
        let on_disk: u64 = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(on_disk <= limits.max_total_bytes, "{on_disk} bytes written");

        // Many files under the per-file limit hit the total limit.
        let chunk = vec![0u8; 1 << 20];
        let names: Vec<String> = (0..8).map(|i| format!("f{i}")).collect();
        let mut entries: Vec<(&str, &[u8])> =
            names.iter().map(|n| (n.as_str(), &chunk[..])).collect();
        entries.push((
            "computed.json",
            br#"{"deterministic-output-path":"/iexec_out/f0"}"#,
        ));
        let many = zip_of(&entries);
        let dir = tempfile::tempdir().unwrap();
        let err = archive_digest_with_limits(&many, dir.path(), &limits).unwrap_err();
        assert!(err.to_string().contains("in all"), "{err}");

        // Too many entries.
        let names: Vec<String> = (0..101).map(|i| format!("e{i}")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let dir = tempfile::tempdir().unwrap();
        let err = archive_digest_with_limits(&zip_of(&entries), dir.path(), &limits).unwrap_err();
        assert!(err.to_string().contains("101 entries"), "{err}");

        // A small honest archive still reads under the same limits.
        let ok = zip_of(&[
            (
                "computed.json",
                br#"{"deterministic-output-path":"/iexec_out/a"}"#,
            ),
            ("a", b"hello"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let digest = archive_digest_with_limits(&ok, dir.path(), &limits).unwrap();
        assert_eq!(digest, sha256(b"hello"));
    }

    #[test]
    fn archive_is_deterministic_and_complete() {
        let make = |mtime: std::time::SystemTime| {
            let (d, ws) = workspace();
            write(&ws, "z.txt", b"last");
            write(&ws, "a/nested.txt", b"nested");
            write(
                &ws,
                COMPUTED_JSON,
                br#"{"deterministic-output-path":"/iexec_out/z.txt"}"#,
            );
            for rel in ["z.txt", "a/nested.txt", COMPUTED_JSON] {
                let file = File::options()
                    .write(true)
                    .open(ws.output_dir().join(rel))
                    .unwrap();
                file.set_modified(mtime).unwrap();
            }
            let result = collect(&ws, 1 << 20).unwrap();
            (d, fs::read(&result.archive).unwrap(), result.archive_sha256)
        };
        let epoch = std::time::SystemTime::UNIX_EPOCH;
        let (_d1, first, sha1) = make(epoch + std::time::Duration::from_secs(1_000_000));
        let (_d2, second, sha2) = make(epoch + std::time::Duration::from_secs(2_000_000_000));
        assert_eq!(first, second);
        assert_eq!(sha1, sha256(&first));
        assert_eq!(sha1, sha2);

        let mut zip = zip::ZipArchive::new(io::Cursor::new(first)).unwrap();
        let names: Vec<&str> = zip.file_names().collect();
        assert_eq!(names, ["a/", "a/nested.txt", "computed.json", "z.txt"]);
        let mut text = String::new();
        zip.by_name("a/nested.txt")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "nested");
    }
}
