//! `belay-loadgen table`: the runs' JSON lines as one Markdown table, then how Belay fares
//! against the README's targets.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::run::{RunResult, Transport};

/// Options of `belay-loadgen table`.
#[derive(Debug, Args)]
pub(crate) struct TableArgs {
    /// Files of JSON lines from `belay-loadgen run` (standard input if none).
    files: Vec<PathBuf>,

    /// Add columns for diagnosis: p90, max, errors, CPU cores used by server and load generator.
    #[arg(long)]
    detail: bool,

    /// Label of Belay's runs (the subject of the targets).
    #[arg(long, default_value = "belay")]
    subject: String,

    /// Labels of the Python and TypeScript runs (the baselines of the targets).
    #[arg(long, default_value = "python")]
    python: String,

    /// Label of the TypeScript runs.
    #[arg(long, default_value = "typescript")]
    typescript: String,

    /// Label of the `belay up` runs (the whole stack: its own RSS target, no ratios).
    #[arg(long, default_value = "belay-up")]
    up: String,
}

/// The README's targets (2 cores).
const PYTHON_RATIO: f64 = 10.0;
const TS_RATIO: f64 = 3.0;
const P99_MS: f64 = 2.0;
const P99_AT_SESSIONS: usize = 16;
/// Peak RSS of `belay serve` at every row (the target names 16 HTTP sessions, its heaviest).
const RSS_MIB: f64 = 24.0;
/// Peak RSS of `belay up` (authorization server, gateway and every reference server in one
/// process) under the same load.
const UP_RSS_MIB: f64 = 64.0;
/// CPU used by the rest of the machine above which a run is flagged as disturbed.
const BUSY_CORES: f64 = 0.25;

/// Reads the runs and prints the table and the target check.
pub(crate) fn print(args: &TableArgs) -> anyhow::Result<()> {
    let runs = read_runs(&args.files)?;
    print!("{}", render(&runs, args));
    Ok(())
}

/// The runs in `files` (JSON lines from `run`), or on standard input if there are none.
pub(crate) fn read_runs(files: &[PathBuf]) -> anyhow::Result<Vec<RunResult>> {
    let mut text = String::new();
    if files.is_empty() {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        for f in files {
            text += &std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))?;
            text.push('\n');
        }
    }
    parse(&text)
}

fn parse(text: &str) -> anyhow::Result<Vec<RunResult>> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("JSON line {}", i + 1)))
        .collect()
}

fn render(runs: &[RunResult], args: &TableArgs) -> String {
    let mut out = String::new();
    let mut header = vec![
        "server",
        "transport",
        "sessions",
        "req/s",
        "p50 (ms)",
        "p99 (ms)",
        "peak RSS (MiB)",
        "cold start (ms)",
    ];
    if args.detail {
        header.extend([
            "p90 (ms)",
            "max (ms)",
            "errors",
            "server CPU",
            "loadgen CPU",
            "other CPU",
        ]);
    }
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let aligns: Vec<&str> = header
        .iter()
        .enumerate()
        .map(|(i, _)| if i < 2 { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "| {} |", aligns.join(" | "));
    for r in runs {
        let transport = match (r.transport, r.stdio_mode) {
            (Transport::Http, _) => "http".to_owned(),
            (Transport::Stdio, Some(crate::run::StdioMode::Processes)) => {
                "stdio (procs)".to_owned()
            }
            (Transport::Stdio, _) => "stdio".to_owned(),
        };
        let rps = if r.errors > 0 {
            format!("{} ⚠ {} errors", thousands(r.rps), r.errors)
        } else {
            thousands(r.rps)
        };
        let mut cells = vec![
            r.server.clone(),
            transport,
            r.sessions.to_string(),
            rps,
            latency(r.p50_ms),
            latency(r.p99_ms),
            format!("{:.1}", r.peak_rss_mib),
            format!("{:.0}", r.cold_start_ms),
        ];
        if args.detail {
            cells.extend([
                latency(r.p90_ms),
                latency(r.max_ms),
                r.errors.to_string(),
                format!("{:.2}", r.server_cpu_cores),
                format!("{:.2}", r.loadgen_cpu_cores),
                format!("{:.2}", r.other_cpu_cores),
            ]);
        }
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out += &targets(runs, args);
    out += &warnings(runs);
    out
}

/// Runs whose numbers are disturbed (other processes busy) or failed calls, one line each.
pub(crate) fn warnings(runs: &[RunResult]) -> String {
    let mut out = String::new();
    let busy: Vec<String> = runs
        .iter()
        .filter(|r| r.other_cpu_cores > BUSY_CORES)
        .map(|r| format!("{} {:?} {}", r.server, r.transport, r.sessions).to_lowercase())
        .collect();
    if !busy.is_empty() {
        let _ = writeln!(
            out,
            "\n⚠ other processes used > {BUSY_CORES} cores during: {}; rerun on a quiet machine.",
            busy.join(", ")
        );
    }
    for r in runs.iter().filter(|r| r.errors > 0) {
        let _ = writeln!(
            out,
            "\n⚠ {} {:?} {} sessions: {} errors, e.g. {}",
            r.server,
            r.transport,
            r.sessions,
            r.errors,
            r.error_samples.first().map_or("?", String::as_str)
        );
    }
    out
}

/// One line per target, with the measured value and ✓/✗; missing baselines are skipped.
fn targets(runs: &[RunResult], args: &TableArgs) -> String {
    let find = |server: &str, transport: Transport, sessions: usize| {
        runs.iter()
            .find(|r| r.server == server && r.transport == transport && r.sessions == sessions)
    };
    let mark = |ok: bool| if ok { "✓" } else { "✗ MISSED" };
    let mut lines = Vec::new();
    for subject in runs.iter().filter(|r| r.server == args.subject) {
        let (t, n) = (subject.transport, subject.sessions);
        let what = format!("{:?} {n} session{}", t, if n == 1 { "" } else { "s" }).to_lowercase();
        for (base, want) in [(&args.python, PYTHON_RATIO), (&args.typescript, TS_RATIO)] {
            if let Some(b) = find(base, t, n).filter(|b| b.rps > 0.0) {
                let ratio = subject.rps / b.rps;
                lines.push(format!(
                    "- {what}: {:.1}x {base}'s req/s (target ≥ {want}x) {}",
                    ratio,
                    mark(ratio >= want)
                ));
            }
        }
        if n == P99_AT_SESSIONS {
            lines.push(format!(
                "- {what}: p99 {} ms (target < {P99_MS} ms) {}",
                latency(subject.p99_ms),
                mark(subject.p99_ms < P99_MS)
            ));
        }
        lines.push(format!(
            "- {what}: peak RSS {:.1} MiB (target < {RSS_MIB} MiB) {}",
            subject.peak_rss_mib,
            mark(subject.peak_rss_mib < RSS_MIB)
        ));
    }
    for up in runs.iter().filter(|r| r.server == args.up) {
        let n = up.sessions;
        let what = format!(
            "{:?} {n} session{}",
            up.transport,
            if n == 1 { "" } else { "s" }
        );
        lines.push(format!(
            "- {} {}: peak RSS {:.1} MiB (target < {UP_RSS_MIB} MiB) {}",
            args.up,
            what.to_lowercase(),
            up.peak_rss_mib,
            mark(up.peak_rss_mib < UP_RSS_MIB)
        ));
    }
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "\nTargets for {} (2 cores):\n{}\n",
        args.subject,
        lines.join("\n")
    )
}

/// 12345.6 → "12,346".
pub(crate) fn thousands(x: f64) -> String {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = x.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Three significant digits, at most three decimals: 0.142, 1.53, 12.4, 153.
pub(crate) fn latency(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(server: &str, sessions: usize, rss: f64) -> String {
        format!(
            r#"{{"server": "{server}", "transport": "http", "sessions": {sessions},
            "stdio_mode": null, "processes": 1, "protocol_version": "2025-11-25",
            "requests": 1000, "errors": 0, "error_samples": [], "duration_s": 1.0,
            "rps": 1000.0, "mean_ms": 0.5, "p50_ms": 0.5, "p90_ms": 0.6, "p99_ms": 0.7,
            "max_ms": 0.9, "peak_rss_mib": {rss}, "peak_rss_sum_mib": {rss},
            "cold_start_ms": 4.0, "cold_start_samples_ms": [4.0], "server_cpu_cores": 1.0,
            "loadgen_cpu_cores": 0.3, "command": []}}"#
        )
        .replace('\n', " ")
    }

    fn args() -> TableArgs {
        TableArgs {
            files: Vec::new(),
            detail: false,
            subject: "belay".into(),
            python: "python".into(),
            typescript: "typescript".into(),
            up: "belay-up".into(),
        }
    }

    #[test]
    fn rss_targets_are_24_mib_for_serve_and_64_mib_for_up() -> anyhow::Result<()> {
        let lines = [
            run("belay", 16, 23.9),
            run("belay", 1, 24.1),
            run("belay-up", 16, 63.9),
            run("belay-up", 1, 64.2),
        ];
        let checked = targets(&parse(&lines.join("\n"))?, &args());
        assert!(
            checked.contains("http 16 sessions: peak RSS 23.9 MiB (target < 24 MiB) ✓"),
            "{checked}"
        );
        assert!(
            checked.contains("http 1 session: peak RSS 24.1 MiB (target < 24 MiB) ✗"),
            "{checked}"
        );
        assert!(
            checked.contains("belay-up http 16 sessions: peak RSS 63.9 MiB (target < 64 MiB) ✓"),
            "{checked}"
        );
        assert!(
            checked.contains("belay-up http 1 session: peak RSS 64.2 MiB (target < 64 MiB) ✗"),
            "{checked}"
        );
        // `belay up` has no ratio targets: only its RSS is checked.
        assert_eq!(checked.matches("belay-up").count(), 2, "{checked}");
        Ok(())
    }

    #[test]
    fn numbers_are_readable() {
        assert_eq!(thousands(12345.6), "12,346");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        assert_eq!(latency(0.1424), "0.142");
        assert_eq!(latency(1.534), "1.53");
        assert_eq!(latency(12.44), "12.4");
        assert_eq!(latency(153.2), "153");
    }
}
