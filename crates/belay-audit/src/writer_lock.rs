//! One writer per audit log.
//!
//! The chain is only a chain if one process appends to it: two writers on the same file (or
//! the same store table) would each continue from the head they read at start, and the log
//! would fork into two sequences that both look sealed. So a writer holds an exclusive
//! advisory lock (`flock`) on `<log>.lock` for as long as it runs; a second writer is refused
//! at start with a message naming the holder. The lock file is beside the log, not the log
//! itself, because rotation renames the log. Readers (`belay audit query|verify`, the
//! console) never take it. The kernel drops the lock when the holder exits, even on a crash,
//! so a stale lock file is harmless.

use std::{
    fs::{File, OpenOptions, TryLockError},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use crate::Error;

/// Held by the writer task; released when dropped.
#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Takes the lock of the log at `log`, or says which process has it.
    pub(crate) fn acquire(log: &Path) -> Result<Self, Error> {
        let path = lock_path(log);
        let mut options = OpenOptions::new();
        options.create(true).read(true).write(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Error::InUse {
                    path: log.to_owned(),
                    holder: holder.trim().to_owned(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        // Who holds it, for the next writer's message; the lock is what counts.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "process {}", std::process::id()));
        Ok(Self { _file: file })
    }
}

fn lock_path(log: &Path) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    log.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_until_the_first_lets_go() -> Result<(), Error> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(Path::new("tmp"), e))?;
        let log = dir.path().join("audit.jsonl");
        let first = WriterLock::acquire(&log)?;
        let message = WriterLock::acquire(&log)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.contains(&format!("process {}", std::process::id()))
                && message.contains("audit.jsonl"),
            "{message}"
        );
        drop(first);
        WriterLock::acquire(&log)?;
        Ok(())
    }
}
