//! The JSON-lines file sink: append-only, one record per line, owner-only permissions,
//! rotated by size.
//!
//! Rotation renames `audit.jsonl` to `audit.SEQ.jsonl`, `SEQ` being its first record, and
//! starts a new file: one atomic rename, nothing shifted, so a crash cannot leave a gap in
//! the names. The chain runs on across files (a new file's first `prev` is the last seal of
//! the one before), so [`log_files`] in order is one chain.

use std::{
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use crate::{AuditKey, AuditSpec, Error, Fsync, Head, Record, chain};

/// The open audit file.
#[derive(Debug)]
pub(crate) struct FileSink {
    path: PathBuf,
    file: File,
    fsync: Fsync,
    /// Bytes in the current file.
    len: u64,
    /// Its first record's number (names it when it is rotated).
    first_seq: Option<u64>,
    rotate_bytes: u64,
    keep_files: usize,
}

/// Old files to delete after a rotation, and where the kept records then start.
#[derive(Debug)]
pub(crate) struct Prune {
    pub(crate) delete: Vec<PathBuf>,
    pub(crate) from: Head,
}

impl FileSink {
    pub(crate) fn open(path: &Path, spec: &AuditSpec) -> Result<Self, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = open_append(path)?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let first_seq = first_record(path)?.map(|r| r.seq);
        Ok(Self {
            path: path.to_owned(),
            file,
            fsync: spec.fsync,
            len,
            first_seq,
            rotate_bytes: spec.rotate_bytes,
            keep_files: spec.keep_files,
        })
    }

    /// Appends the lines in one write (rotating first if they would take the file past
    /// `rotate_bytes`), then syncs per policy. Returns whether it rotated.
    pub(crate) fn append(&mut self, lines: &[&str], first_seq: u64) -> Result<bool, Error> {
        let mut buf = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            buf.push_str(line);
            buf.push('\n');
        }
        let adding = buf.len() as u64;
        let rotate = self.rotate_bytes > 0 && self.len > 0 && self.len + adding > self.rotate_bytes;
        if rotate {
            self.rotate()?;
        }
        self.file
            .write_all(buf.as_bytes())
            .map_err(|e| Error::io(&self.path, e))?;
        if self.fsync == Fsync::Batch {
            self.file
                .sync_data()
                .map_err(|e| Error::io(&self.path, e))?;
        }
        self.len += adding;
        self.first_seq.get_or_insert(first_seq);
        Ok(rotate)
    }

    fn rotate(&mut self) -> Result<(), Error> {
        let first = match self.first_seq {
            Some(seq) => seq,
            None => {
                first_record(&self.path)?
                    .ok_or_else(|| {
                        Error::BadRecord(format!(
                            "cannot rotate {}: its first line is not a record",
                            self.path.display()
                        ))
                    })?
                    .seq
            }
        };
        let target = rotated_path(&self.path, first);
        if target.exists() {
            return Err(Error::BadRecord(format!(
                "cannot rotate {} to {}: that file exists",
                self.path.display(),
                target.display()
            )));
        }
        std::fs::rename(&self.path, &target).map_err(|e| Error::io(&target, e))?;
        self.file = open_append(&self.path)?;
        self.len = 0;
        self.first_seq = None;
        Ok(())
    }

    /// The rotated files beyond `keep_files`, and the point the oldest record kept continues
    /// from; `None` when nothing is to go. The caller records that point before deleting.
    pub(crate) fn prune(&self) -> Result<Option<Prune>, Error> {
        let rotated = rotated_files(&self.path)?;
        if rotated.len() <= self.keep_files {
            return Ok(None);
        }
        let (delete, kept) = rotated.split_at(rotated.len() - self.keep_files);
        let oldest = kept.first().unwrap_or(&self.path);
        let first = first_record(oldest)?.ok_or_else(|| {
            Error::BadRecord(format!(
                "{} does not start with a record; run `belay audit verify`",
                oldest.display()
            ))
        })?;
        Ok(Some(Prune {
            delete: delete.to_vec(),
            from: Head::before(&first),
        }))
    }
}

fn open_append(path: &Path) -> Result<File, Error> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Records hold who did what: readable by the owner only.
        options.mode(0o600);
    }
    options.open(path).map_err(|e| Error::io(path, e))
}

/// `dir/audit.jsonl` with first record 42 → `dir/audit.42.jsonl`.
fn rotated_path(path: &Path, first_seq: u64) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{first_seq}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{first_seq}"),
    };
    path.with_file_name(name)
}

/// The rotated files of the log at `path`, oldest first.
fn rotated_files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir,
        None => Path::new("."),
    };
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let ext = path.extension().map(|e| e.to_string_lossy());
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let middle = name
            .strip_prefix(&*stem)
            .and_then(|rest| rest.strip_prefix('.'));
        let number = match &ext {
            Some(ext) => middle.and_then(|m| m.strip_suffix(&**ext)?.strip_suffix('.')),
            None => middle,
        };
        if let Some(seq) = number.and_then(|n| n.parse::<u64>().ok()) {
            found.push((seq, entry.path()));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Every file of the log at `path` (its configured file), oldest first: the rotated ones,
/// then the current one if it exists. Read in this order they are one chain.
pub fn log_files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files = rotated_files(path)?;
    if path.exists() {
        files.push(path.to_owned());
    }
    Ok(files)
}

/// The first record of `path`, parsed but not checked (`None` for an empty file).
fn first_record(path: &Path) -> Result<Option<Record>, Error> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut line = String::new();
    BufReader::new(file)
        .read_line(&mut line)
        .map_err(|e| Error::io(path, e))?;
    if !line.ends_with('\n') {
        return Ok(None);
    }
    Ok(chain::open(line.trim_end_matches('\n'), None).ok())
}

/// The point the oldest record in the files continues from, or genesis for no records.
pub(crate) fn start(path: &Path) -> Result<Head, Error> {
    for file in log_files(path)? {
        if let Some(first) = first_record(&file)? {
            return Ok(Head::before(&first));
        }
    }
    Ok(Head::genesis())
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

/// The last complete line of the log (the current file, or the newest rotated one when the
/// current one is empty: a crash right after a rotation), cutting a partial last line.
pub(crate) fn last_line(path: &Path) -> Result<Option<String>, Error> {
    let tail = read_tail(path)?;
    if tail.complete_len < tail.len {
        tracing::warn!(
            file = %path.display(),
            bytes = tail.len - tail.complete_len,
            "cutting a partial last audit record (the previous run stopped mid-write)"
        );
        truncate(path, tail.complete_len)?;
    }
    if tail.last.is_some() {
        return Ok(tail.last);
    }
    match rotated_files(path)?.last() {
        Some(newest) => Ok(read_tail(newest)?.last),
        None => Ok(None),
    }
}

/// Every record line after `after_seq`, each checked on its own, for back-filling the store.
pub(crate) fn records_after(
    path: &Path,
    after_seq: u64,
    key: &AuditKey,
) -> Result<Vec<(Record, String)>, Error> {
    let mut out = Vec::new();
    for file in log_files(path)? {
        let reader = BufReader::new(File::open(&file).map_err(|e| Error::io(&file, e))?);
        for line in reader.lines() {
            let line = line.map_err(|e| Error::io(&file, e))?;
            let record = chain::open(&line, Some(key)).map_err(|e| {
                Error::Resume(format!(
                    "{} has a broken record ({e}); run `belay audit verify` and move the file aside",
                    file.display()
                ))
            })?;
            if record.seq > after_seq {
                out.push((record, line));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_carry_the_first_record() -> Result<(), Error> {
        assert_eq!(
            rotated_path(Path::new("/d/audit.jsonl"), 42),
            Path::new("/d/audit.42.jsonl")
        );
        assert_eq!(rotated_path(Path::new("/d/log"), 7), Path::new("/d/log.7"));
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        for name in [
            "audit.jsonl",
            "audit.10.jsonl",
            "audit.9.jsonl",
            "audit.x.jsonl",
            "other.3.jsonl",
        ] {
            std::fs::write(dir.path().join(name), "").map_err(|e| Error::io(name, e))?;
        }
        let names: Vec<_> = log_files(&dir.path().join("audit.jsonl"))?
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(names, ["audit.9.jsonl", "audit.10.jsonl", "audit.jsonl"]);
        Ok(())
    }
}
