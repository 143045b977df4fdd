//! Atomic file writes: the contents go to a temporary file in the same directory, which is
//! flushed and renamed over the target, so a reader sees the old file or the new one, never
//! half of one.

use std::{io::Write, path::Path};

/// Who may read the written file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Mode `0666` less the umask, like `std::fs::write` (project and order files).
    Shared,
    /// Mode `0600`: the owner only (keystores).
    Private,
}

/// Whether an existing file at the target is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Replace it.
    Replace,
    /// Keep it and fail with [`std::io::ErrorKind::AlreadyExists`].
    Keep,
}

/// Writes `contents` to `path` atomically (a temporary file of the same directory, flushed to
/// disk, then renamed over `path`). The directory must exist; the temporary file is removed on
/// failure.
pub fn write_atomic(
    path: &Path,
    contents: &[u8],
    access: Access,
    existing: Existing,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match access {
            Access::Shared => 0o666,
            Access::Private => 0o600,
        };
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = access;
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    match existing {
        Existing::Replace => file.persist(path),
        Existing::Keep => file.persist_noclobber(path),
    }
    .map(drop)
    .map_err(|e| e.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_or_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"one", Access::Shared, Existing::Replace).unwrap();
        write_atomic(&path, b"two", Access::Shared, Existing::Replace).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let kept = write_atomic(&path, b"three", Access::Private, Existing::Keep).unwrap_err();
        assert_eq!(kept.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        write_atomic(&path, b"{}", Access::Private, Existing::Keep).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
