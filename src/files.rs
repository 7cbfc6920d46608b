//! Private files: everything BaiTech writes (database, WAL and SHM,
//! generated secrets, dev outbox with live reset links, media, search
//! index, backups) is readable by its own user only, whatever umask the
//! operator's shell or service manager left us.
//!
//! [`private_umask`] sets the process umask to 077 before anything is
//! created, so files are born 0600 and folders 0700 (SQLite, tantivy and
//! our own writers alike). [`secure_data_dir`] also tightens a data dir
//! created by an older version (0755 / 0644) in place.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Sets the process umask to 077: new files 0600, new folders 0700.
pub fn private_umask() {
    // SAFETY: umask only changes the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates `dir` if needed and makes it and the files at its top level
/// (database, WAL, SHM, secrets) owner-only, then does the same for the
/// folders we keep in it (outbox, backups), one level deep.
pub fn secure_data_dir(dir: &Path) -> Result<(), String> {
    private_umask();
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    tighten(dir, 1).map_err(|e| format!("{}: {e}", dir.display()))
}

fn tighten(dir: &Path, depth: u32) -> std::io::Result<()> {
    set_mode(dir, 0o700)?;
    for entry in std::fs::read_dir(dir)?.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            // The media and index trees are large and born private; only
            // small folders are walked.
            if depth > 0 && matches!(entry.file_name().to_str(), Some("outbox" | "backups")) {
                tighten(&entry.path(), depth - 1)?;
            } else {
                set_mode(&entry.path(), 0o700)?;
            }
        } else if meta.is_file() {
            set_mode(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_old_world_readable_data_dir_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir_all(dir.join("outbox")).unwrap();
        std::fs::create_dir_all(dir.join("media/ab")).unwrap();
        for f in [
            "baitech.db",
            "baitech.db-wal",
            "jwt.secret",
            "outbox/email-1.eml",
        ] {
            std::fs::write(dir.join(f), "x").unwrap();
            std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        for d in ["", "outbox", "media"] {
            std::fs::set_permissions(dir.join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        secure_data_dir(&dir).unwrap();
        // (path, expected mode)
        let table = [
            ("", 0o700),
            ("baitech.db", 0o600),
            ("baitech.db-wal", 0o600),
            ("jwt.secret", 0o600),
            ("outbox", 0o700),
            ("outbox/email-1.eml", 0o600),
            ("media", 0o700),
        ];
        for (p, m) in table {
            assert_eq!(mode(&dir.join(p)), m, "{p}");
        }
        // And what is created from now on is born private.
        std::fs::write(dir.join("new"), "x").unwrap();
        assert_eq!(mode(&dir.join("new")), 0o600);
    }
}
