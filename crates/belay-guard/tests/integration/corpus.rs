//! The corpus targets on the test split (issue 19): poisoning recall >= 0.95 with <= 1% false
//! positives on benign descriptions; injection recall >= 0.90 with <= 2% false positives on
//! benign results. The dev split is for tuning; this test never looks at it.

#[path = "../../benches/corpus.rs"]
mod data;

use std::collections::HashMap;

use belay_guard::{InjectionGuard, MetadataGuard};

#[test]
fn the_corpus_is_large_enough_and_split_by_family() {
    let descs = data::descriptions();
    let results = data::results();
    let count =
        |label: &str, rows: &[(&str, &str)]| rows.iter().filter(|(l, _)| *l == label).count();
    let d: Vec<(&str, &str)> = descs
        .iter()
        .map(|r| (r.label.as_str(), r.split.as_str()))
        .collect();
    let r: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r.label.as_str(), r.split.as_str()))
        .collect();
    assert!(
        count("benign", &d) >= 400 && count("poisoned", &d) >= 200,
        "descriptions too few"
    );
    assert!(
        count("benign", &r) >= 300 && count("injected", &r) >= 150,
        "results too few"
    );
    let mut split_of: HashMap<&str, &str> = HashMap::new();
    for (family, split) in descs
        .iter()
        .map(|r| (r.family.as_str(), r.split.as_str()))
        .chain(
            results
                .iter()
                .map(|r| (r.family.as_str(), r.split.as_str())),
        )
    {
        assert_eq!(
            *split_of.entry(family).or_insert(split),
            split,
            "family {family} is in both splits"
        );
    }
}

#[test]
fn poisoning_meets_its_targets_on_the_test_split() -> anyhow::Result<()> {
    let guard = MetadataGuard::new()?;
    let m = data::measure_descriptions(&guard, &data::descriptions(), "test");
    let (recall, fp) = (m.overall.recall(), m.overall.fp_rate());
    assert!(
        recall >= 0.95,
        "poisoning recall {recall:.3} < 0.95; missed {:?}",
        m.misses
    );
    assert!(
        fp <= 0.01,
        "poisoning false-positive rate {fp:.3} > 0.01; flagged {:?}",
        m.false_alarms
    );
    Ok(())
}

#[test]
fn injection_meets_its_targets_on_the_test_split() -> anyhow::Result<()> {
    let guard = InjectionGuard::new()?;
    let m = data::measure_results(&guard, &data::results(), "test");
    let (recall, fp) = (m.overall.recall(), m.overall.fp_rate());
    assert!(
        recall >= 0.90,
        "injection recall {recall:.3} < 0.90; missed {:?}",
        m.misses
    );
    assert!(
        fp <= 0.02,
        "injection false-positive rate {fp:.3} > 0.02; flagged {:?}",
        m.false_alarms
    );
    Ok(())
}

/// What a probe split must keep: recall floors and the most benign rows it may flag.
struct Floors {
    poison_recall: f64,
    poison_fp: usize,
    inject_recall: f64,
    inject_fp: usize,
}

impl Floors {
    fn new(poison_recall: f64, poison_fp: usize, inject_recall: f64, inject_fp: usize) -> Self {
        Self {
            poison_recall,
            poison_fp,
            inject_recall,
            inject_fp,
        }
    }
}

/// Measures `split` with both detectors and asserts `floors` (and that the split is there).
fn assert_probe(split: &str, floors: &Floors) -> anyhow::Result<()> {
    let d = data::measure_descriptions(&MetadataGuard::new()?, &data::descriptions(), split);
    let r = data::measure_results(&InjectionGuard::new()?, &data::results(), split);
    for (what, m, recall, fp, benign_rows) in [
        ("poisoning", &d, floors.poison_recall, floors.poison_fp, 30),
        ("injection", &r, floors.inject_recall, floors.inject_fp, 15),
    ] {
        let c = m.overall;
        assert!(
            c.fp + c.tn >= benign_rows,
            "{split}: too few benign rows for {what}"
        );
        assert!(
            c.recall() >= recall,
            "{split} {what} recall {:.3} < {recall}; missed {:?}",
            c.recall(),
            m.misses
        );
        assert!(
            c.fp <= fp,
            "{split} {what}: {} benign rows flagged (at most {fp}): {:?}",
            c.fp,
            m.false_alarms
        );
    }
    Ok(())
}

/// `probe4` was written in other authors' styles (terse, docs, JSON in descriptions, headings,
/// compliance pretexts, developer comments, more languages, instructions in parameter
/// descriptions) and then tuned on: it must not regress.
#[test]
fn the_tuning_probe_stays_caught() -> anyhow::Result<()> {
    // Poisoning recall and benign flagged, then injection recall and benign flagged.
    assert_probe("probe4", &Floors::new(0.95, 0, 0.85, 1))
}

/// `probe5` was written with probe4, before any tuning, and never tuned on (its numbers were
/// read once before and once after; see tests/data/guard/README.md). The floors are below
/// what was measured (0.633 poisoning recall with 2 of 30 benign flagged, 0.812 injection
/// recall with 1 of 16 benign flagged) so that they catch a regression, not noise.
#[test]
fn the_held_out_probe_keeps_its_floor() -> anyhow::Result<()> {
    assert_probe("probe5", &Floors::new(0.55, 2, 0.75, 1))
}

/// `probe6` was written by another session (2026-12-07, guardspeed) in voices of its own
/// (changelogs, FAQs, config comments, casual chat, Spanish, French, German, Chinese), run
/// before any change and never tuned on: measured 13 of 31 poisoned (2 of 30 benign flagged)
/// and 15 of 16 injected (1 of 16 benign flagged). The floors sit below that, to catch a
/// regression; its low poisoning recall is the open gap (tests/data/guard/README.md).
#[test]
fn the_second_held_out_probe_keeps_its_floor() -> anyhow::Result<()> {
    assert_probe("probe6", &Floors::new(0.35, 2, 0.85, 1))
}

/// `probe7` was written by a third session (2026-12-08, guardvoices) before it read any rule
/// or ran the set, in voices of its own (man pages, SOPs, front matter, migration notes, legal
/// and accessibility pretexts, white-on-white PDF text, profile bios; Italian, Dutch, Polish,
/// Japanese, Korean besides es/fr/de/zh), and never tuned on. Its first run: 18 of 42 poisoned
/// (2 of 45 benign flagged), 17 of 26 injected (8 of 26 benign flagged); after generalising on
/// the dev families: 19 of 42 (2 of 45) and 17 of 26 (3 of 26). The floors sit just below.
#[test]
fn the_third_held_out_probe_keeps_its_floor() -> anyhow::Result<()> {
    assert_probe("probe7", &Floors::new(0.40, 2, 0.60, 3))
}

/// The false-positive budgets hold over every benign row (dev, test and all probes), not only
/// on the test split.
#[test]
fn false_positives_stay_in_budget_over_the_whole_corpus() -> anyhow::Result<()> {
    let meta = MetadataGuard::new()?;
    let inj = InjectionGuard::new()?;
    let descs = data::descriptions();
    let results = data::results();
    let benign_descriptions = descs.iter().filter(|r| r.label == "benign");
    let benign_results = results.iter().filter(|r| r.label == "benign");
    let rows: [(&str, f64, Vec<bool>); 2] = [
        (
            "descriptions",
            0.01,
            benign_descriptions
                .map(|r| data::poisoned(&meta, &r.tool))
                .collect(),
        ),
        (
            "results",
            0.02,
            benign_results
                .map(|r| data::injected(&inj, &r.text))
                .collect(),
        ),
    ];
    for (what, budget, flagged) in rows {
        let hits = flagged.iter().filter(|f| **f).count();
        let rate = hits as f64 / flagged.len() as f64;
        assert!(
            rate <= budget,
            "{hits} of {} benign {what} flagged",
            flagged.len()
        );
    }
    Ok(())
}
