//! An exclusive lock on the data directory, held by `serve` for its whole life.
//!
//! `restore` takes the same lock and so refuses to run while a server holds
//! the data dir. The lock is an OS advisory lock (`flock`): it goes away with
//! the process, even after `kill -9`.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Held while alive; dropping it releases the data directory.
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock, or says who is likely holding it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, String> {
        let path = data_dir.join("baitech.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: flock on a file descriptor we own; no memory is shared.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(format!(
                "{} is in use by another baitech process (is a server running?)",
                data_dir.display()
            ));
        }
        Ok(DataDirLock { _file: file })
    }
}
