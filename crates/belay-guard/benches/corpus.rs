//! The labelled corpus in `tests/data/guard/` and the measurements over it, shared by the
//! `guard` bench (which prints the tables) and the corpus test (which asserts the targets).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use belay_guard::{DEFAULT_THRESHOLD, InjectionGuard, MetadataGuard, Severity, Tool};
use serde::Deserialize;

/// A tool at or above this severity counts as flagged poisoned.
pub(crate) const POISON_SEVERITY: Severity = Severity::High;

#[derive(Debug, Deserialize)]
pub(crate) struct DescRow {
    pub(crate) id: String,
    pub(crate) family: String,
    pub(crate) split: String,
    pub(crate) label: String,
    pub(crate) kinds: Vec<String>,
    #[serde(default)]
    pub(crate) lang: Option<String>,
    pub(crate) tool: Tool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResultRow {
    pub(crate) id: String,
    pub(crate) family: String,
    pub(crate) split: String,
    pub(crate) label: String,
    pub(crate) kinds: Vec<String>,
    #[serde(default)]
    pub(crate) lang: Option<String>,
    pub(crate) text: String,
}

pub(crate) fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/guard")
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

pub(crate) fn descriptions() -> Vec<DescRow> {
    load("descriptions.jsonl")
}

pub(crate) fn results() -> Vec<ResultRow> {
    load("results.jsonl")
}

pub(crate) fn poisoned(guard: &MetadataGuard, tool: &Tool) -> bool {
    guard
        .scan_tool(tool)
        .iter()
        .any(|f| f.severity >= POISON_SEVERITY)
}

pub(crate) fn injected(guard: &InjectionGuard, text: &str) -> bool {
    guard.scan(text).score >= DEFAULT_THRESHOLD
}

/// Counts for one row of a table.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) tp: usize,
    pub(crate) fn_: usize,
    pub(crate) fp: usize,
    pub(crate) tn: usize,
}

impl Counts {
    pub(crate) fn add(&mut self, positive: bool, flagged: bool) {
        match (positive, flagged) {
            (true, true) => self.tp += 1,
            (true, false) => self.fn_ += 1,
            (false, true) => self.fp += 1,
            (false, false) => self.tn += 1,
        }
    }
    pub(crate) fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    pub(crate) fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    pub(crate) fn fp_rate(&self) -> f64 {
        ratio(self.fp, self.fp + self.tn)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

/// Overall counts and recall per kind (the first kind of each positive row) on `split`.
pub(crate) struct Measured {
    pub(crate) overall: Counts,
    pub(crate) by_kind: BTreeMap<String, Counts>,
    pub(crate) misses: Vec<String>,
    pub(crate) false_alarms: Vec<String>,
}

pub(crate) fn measure_descriptions(
    guard: &MetadataGuard,
    rows: &[DescRow],
    split: &str,
) -> Measured {
    let mut m = Measured {
        overall: Counts::default(),
        by_kind: BTreeMap::new(),
        misses: vec![],
        false_alarms: vec![],
    };
    for r in rows.iter().filter(|r| r.split == split) {
        let positive = r.label == "poisoned";
        let flagged = poisoned(guard, &r.tool);
        m.overall.add(positive, flagged);
        let kind = r.kinds.first().cloned().unwrap_or_else(|| "benign".into());
        m.by_kind.entry(kind).or_default().add(positive, flagged);
        if positive && !flagged {
            m.misses.push(r.id.clone());
        }
        if !positive && flagged {
            m.false_alarms.push(r.id.clone());
        }
    }
    m
}

pub(crate) fn measure_results(guard: &InjectionGuard, rows: &[ResultRow], split: &str) -> Measured {
    let mut m = Measured {
        overall: Counts::default(),
        by_kind: BTreeMap::new(),
        misses: vec![],
        false_alarms: vec![],
    };
    for r in rows.iter().filter(|r| r.split == split) {
        let positive = r.label == "injected";
        let flagged = injected(guard, &r.text);
        m.overall.add(positive, flagged);
        let kind = r.kinds.first().cloned().unwrap_or_else(|| "benign".into());
        m.by_kind.entry(kind).or_default().add(positive, flagged);
        if positive && !flagged {
            m.misses.push(r.id.clone());
        }
        if !positive && flagged {
            m.false_alarms.push(r.id.clone());
        }
    }
    m
}
