//! The JSON-lines file sink: append-only, one record per line, owner-only permissions.

use std::{
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use crate::{Error, Fsync, Record, chain};

/// The open audit file.
#[derive(Debug)]
pub(crate) struct FileSink {
    path: PathBuf,
    file: File,
    fsync: Fsync,
}

impl FileSink {
    pub(crate) fn open(path: &Path, fsync: Fsync) -> Result<Self, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Records hold who did what: readable by the owner only.
            options.mode(0o600);
        }
        let file = options.open(path).map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            file,
            fsync,
        })
    }

    /// Appends the lines in one write, then syncs per policy.
    pub(crate) fn append(&mut self, lines: &[&str]) -> Result<(), Error> {
        let mut buf = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            buf.push_str(line);
            buf.push('\n');
        }
        self.file
            .write_all(buf.as_bytes())
            .map_err(|e| Error::io(&self.path, e))?;
        if self.fsync == Fsync::Batch {
            self.file
                .sync_data()
                .map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
    }
}

/// The last complete line of the file, and whether an incomplete line follows it.
pub(crate) struct Tail {
    pub(crate) last: Option<String>,
    /// Byte length of the complete lines; past it is a partial line (if `< file length`).
    pub(crate) complete_len: u64,
    pub(crate) len: u64,
}

/// Reads the end of the file backwards, so resuming a large log is quick.
pub(crate) fn read_tail(path: &Path) -> Result<Tail, Error> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Tail {
                last: None,
                complete_len: 0,
                len: 0,
            });
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut window: Vec<u8> = Vec::new();
    let mut start = len;
    // Grow a window backwards until it holds the last newline and the one before it (or the
    // start of the file).
    loop {
        let step = 8192.min(start);
        start -= step;
        let mut buf = vec![0u8; usize::try_from(step).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))
            .map_err(|e| Error::io(path, e))?;
        file.read_exact(&mut buf).map_err(|e| Error::io(path, e))?;
        buf.extend_from_slice(&window);
        window = buf;
        let last_nl = window.iter().rposition(|b| *b == b'\n');
        let line_start = last_nl.and_then(|nl| window[..nl].iter().rposition(|b| *b == b'\n'));
        match (last_nl, line_start) {
            (Some(nl), Some(prev)) => return Ok(tail(len, start, nl, Some(&window[prev + 1..nl]))),
            (Some(nl), None) if start == 0 => return Ok(tail(len, 0, nl, Some(&window[..nl]))),
            (None, _) if start == 0 => {
                return Ok(Tail {
                    last: None,
                    complete_len: 0,
                    len,
                });
            }
            _ => {}
        }
    }
}

fn tail(len: u64, start: u64, nl: usize, line: Option<&[u8]>) -> Tail {
    Tail {
        last: line.map(|l| String::from_utf8_lossy(l).into_owned()),
        complete_len: start + nl as u64 + 1,
        len,
    }
}

/// Cuts a partial last line left by a crash mid-write.
pub(crate) fn truncate(path: &Path, len: u64) -> Result<(), Error> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.set_len(len).map_err(|e| Error::io(path, e))
}

/// Every record line after `after_seq`, checked on its own, for back-filling the store.
pub(crate) fn records_after(path: &Path, after_seq: u64) -> Result<Vec<(Record, String)>, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| Error::io(path, e))?;
        let record = chain::open(&line).map_err(|e| {
            Error::Resume(format!(
                "{} has a broken record ({e}); run `belay audit verify` and move the file aside",
                path.display()
            ))
        })?;
        if record.seq > after_seq {
            out.push((record, line));
        }
    }
    Ok(out)
}
