//! `belay-loadgen compare`: the same load against a server directly (the baseline) and through
//! something in front of it (the gateway), as one Markdown table of what the middle adds, then
//! the gateway's targets checked.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use crate::run::RunResult;
use crate::table::{latency, read_runs, thousands, warnings};

/// Options of `belay-loadgen compare`.
#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// Files of JSON lines from `belay-loadgen run` (standard input if none).
    files: Vec<PathBuf>,

    /// Label of the baseline runs; every other run is compared with the baseline run of the
    /// same transport and session count.
    #[arg(long, default_value = "direct")]
    baseline: String,

    /// Add columns for diagnosis: p90, max, errors, CPU cores per measured process,
    /// load generator and the rest of the machine.
    #[arg(long)]
    detail: bool,
}

/// The gateway's targets (README, 2 cores): latency it may add at the median, and the share
/// of direct throughput it must keep.
const ADDED_P50_MS: f64 = 0.3;
const MIN_RATIO: f64 = 0.70;

/// Reads the runs and prints the table and the target check.
pub(crate) fn print(args: &CompareArgs) -> anyhow::Result<()> {
    let runs = read_runs(&args.files)?;
    print!("{}", render(&runs, &args.baseline, args.detail));
    Ok(())
}

/// A run next to its baseline.
struct Row<'a> {
    run: &'a RunResult,
    base: Option<&'a RunResult>,
}

impl Row<'_> {
    fn added_p50(&self) -> Option<f64> {
        self.base.map(|b| self.run.p50_ms - b.p50_ms)
    }

    fn added_p99(&self) -> Option<f64> {
        self.base.map(|b| self.run.p99_ms - b.p99_ms)
    }

    fn ratio(&self) -> Option<f64> {
        self.base
            .filter(|b| b.rps > 0.0)
            .map(|b| self.run.rps / b.rps)
    }
}

fn render(runs: &[RunResult], baseline: &str, detail: bool) -> String {
    let base_of = |r: &RunResult| {
        runs.iter().find(|b| {
            b.server == baseline && b.transport == r.transport && b.sessions == r.sessions
        })
    };
    let rows: Vec<Row<'_>> = runs
        .iter()
        .map(|run| Row {
            run,
            base: (run.server != baseline).then(|| base_of(run)).flatten(),
        })
        .collect();

    let mut header = vec![
        "target",
        "sessions",
        "req/s",
        "p50 (ms)",
        "p99 (ms)",
        "added p50 (ms)",
        "added p99 (ms)",
        "req/s vs direct",
    ];
    if detail {
        header.extend([
            "p90 (ms)",
            "max (ms)",
            "errors",
            "CPU per process",
            "loadgen CPU",
            "other CPU",
        ]);
    }
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let aligns: Vec<&str> = (0..header.len())
        .map(|i| if i == 0 { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "| {} |", aligns.join(" | "));
    for row in &rows {
        let r = row.run;
        let is_base = r.server == baseline;
        let versus = |value: Option<String>| match value {
            Some(v) => v,
            None if is_base => "—".to_owned(),
            None => "no baseline".to_owned(),
        };
        let rps = if r.errors > 0 {
            format!("{} ⚠ {} errors", thousands(r.rps), r.errors)
        } else {
            thousands(r.rps)
        };
        let mut cells = vec![
            r.server.clone(),
            r.sessions.to_string(),
            rps,
            latency(r.p50_ms),
            latency(r.p99_ms),
            versus(row.added_p50().map(signed)),
            versus(row.added_p99().map(signed)),
            versus(row.ratio().map(percent)),
        ];
        if detail {
            let per_process: Vec<String> = r
                .process_cpu_cores
                .iter()
                .map(|c| format!("{c:.2}"))
                .collect();
            cells.extend([
                latency(r.p90_ms),
                latency(r.max_ms),
                r.errors.to_string(),
                per_process.join(" + "),
                format!("{:.2}", r.loadgen_cpu_cores),
                format!("{:.2}", r.other_cpu_cores),
            ]);
        }
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out += &targets(&rows, baseline);
    out += &warnings(runs);
    out
}

/// One line per compared run: added median latency and throughput kept, each with ✓/✗.
fn targets(rows: &[Row<'_>], baseline: &str) -> String {
    let mark = |ok: bool| if ok { "✓" } else { "✗ MISSED" };
    let mut lines = Vec::new();
    let mut missed = 0;
    for row in rows.iter().filter(|r| r.run.server != baseline) {
        let (Some(added), Some(ratio)) = (row.added_p50(), row.ratio()) else {
            continue;
        };
        let (p50_ok, ratio_ok) = (added < ADDED_P50_MS, ratio >= MIN_RATIO);
        missed += usize::from(!p50_ok) + usize::from(!ratio_ok);
        let n = row.run.sessions;
        lines.push(format!(
            "- {}, {n} session{}: added p50 {} ms {}; {} of {baseline} req/s {}",
            row.run.server,
            if n == 1 { "" } else { "s" },
            signed(added),
            mark(p50_ok),
            percent(ratio),
            mark(ratio_ok),
        ));
    }
    if lines.is_empty() {
        return String::new();
    }
    let verdict = if missed == 0 {
        "all met".to_owned()
    } else {
        format!("{missed} missed")
    };
    format!(
        "\nTargets (2 cores): added p50 < {ADDED_P50_MS} ms, req/s ≥ {:.0}% of {baseline}: {verdict}\n{}\n",
        MIN_RATIO * 100.0,
        lines.join("\n")
    )
}

/// A latency difference with its sign: `+0.142`, `-0.012`.
fn signed(ms: f64) -> String {
    let sign = if ms < 0.0 { "-" } else { "+" };
    format!("{sign}{}", latency(ms.abs()))
}

fn percent(ratio: f64) -> String {
    format!("{:.0}%", ratio * 100.0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(server: &str, sessions: usize, rps: f64, p50: f64, p99: f64) -> RunResult {
        let value = json!({
            "server": server, "transport": "http", "sessions": sessions, "stdio_mode": null,
            "processes": 1, "protocol_version": "2025-11-25", "requests": 100, "errors": 0,
            "error_samples": [], "duration_s": 1.0, "rps": rps, "mean_ms": p50, "p50_ms": p50,
            "p90_ms": p99, "p99_ms": p99, "max_ms": p99, "peak_rss_mib": 10.0,
            "peak_rss_sum_mib": 10.0, "cold_start_ms": 0.0, "cold_start_samples_ms": [],
            "server_cpu_cores": 1.0, "loadgen_cpu_cores": 0.5, "command": [],
        });
        serde_json::from_value(value).unwrap_or_else(|e| panic!("fixture: {e}"))
    }

    #[test]
    fn added_latency_and_ratio_are_against_the_baseline_of_the_same_session_count() {
        let runs = [
            run("direct", 1, 6000.0, 0.150, 0.210),
            run("gateway", 1, 4800.0, 0.400, 0.500),
            run("direct", 16, 18000.0, 0.875, 1.60),
            run("gateway", 16, 14000.0, 1.10, 2.00),
        ];
        let out = render(&runs, "direct", false);
        // 1 session: +0.250 ms, 80%; 16 sessions: +0.225 ms, 78%.
        assert!(
            out.contains("| gateway | 1 | 4,800 | 0.400 | 0.500 | +0.250 | +0.290 | 80% |"),
            "{out}"
        );
        assert!(
            out.contains("| gateway | 16 | 14,000 | 1.10 | 2.00 | +0.225 | +0.400 | 78% |"),
            "{out}"
        );
        assert!(
            out.contains("| direct | 1 | 6,000 | 0.150 | 0.210 | — | — | — |"),
            "{out}"
        );
        assert!(out.contains("all met"), "{out}");
    }

    #[test]
    fn a_miss_is_flagged_and_a_run_without_baseline_says_so() {
        let runs = [
            run("direct", 1, 6000.0, 0.150, 0.210),
            run("gateway", 1, 3000.0, 0.500, 0.900),
            run("gateway", 16, 14000.0, 1.10, 2.00),
        ];
        let out = render(&runs, "direct", true);
        assert!(
            out.contains("added p50 +0.350 ms ✗ MISSED; 50% of direct req/s ✗ MISSED"),
            "{out}"
        );
        assert!(out.contains("2 missed"), "{out}");
        assert!(
            out.contains("| gateway | 16 | 14,000 | 1.10 | 2.00 | no baseline |"),
            "{out}"
        );
        assert!(!out.contains("gateway, 16 sessions"), "{out}");
    }

    #[test]
    fn signs_and_percentages_read_well() {
        assert_eq!(signed(0.1424), "+0.142");
        assert_eq!(signed(-0.012), "-0.012");
        assert_eq!(signed(1.534), "+1.53");
        assert_eq!(percent(0.781), "78%");
    }
}
