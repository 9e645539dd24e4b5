//! `belay audit`: check the gateway's audit log, follow it, and search it.

use std::path::{Path, PathBuf};

use anstyle::{AnsiColor, Style};
use anyhow::Context;
use belay_audit::{Decision, Outcome, Query, Record, Sink, TailOptions};
use belay_store::Db;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use futures::StreamExt;

use crate::config::BelayConfig;

/// Arguments of `belay audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Folder of the state database and the audit file (default: the per-user data
    /// folder + `/belay`).
    #[arg(long, global = true, env = "BELAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// `belay audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of every configured sink; exit status 1 names the first
    /// broken record.
    Verify {
        /// The report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the last records, and with --follow the new ones as they are written.
    Tail {
        /// Keep printing new records until Ctrl-C.
        #[arg(long, short)]
        follow: bool,
        /// How many of the last records to start with.
        #[arg(short = 'n', long = "lines", default_value_t = 10)]
        lines: usize,
        /// One JSON record per line.
        #[arg(long)]
        json: bool,
    },
    /// Search the records in the store (newest first).
    Query(QueryArgs),
}

/// Filters of `belay audit query`; every one given must match.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// At or after this time (RFC 3339, or a date `2026-01-31`).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339, or a date).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// User (the token's `sub`).
    #[arg(long)]
    pub user: Option<String>,
    /// OAuth client id.
    #[arg(long)]
    pub client: Option<String>,
    /// Upstream name.
    #[arg(long)]
    pub upstream: Option<String>,
    /// Tool or prompt name (as the upstream knows it), or resource URI.
    #[arg(long)]
    pub tool: Option<String>,
    /// `allow`, `deny`, `rate_limited` or `unauthenticated`.
    #[arg(long, value_parser = parse_decision)]
    pub decision: Option<Decision>,
    /// Most records to print (at most 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// One JSON record per line.
    #[arg(long)]
    pub json: bool,
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("`{text}` is not a time: use 2026-01-31 or 2026-01-31T12:00:00Z"))
}

fn parse_decision(text: &str) -> Result<Decision, String> {
    text.parse().map_err(|e: belay_audit::Error| e.to_string())
}

/// The store, when `[audit]` writes to it.
fn open_store(config: &BelayConfig, dir: &Path) -> anyhow::Result<Option<Db>> {
    if !config.audit.has(Sink::Store) {
        return Ok(None);
    }
    let db = super::auth::open_db(&config.auth_server, Some(dir.to_owned()))?;
    belay_audit::migrate(&db)?;
    Ok(Some(db))
}

/// Runs `belay audit …` with the configuration file `config`.
pub async fn run(args: AuditArgs, config: Option<&Path>) -> anyhow::Result<()> {
    let config = BelayConfig::load(config)?;
    let dir = super::gateway::data_dir(args.data_dir)?;
    match args.command {
        AuditCommand::Verify { json } => {
            let db = open_store(&config, &dir)?;
            let report = belay_audit::verify_configured(&config.audit, &dir, db.as_ref())
                .await
                .context("cannot verify the audit log")?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            }
            match &report.problem {
                None => {
                    if !json {
                        println!(
                            "audit log intact: {} records, head #{} {}",
                            report.records, report.head.seq, report.head.hash
                        );
                    }
                    Ok(())
                }
                Some(problem) => {
                    let line = problem
                        .line
                        .map(|l| format!(" (line {l})"))
                        .unwrap_or_default();
                    anyhow::bail!(
                        "audit log broken at record {} in the {}{line}: {} ({} records before it are sound)",
                        problem.seq,
                        problem.sink,
                        problem.detail,
                        report.records
                    )
                }
            }
        }
        AuditCommand::Tail {
            follow,
            lines,
            json,
        } => {
            let opts = TailOptions {
                last: Some(lines),
                follow,
                ..TailOptions::default()
            };
            let mut stream = match belay_audit::audit_file(&config.audit, &dir) {
                Some(path) => belay_audit::tail_file(&path, opts),
                None => {
                    let db = open_store(&config, &dir)?
                        .context("[audit] sinks is empty: nothing to tail")?;
                    belay_audit::tail_store(&db, opts)
                }
            };
            let stop = belay_core::shutdown::on_signal();
            let mut broken = 0usize;
            loop {
                let item = tokio::select! {
                    item = stream.next() => item,
                    () = stop.cancelled() => None,
                };
                match item {
                    None => break,
                    Some(Ok(record)) => print_record(&record, json)?,
                    Some(Err(e)) => {
                        broken += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            anyhow::ensure!(
                broken == 0,
                "{broken} record(s) could not be read; run `belay audit verify`"
            );
            Ok(())
        }
        AuditCommand::Query(q) => {
            let db = open_store(&config, &dir)?
                .context("`belay audit query` reads the store: add \"store\" to [audit] sinks")?;
            let query = Query {
                since: q.since,
                until: q.until,
                user: q.user,
                client: q.client,
                upstream: q.upstream,
                name: q.tool,
                decision: q.decision,
                limit: q.limit.clamp(1, belay_audit::MAX_PAGE),
                ..Query::default()
            };
            let page = belay_audit::query(&db, &query).await?;
            if !q.json {
                anstream::println!("{}", header());
            }
            for record in &page.records {
                print_record(record, q.json)?;
            }
            Ok(())
        }
    }
}

fn print_record(record: &Record, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(record)?);
    } else {
        anstream::println!("{}", row(record));
    }
    Ok(())
}

fn header() -> String {
    let bold = Style::new().bold();
    format!(
        "{bold}{:>6}  {:<27} {:<12} {:<12} {:<12} {:<28} {:<15} {:<16} {:>9}  OUTCOME{bold:#}",
        "SEQ", "TIME", "USER", "CLIENT", "UPSTREAM", "NAME", "DECISION", "RULE", "LATENCY"
    )
}

fn row(record: &Record) -> String {
    let e = &record.event;
    let colour = match e.decision {
        Decision::Allow => AnsiColor::Green,
        Decision::RateLimited => AnsiColor::Yellow,
        _ => AnsiColor::Red,
    };
    let style = Style::new().fg_color(Some(colour.into()));
    let outcome = match &e.outcome {
        Outcome::Ok => "ok".to_owned(),
        Outcome::Error { message, .. } => format!("error: {message}"),
        _ => "?".to_owned(),
    };
    let latency = e
        .latency_us
        .map(|us| format!("{:.1} ms", us as f64 / 1000.0))
        .unwrap_or_default();
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    format!(
        "{:>6}  {:<27} {:<12} {:<12} {:<12} {:<28} {style}{:<15}{style:#} {:<16} {latency:>9}  {outcome}",
        record.seq,
        belay_audit::format_time(&e.time),
        dash(&e.user),
        dash(&e.client),
        dash(&e.upstream),
        dash(&e.name),
        e.decision.as_str(),
        dash(&e.rule),
    )
}
