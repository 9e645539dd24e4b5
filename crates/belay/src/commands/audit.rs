//! `belay audit`: check the gateway's audit log, follow it, and search it.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use anstyle::{AnsiColor, Style};
use anyhow::Context;
use belay_audit::{AuditKey, Decision, Outcome, Query, Record, Sink, TailOptions};
use belay_store::{Db, rusqlite::OptionalExtension};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use futures::StreamExt;

use crate::config::BelayConfig;

/// Arguments of `belay audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Folder of the state database and the audit file, as given to `belay up` or `belay
    /// gateway serve` (default: the per-user data folder + `/belay`).
    #[arg(long, global = true, env = "BELAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// `belay audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the sealed chain of every configured sink (with the audit key) and that no
    /// record was cut from its end; exit status 1 names the first broken record.
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

/// Where the store is: `[auth_server] database`, or `belay.db` in the data folder.
fn db_path(config: &BelayConfig, dir: &Path) -> PathBuf {
    config
        .auth_server
        .database
        .clone()
        .unwrap_or_else(|| dir.join("belay.db"))
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

/// What is missing when there is no audit log in `dir` to read, if nothing is there: then
/// nothing is opened (and so nothing created) in a folder that was probably the wrong one.
fn missing_log(config: &BelayConfig, dir: &Path) -> anyhow::Result<Option<String>> {
    let mut missing = Vec::new();
    if let Some(file) = belay_audit::audit_file(&config.audit, dir) {
        if !belay_audit::log_files(&file)?.is_empty() {
            return Ok(None);
        }
        missing.push(file);
    }
    if config.audit.has(Sink::Store) {
        let db = db_path(config, dir);
        if db.exists() {
            return Ok(None);
        }
        missing.push(db);
    }
    let names: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
    Ok(Some(match names.as_slice() {
        [one] => format!("{one} does not exist"),
        _ => format!("neither {} exists", names.join(" nor ")),
    }))
}

/// The error for a folder without an audit log: where `belay audit` looked, and how to point
/// it at the folder the gateway writes.
fn no_log(dir: &Path, missing: &str) -> anyhow::Error {
    let default = super::gateway::data_dir(None)
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "the per-user data folder + /belay".into());
    anyhow::anyhow!(
        "no audit log in {}: {missing}. `belay audit` reads the folder given by --data-dir \
         (or BELAY_DATA_DIR; default {default}): pass the --data-dir, and the --config if \
         any, that `belay up` or `belay gateway serve` was started with",
        dir.display()
    )
}

/// The command that follows the audit log written in `dir` under the configuration file
/// `config`: the folder is named unless it is the default, the configuration whenever one
/// was given, both as absolute paths so the command works from any folder.
pub(crate) fn follow_command(dir: &Path, config: Option<&Path>) -> String {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let mut words: Vec<String> = ["belay", "audit", "tail", "--follow"]
        .map(str::to_owned)
        .to_vec();
    let dir = absolute(dir);
    if super::gateway::data_dir(None).ok().map(|d| absolute(&d)) != Some(dir.clone()) {
        words.extend(["--data-dir".to_owned(), dir.display().to_string()]);
    }
    if let Some(config) = config {
        words.extend([
            "--config".to_owned(),
            absolute(config).display().to_string(),
        ]);
    }
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

/// Runs `belay audit …` with the configuration file `config`.
pub async fn run(args: AuditArgs, config: Option<&Path>) -> anyhow::Result<()> {
    let config = BelayConfig::load(config)?;
    let dir = super::gateway::data_dir(args.data_dir)?;
    match args.command {
        AuditCommand::Verify { json } => verify(&config, &dir, json).await,
        AuditCommand::Tail {
            follow,
            lines,
            json,
        } => tail(&config, &dir, follow, lines, json).await,
        AuditCommand::Query(q) => query(&config, &dir, q).await,
    }
}

async fn verify(config: &BelayConfig, dir: &Path, json: bool) -> anyhow::Result<()> {
    // A folder with no log at all is the wrong folder, unless the head file kept outside it
    // says a log was written here: then its loss is what verify must report.
    if let Some(missing) = missing_log(config, dir)?
        && belay_audit::checkpoint(&config.audit, dir)?.is_none()
    {
        return Err(no_log(dir, &missing));
    }
    let db = open_store(config, dir)?;
    let report = belay_audit::verify_configured(&config.audit, dir, db.as_ref())
        .await
        .context("cannot verify the audit log")?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    }
    let Some(problem) = &report.problem else {
        if !json {
            println!(
                "audit log intact: {} records, head #{} {}",
                report.records, report.head.seq, report.head.hash
            );
            for note in &report.notes {
                println!("note: {note}");
            }
        }
        return Ok(());
    };
    let place = match (&problem.file, problem.line) {
        (Some(file), Some(line)) => format!(" ({} line {line})", file.display()),
        (Some(file), None) => format!(" ({})", file.display()),
        _ => String::new(),
    };
    anyhow::bail!(
        "audit log broken at record {} in the {}{place}: {} ({} records before it are sound)",
        problem.seq,
        problem.sink,
        problem.detail,
        report.records
    )
}

async fn tail(
    config: &BelayConfig,
    dir: &Path,
    follow: bool,
    lines: usize,
    json: bool,
) -> anyhow::Result<()> {
    if let Some(missing) = missing_log(config, dir)? {
        return Err(no_log(dir, &missing));
    }
    let key = match AuditKey::load(&config.audit.key_path()?) {
        Ok(key) => Some(key),
        Err(belay_audit::Error::KeyMissing { path }) => {
            eprintln!(
                "note: seals are not checked: no audit key at {} (`belay audit verify` needs it)",
                path.display()
            );
            None
        }
        Err(e) => return Err(e.into()),
    };
    let opts = TailOptions {
        last: Some(lines),
        follow,
        key,
        ..TailOptions::default()
    };
    let mut stream = match belay_audit::audit_file(&config.audit, dir) {
        Some(path) => belay_audit::tail_file(&path, opts),
        None => {
            let db = open_store(config, dir)?.context("[audit] sinks is empty: nothing to tail")?;
            belay_audit::tail_store(&db, opts)
        }
    };
    let mut names = Names::open(config, dir);
    let stop = belay_core::shutdown::on_signal();
    let mut broken = 0usize;
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = stop.cancelled() => None,
        };
        match item {
            None => break,
            Some(Ok(record)) => print_record(&record, &mut names, json)?,
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

async fn query(config: &BelayConfig, dir: &Path, q: QueryArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.audit.has(Sink::Store),
        "`belay audit query` reads the store: add \"store\" to [audit] sinks"
    );
    let db_file = db_path(config, dir);
    if !db_file.exists() {
        return Err(no_log(
            dir,
            &format!("{} does not exist", db_file.display()),
        ));
    }
    let db = open_store(config, dir)?
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
    let mut names = Names::open(config, dir);
    if !q.json {
        anstream::println!("{}", header());
    }
    for record in &page.records {
        print_record(record, &mut names, q.json)?;
    }
    Ok(())
}

/// User and client names from the authorization server's tables in the same store, looked
/// up once per id. Records keep ids (a user may be renamed or removed); names are for
/// people reading them, and an id with no local name (another issuer's) is shown as is.
struct Names {
    db: Option<Db>,
    users: HashMap<String, Option<String>>,
    clients: HashMap<String, Option<String>>,
}

impl Names {
    fn open(config: &BelayConfig, dir: &Path) -> Self {
        // Only a store that exists: reading a log must not create one.
        let db = db_path(config, dir)
            .exists()
            .then(|| super::auth::open_db(&config.auth_server, Some(dir.to_owned())))
            .and_then(|db| {
                db.inspect_err(|e| tracing::debug!(error = %e, "no names for audit ids"))
                    .ok()
            });
        Self {
            db,
            users: HashMap::new(),
            clients: HashMap::new(),
        }
    }

    fn user(&mut self, id: &str) -> Option<String> {
        let db = self.db.as_ref()?;
        self.users
            .entry(id.to_owned())
            .or_insert_with(|| {
                let users = belay_auth_server::Users::new(db.clone());
                users.get(id).ok().flatten().map(|u| u.username)
            })
            .clone()
    }

    fn client(&mut self, id: &str) -> Option<String> {
        let db = self.db.as_ref()?;
        self.clients
            .entry(id.to_owned())
            .or_insert_with(|| {
                // belay-auth-server reads clients only through `AuthServer::client`, which
                // needs a running server (signing keys) and fetches URL-shaped ids over the
                // network; a stored name is all a reader of the log needs.
                db.call_blocking(|c| {
                    c.query_row(
                        "SELECT name FROM as_clients WHERE client_id = ?1",
                        [id],
                        |r| r.get::<_, Option<String>>(0),
                    )
                    .optional()
                })
                .ok()
                .flatten()
                .flatten()
            })
            .clone()
    }
}

/// A record as `--json` prints it: the record's own members, then the names found.
#[derive(serde::Serialize)]
struct Named<'a> {
    #[serde(flatten)]
    record: &'a Record,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_name: Option<String>,
}

fn print_record(record: &Record, names: &mut Names, json: bool) -> anyhow::Result<()> {
    let e = &record.event;
    let user_name = e.user.as_deref().and_then(|id| names.user(id));
    let client_name = e.client.as_deref().and_then(|id| names.client(id));
    if json {
        let named = Named {
            record,
            user_name,
            client_name,
        };
        println!("{}", serde_json::to_string(&named)?);
    } else {
        let user = user_name.or_else(|| e.user.clone());
        let client = client_name.or_else(|| e.client.clone());
        anstream::println!("{}", row(record, user, client));
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

fn row(record: &Record, user: Option<String>, client: Option<String>) -> String {
    let e = &record.event;
    let colour = match e.decision {
        Decision::Allow => AnsiColor::Green,
        Decision::RateLimited => AnsiColor::Yellow,
        _ => AnsiColor::Red,
    };
    let style = Style::new().fg_color(Some(colour.into()));
    let mut outcome = match &e.outcome {
        Outcome::Ok => "ok".to_owned(),
        Outcome::Error { message, .. } => format!("error: {message}"),
        _ => "?".to_owned(),
    };
    if !e.guard.is_empty() {
        let mut verdicts: Vec<String> = e
            .guard
            .iter()
            .map(|v| format!("{} {}", v.action, v.rule))
            .collect();
        verdicts.dedup();
        outcome.push_str(&format!(" [guard: {}]", verdicts.join(", ")));
    }
    let latency = e
        .latency_us
        .map(|us| format!("{:.1} ms", us as f64 / 1000.0))
        .unwrap_or_default();
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    format!(
        "{:>6}  {:<27} {:<12} {:<12} {:<12} {:<28} {style}{:<15}{style:#} {:<16} {latency:>9}  {outcome}",
        record.seq,
        belay_audit::format_time(&e.time),
        dash(&user),
        dash(&client),
        dash(&e.upstream),
        dash(&e.name),
        e.decision.as_str(),
        dash(&e.rule),
    )
}
