//! The chain walk: records fed one at a time, each judged once the next is seen.
//!
//! Streaming with one record of look-ahead (enough to tell a swapped pair from a gap), so
//! verifying a large log needs constant memory. Each record's own seal is checked before it
//! gets here (`chain::open` under the key); the walk checks the links, the count, that no
//! unkeyed record follows a keyed one, and that the record the head file names is the one
//! present.

use std::{path::Path, sync::Arc};

use crate::{
    Head, Problem, ProblemKind, Record, Report, Sink, chain::LineError, report::sink_name,
};

/// Where an item was read: a file and line, or a store row.
pub(crate) type Place = Option<(Arc<Path>, u64)>;

/// One item of a walk: its place and either a record or why it is not one.
pub(crate) type Item = (Place, Result<Record, Problem>);

pub(crate) struct Walker {
    sink: &'static str,
    /// What the next record continues from; `None` until the first record when the start is
    /// not known (files whose oldest were rotated away, without a head file).
    expect: Option<Head>,
    /// The head file's last record, to compare when the walk passes it and at the end.
    known: Option<Head>,
    records: u64,
    legacy: u64,
    keyed: bool,
    first: Option<u64>,
    pending: Option<Item>,
    problem: Option<Problem>,
}

impl Walker {
    /// A walk of `sink` from `start` (`None`: from wherever its first record continues).
    pub(crate) fn new(sink: Sink, start: Option<Head>, known: Option<Head>) -> Self {
        Self {
            sink: sink_name(sink),
            expect: start,
            known: known.filter(|k| k.seq > 0),
            records: 0,
            legacy: 0,
            keyed: false,
            first: None,
            pending: None,
            problem: None,
        }
    }

    /// Feeds the next item; returns false once a problem is found.
    pub(crate) fn push(&mut self, item: Item) -> bool {
        if let Some(current) = self.pending.replace(item) {
            let next = self
                .pending
                .as_ref()
                .and_then(|(_, r)| r.as_ref().ok())
                .map(|r| r.seq);
            self.problem = self.judge(current, next);
        }
        self.problem.is_none()
    }

    pub(crate) fn finish(mut self) -> Report {
        if self.problem.is_none()
            && let Some(current) = self.pending.take()
        {
            self.problem = self.judge(current, None);
        }
        let head = self.expect.clone().unwrap_or_else(Head::genesis);
        if self.problem.is_none()
            && let Some(known) = &self.known
            && head.seq < known.seq
        {
            let detail = format!(
                "the log ends at record {} but the head file says record {} was written: \
                 records {}..={} were cut",
                head.seq,
                known.seq,
                head.seq + 1,
                known.seq
            );
            self.problem = Some(self.problem(head.seq + 1, None, ProblemKind::Truncated, detail));
        }
        Report {
            records: self.records,
            head,
            problem: self.problem,
            legacy: self.legacy,
            first: self.first.unwrap_or(0),
            notes: Vec::new(),
        }
    }

    fn problem(&self, seq: u64, place: Place, kind: ProblemKind, detail: String) -> Problem {
        let (file, line) = match place {
            Some((file, line)) => (Some(file.to_path_buf()), Some(line)),
            None => (None, None),
        };
        Problem {
            seq,
            sink: self.sink,
            file,
            line,
            kind,
            detail,
        }
    }

    fn judge(&mut self, (place, item): Item, next: Option<u64>) -> Option<Problem> {
        let r = match item {
            Ok(r) => r,
            Err(mut p) => {
                if p.seq == 0 {
                    p.seq = self.expect.as_ref().map_or(1, |e| e.seq + 1);
                }
                return Some(p);
            }
        };
        let expect = match &self.expect {
            // Records older than where the head file says the kept ones start (a crash
            // between noting a rotation and deleting its files) are simply more to check.
            Some(e) if self.first.is_some() || r.seq > e.seq => e.clone(),
            _ => Head::before(&r),
        };
        self.first.get_or_insert(r.seq);
        let want = expect.seq + 1;
        if r.seq == want {
            if r.prev != expect.hash {
                let detail = if want == 1 {
                    "record 1 does not start the chain (its prev is not the genesis hash)".into()
                } else if self.records == 0 {
                    format!(
                        "record {want} does not continue from record {} (where the head file \
                         says the kept records start)",
                        expect.seq
                    )
                } else {
                    format!(
                        "record {want} links to a record {} that is not the one present: record {} \
                         was replaced, or the chain was rewritten from here",
                        expect.seq, expect.seq
                    )
                };
                return Some(self.problem(r.seq, place, ProblemKind::BadLink, detail));
            }
            match r.key {
                Some(_) => self.keyed = true,
                None if self.keyed => {
                    let detail = format!(
                        "record {} is sealed without a key (plain SHA-256) after keyed records: \
                         it was re-sealed by someone without the key",
                        r.seq
                    );
                    return Some(self.problem(r.seq, place, ProblemKind::Unkeyed, detail));
                }
                None => self.legacy += 1,
            }
            if let Some(known) = &self.known
                && known.seq == r.seq
                && known.hash != r.hash
            {
                let detail = format!(
                    "record {} is not the one the head file says was written: the log was \
                     replaced",
                    r.seq
                );
                return Some(self.problem(r.seq, place, ProblemKind::Diverged, detail));
            }
            self.records += 1;
            self.expect = Some(Head::of(&r));
            return None;
        }
        if r.seq > want {
            if next == Some(want) {
                let detail = format!("record {want} comes after record {}", r.seq);
                return Some(self.problem(want, place, ProblemKind::Reordered, detail));
            }
            let detail = match (r.seq - 1 == want, self.records == 0) {
                (_, true) if want > 1 => format!(
                    "records {want}..={} are missing from the start of the log (the head file \
                     says the kept records start at {want})",
                    r.seq - 1
                ),
                (true, _) => format!(
                    "record {want} is missing (record {} follows record {})",
                    r.seq,
                    want - 1
                ),
                (false, _) => format!("records {want}..={} are missing", r.seq - 1),
            };
            return Some(self.problem(want, place, ProblemKind::Missing, detail));
        }
        let detail = if r.seq == expect.seq && r.hash == expect.hash {
            format!("record {} appears twice", r.seq)
        } else {
            format!("record {} comes after record {}", r.seq, expect.seq)
        };
        Some(self.problem(r.seq, place, ProblemKind::Reordered, detail))
    }
}

/// The problem a line that is not a sound record on its own makes.
pub(crate) fn line_problem(sink: Sink, place: Place, e: LineError) -> Problem {
    let (seq, kind, detail) = match e {
        LineError::Malformed(why) => (0, ProblemKind::Malformed, why),
        LineError::BadSeal { seq } => (
            seq,
            ProblemKind::Edited,
            format!("record {seq} was edited: its content no longer matches its seal"),
        ),
        LineError::OtherKey { seq, key } => (
            seq,
            ProblemKind::OtherKey,
            format!(
                "record {seq} was sealed with key {key}, not the key file's: point [audit] \
                 key_file at the key that wrote this log, or the record was forged"
            ),
        ),
    };
    let (file, line) = match place {
        Some((file, line)) => (Some(file.to_path_buf()), Some(line)),
        None => (None, None),
    };
    Problem {
        seq,
        sink: sink_name(sink),
        file,
        line,
        kind,
        detail,
    }
}
