//! `belay report --since 7d`: a security review's report of the audit log, as one
//! self-contained HTML file (charts in SVG, no script) or `--json`: top users and tools,
//! denials, detections, changes and approvals, alert incidents, and a section per OWASP MCP
//! risk saying what Belay saw and which control covers it.

mod html;
mod model;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::Context;
use belay_audit::{AuditKey, Query, Record};
use belay_gateway::PinStore;
use chrono::{DateTime, Duration, Utc};
use clap::Args;

use crate::config::BelayConfig;

/// Arguments of `belay report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The period, back from now: `7d`, `24h`, `30m`.
    #[arg(long, default_value = "7d", value_parser = parse_period)]
    pub since: Duration,
    /// Print the report as JSON on stdout instead of writing HTML.
    #[arg(long)]
    pub json: bool,
    /// Where the HTML goes.
    #[arg(long, short, default_value = "belay-report.html")]
    pub output: PathBuf,
    /// Folder of the state database (as for `belay up` and `belay gateway serve`).
    #[arg(long, env = "BELAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `7d`, `24h`, `30m` as a duration (at most a year).
fn parse_period(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a period: use e.g. 7d, 24h or 30m");
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| bad())?;
    let period = match unit {
        "d" => Duration::days(n),
        "h" => Duration::hours(n),
        "m" => Duration::minutes(n),
        _ => return Err(bad()),
    };
    if n <= 0 || period > Duration::days(366) {
        return Err(bad());
    }
    Ok(period)
}

/// Most records a report reads.
const MAX_RECORDS: usize = 2_000_000;

/// The records since `since`, oldest first.
async fn records_since(db: &belay_store::Db, since: DateTime<Utc>) -> anyhow::Result<Vec<Record>> {
    let mut query = Query {
        since: Some(since),
        newest_first: false,
        limit: belay_audit::MAX_PAGE,
        ..Query::default()
    };
    let mut all = Vec::new();
    loop {
        let page = belay_audit::query(db, &query).await?;
        all.extend(page.records);
        match page.next {
            Some(next) if all.len() < MAX_RECORDS => query.cursor = Some(next),
            _ => return Ok(all),
        }
    }
}

/// Runs `belay report`.
pub async fn run(args: ReportArgs, config_file: Option<&Path>) -> anyhow::Result<()> {
    let config = BelayConfig::load(config_file)?;
    config.alerts.validate()?;
    let dir = super::gateway::data_dir(args.data_dir)?;
    anyhow::ensure!(
        config.audit.has(belay_audit::Sink::Store),
        "the report reads the audit store: add \"store\" to [audit] sinks"
    );
    let db = super::auth::open_db(&config.auth_server, Some(dir.clone()))?;
    belay_audit::migrate(&db)?;
    let until = Utc::now();
    let since = until - args.since;
    let records = records_since(&db, since).await?;
    let chain = match config.audit.key_path().and_then(|k| AuditKey::load(&k)) {
        Ok(key) => match belay_audit::verify_store(&db, &key).await {
            Ok(report) if report.is_ok() => {
                format!("The audit chain verifies ({} records).", report.records)
            }
            Ok(report) => format!(
                "The audit chain is BROKEN: {}",
                report.problem.map(|p| p.detail).unwrap_or_default()
            ),
            Err(e) => format!("The audit chain could not be verified: {e}"),
        },
        Err(e) => format!("The audit chain was not verified: {e}"),
    };
    let pending = PinStore::open(db)
        .and_then(|pins| pins.list(true))
        .map(|pins| {
            pins.into_iter()
                .map(|p| format!("{}/{}", p.upstream, p.tool))
                .collect()
        })
        .unwrap_or_default();
    let report = model::compute(&records, since, until, &config.alerts, pending, chain);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    std::fs::write(&args.output, html::render(&report))
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "belay report: {} requests from {} to {} -> {}",
        report.requests,
        report.since,
        report.until,
        args.output.display()
    );
    Ok(())
}
