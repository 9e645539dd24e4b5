//! What a verification found: [`Report`], and [`Problem`] for the first broken record.

use std::path::PathBuf;

use serde::Serialize;

use crate::{Head, Sink};

/// What is wrong with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// The record's content no longer matches its own seal.
    Edited,
    /// The record does not link to the one before it: that one was replaced, or the chain
    /// was rewritten from here.
    BadLink,
    /// One or more records are absent.
    Missing,
    /// A record appears out of order, or twice.
    Reordered,
    /// A line or row is not a record at all (not JSON, no seal, bad fields).
    Malformed,
    /// The log ends early: a partial last line, fewer records than the other sink, or fewer
    /// than its head file says were written.
    Truncated,
    /// File and store, or log and head file, hold different records under the same number.
    Diverged,
    /// An unkeyed (plain SHA-256) record after keyed ones: re-sealed by someone without the
    /// key.
    Unkeyed,
    /// Sealed with another key than the key file's: the wrong key file, or a forgery.
    OtherKey,
}

/// The first broken record found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Sequence number of the broken (or first missing) record.
    pub seq: u64,
    /// Where: the file, the store or the head file.
    pub sink: &'static str,
    /// The file (current or rotated), for file problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Line number in that file (from 1), for file problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// What is wrong.
    pub kind: ProblemKind,
    /// The same, in words.
    pub detail: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Records checked and found sound before the first problem.
    pub records: u64,
    /// The last sound record.
    pub head: Head,
    /// The first problem, if any.
    pub problem: Option<Problem>,
    /// Of the sound records, those sealed without a key (written before audit keys), all at
    /// the start of the log.
    pub legacy: u64,
    /// The first record present: above 1 once rotation has deleted old files (0 when empty).
    pub first: u64,
    /// What this report cannot vouch for, in words (unkeyed records, no head file).
    pub notes: Vec<String>,
}

impl Report {
    /// Whether the chain is intact.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }

    /// Checks an intact chain against a head recorded earlier (elsewhere): a log that no
    /// longer contains that record, or holds a different one under its number, was cut.
    pub fn check_head(mut self, known: &Head, sink: Sink) -> Self {
        if self.problem.is_some() || known.seq == 0 {
            return self;
        }
        let sink = sink_name(sink);
        if self.head.seq < known.seq {
            self.problem = Some(Problem {
                seq: self.head.seq + 1,
                sink,
                file: None,
                line: None,
                kind: ProblemKind::Truncated,
                detail: format!(
                    "the log ends at record {} but record {} existed: records {}..={} were cut",
                    self.head.seq,
                    known.seq,
                    self.head.seq + 1,
                    known.seq
                ),
            });
        } else if self.head.seq == known.seq && self.head.hash != known.hash {
            self.problem = Some(Problem {
                seq: known.seq,
                sink,
                file: None,
                line: None,
                kind: ProblemKind::Diverged,
                detail: format!("record {} is not the one recorded earlier", known.seq),
            });
        }
        self
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            None => write!(
                f,
                "ok: {} records, head {} {}",
                self.records, self.head.seq, self.head.hash
            )?,
            Some(p) => {
                write!(f, "BROKEN at record {} in the {}", p.seq, p.sink)?;
                if let Some(file) = &p.file {
                    write!(f, " {}", file.display())?;
                }
                if let Some(line) = p.line {
                    write!(f, " (line {line})")?;
                }
                write!(
                    f,
                    ": {} ({} records sound before it)",
                    p.detail, self.records
                )?;
            }
        }
        for note in &self.notes {
            write!(f, "; note: {note}")?;
        }
        Ok(())
    }
}

pub(crate) fn sink_name(sink: Sink) -> &'static str {
    match sink {
        Sink::File => "file",
        Sink::Store => "store",
    }
}
