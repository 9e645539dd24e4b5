//! `belay scan TARGET… [-- COMMAND ARGS…]`: connect to MCP servers, list what they offer and
//! check it for tool poisoning, shadowing and changed definitions. This file reads the
//! command line, shows progress and sets the exit status; the scan is `belay-scan`.

use std::{
    io::{IsTerminal, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use belay_client::{ConnectOptions, McpJson, Target, TokenCache, target::unique_names};
use belay_guard::{MetadataGuard, Severity};
use belay_scan::{
    CollectOptions, DEFAULT_TIMEOUT, Failure, Finding, PinFile, PinMode, Report, ServerSummary,
};
use clap::Args;

use super::registry_gate::Verdict;
use futures::StreamExt;

/// What the exit status means, under `belay scan --help`.
const EXIT_STATUS: &str = "\
Exit status:
  0  no finding at or above --fail-on
  1  at least one finding at or above --fail-on
  2  the scan itself failed: a server could not be started, reached or listed in time,
     or the command line, an mcp.json file or the pin file is wrong (the message says why).
     A crash or a timeout is never reported as a finding.

Examples:
  belay scan -- npx -y @modelcontextprotocol/server-everything
  belay scan ~/.cursor/mcp.json --sarif > mcp.sarif
  belay scan https://mcp.example.com/mcp --fail-on medium
  belay scan .vscode/mcp.json --pin .belay-pins.json
  belay scan --registry http://127.0.0.1:8100 ~/.cursor/mcp.json

With --registry, no server is started or contacted: each server of the mcp.json files is
looked up in the registry (by its key when that is a registry name, else by URL or by the
package its command runs), and those it does not know or has not approved are reported as
shadow servers (OWASP MCP09); exit status 1 when there is one.";

/// How many servers are started or reached at once.
const AT_ONCE: usize = 4;

/// Arguments of `belay scan`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_STATUS)]
pub struct ScanArgs {
    /// What to scan: an mcp.json file (VS Code `servers`, Claude Desktop or Cursor
    /// `mcpServers`; every server in it), an http(s):// URL (Streamable HTTP, legacy SSE for
    /// …/sse; signs in when it answers 401), or a reference server name (`stock`, …).
    /// Tools of all targets are also checked against each other for shadowing.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// A stdio server to start and scan: everything after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// The severity at which the scan fails (exit 1): info, low, medium, high, critical.
    #[arg(long, value_name = "SEVERITY", default_value = "high", value_parser = severity)]
    pub fail_on: Severity,
    /// Write the report as JSON on stdout.
    #[arg(long, conflicts_with = "sarif")]
    pub json: bool,
    /// Write the report as SARIF 2.1.0 on stdout (for code-scanning UIs).
    #[arg(long)]
    pub sarif: bool,
    /// Pin tool definitions in FILE: the first run records them, later runs report what
    /// changed (`pinning.changed`, high, with a diff) and new or removed tools.
    #[arg(long, value_name = "FILE")]
    pub pin: Option<PathBuf>,
    /// With --pin: replace the pins of the servers scanned with what they offer now
    /// (accept the changes reported).
    #[arg(long, requires = "pin")]
    pub update_pins: bool,
    /// Seconds one server may take to start (or answer) and be listed.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT.as_secs_f64(), value_parser = seconds)]
    pub timeout: f64,
    /// Report the servers the registry at URL (or the store folder of `belay registry`)
    /// does not know or has not approved, instead of scanning them (nothing is started).
    #[arg(long, value_name = "URL", conflicts_with_all = ["sarif", "pin"])]
    pub registry: Option<String>,
    /// Print sign-in URLs instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Where `belay auth login` keeps tokens (default: the per-user cache folder +
    /// `/belay/tokens`).
    #[arg(long, env = "BELAY_TOKEN_CACHE", value_name = "DIR")]
    pub token_cache: Option<PathBuf>,
}

fn severity(text: &str) -> Result<Severity, String> {
    text.parse().map_err(|e: belay_guard::Error| e.to_string())
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(s),
        _ => Err(format!(
            "`{text}` is not a number of seconds between 0 and 86400"
        )),
    }
}

/// Runs the scan and returns its exit status (0, 1 or 2); prints why when it is 2.
pub async fn run(args: ScanArgs) -> ExitCode {
    match scan(args).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn scan(args: ScanArgs) -> anyhow::Result<u8> {
    let targets = targets(&args.targets, &args.command)?;
    if let Some(registry) = &args.registry {
        return shadow_servers(registry, &targets, args.json).await;
    }
    let guard = MetadataGuard::new()?;
    let pins = args.pin.as_deref().map(PinFile::load).transpose()?;
    let token_cache = match args.token_cache {
        Some(dir) => Some(TokenCache::new(dir)),
        None => TokenCache::default_dir().map(TokenCache::new),
    };
    let terminal = std::io::stderr().is_terminal();
    let options = CollectOptions {
        connect: ConnectOptions {
            token_cache,
            open_browser: !args.no_browser,
            client_name: "belay scan".into(),
            ..ConnectOptions::default()
        },
        timeout: Duration::from_secs_f64(args.timeout),
        interactive: terminal && std::io::stdin().is_terminal(),
    };

    let progress = (terminal && targets.len() > 1).then(|| progress_bar(targets.len()));
    let collected: Vec<_> = futures::stream::iter(&targets)
        .map(|target| {
            let options = &options;
            let progress = &progress;
            async move {
                let result = belay_scan::collect(target, options).await;
                if let Some(bar) = progress {
                    bar.inc(1);
                    bar.set_message(target.name.clone());
                }
                result
            }
        })
        .buffered(AT_ONCE)
        .collect()
        .await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }

    let mut inventories = Vec::new();
    let mut failures = Vec::new();
    for result in collected {
        match result {
            Ok(inventory) => inventories.push(inventory),
            Err(e) => failures.push(Failure {
                server: e.server().to_owned(),
                reason: e.reason(),
            }),
        }
    }
    let mut findings = belay_scan::analyse(&inventories, &guard);
    let mut pinned = None;
    if let (Some(mut pins), Some(path)) = (pins, args.pin.as_deref()) {
        findings.extend(pins.compare(&inventories));
        let mode = if args.update_pins {
            PinMode::Update
        } else {
            PinMode::Record
        };
        pins.record(&inventories, mode);
        pins.save(path)?;
        pinned = Some((path.display().to_string(), pins.len()));
    }
    findings.sort_by(Finding::order);
    let report = Report {
        servers: inventories.iter().map(ServerSummary::from).collect(),
        failures,
        findings,
        fail_on: args.fail_on,
        pins: pinned,
    };
    let text = if args.json {
        format!("{:#}\n", report.to_json())
    } else if args.sarif {
        format!("{:#}\n", belay_scan::sarif(&report))
    } else {
        belay_scan::table(&report)
    };
    if args.json || args.sarif {
        for failure in &report.failures {
            eprintln!(
                "error: {}: {}",
                belay_client::terminal::clean(&failure.server),
                belay_client::terminal::clean(&failure.reason)
            );
        }
    }
    // Not `print!`, which panics on a closed stdout (`belay scan … | head`).
    let mut stdout = anstream::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    Ok(report.outcome().exit_code())
}

/// `belay scan --registry`: every target checked against the registry; 1 when any is a
/// shadow server.
async fn shadow_servers(registry: &str, targets: &[Target], json: bool) -> anyhow::Result<u8> {
    let lookup = super::registry_gate::Registry::open(registry)?;
    let mut rows = Vec::new();
    for target in targets {
        let verdict = lookup
            .verdict_of_target(&target.name, &target.transport)
            .await?;
        rows.push((target, verdict));
    }
    let shadows = rows.iter().filter(|(_, v)| !v.is_approved()).count();
    let mut stdout = anstream::stdout().lock();
    if json {
        let servers: Vec<serde_json::Value> = rows
            .iter()
            .map(|(target, verdict)| {
                let (state, approved_as) = match verdict {
                    Verdict::Approved { name, version } => {
                        ("approved", Some(format!("{name}@{version}")))
                    }
                    Verdict::Unknown(_) => ("unknown", None),
                    Verdict::NotApproved(_) => ("not_approved", None),
                };
                serde_json::json!({
                    "server": target.name,
                    "verdict": state,
                    "shadow": !verdict.is_approved(),
                    "approvedAs": approved_as,
                    "reason": verdict.reason(),
                })
            })
            .collect();
        let report = serde_json::json!({
            "registry": registry,
            "servers": servers,
            "shadow": shadows,
        });
        let _ = writeln!(stdout, "{report:#}");
    } else {
        let bold = anstyle::Style::new().bold();
        let _ = writeln!(
            stdout,
            "{bold}{:<24} {:<14} REASON{bold:#}",
            "SERVER", "VERDICT"
        );
        for (target, verdict) in &rows {
            let (word, colour) = match verdict {
                Verdict::Approved { .. } => ("approved", anstyle::AnsiColor::Green),
                Verdict::Unknown(_) => ("shadow", anstyle::AnsiColor::Red),
                Verdict::NotApproved(_) => ("not approved", anstyle::AnsiColor::Red),
            };
            let style = anstyle::Style::new().fg_color(Some(colour.into())).bold();
            let _ = writeln!(
                stdout,
                "{:<24} {style}{word:<14}{style:#} {}",
                belay_client::terminal::clean(&target.name),
                belay_client::terminal::clean(&verdict.reason())
            );
        }
        let _ = writeln!(
            stdout,
            "\n{} of {} server(s) not approved in {registry} (shadow servers, OWASP MCP09)",
            shadows,
            rows.len()
        );
    }
    let _ = stdout.flush();
    Ok(u8::from(shadows > 0))
}

fn progress_bar(len: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} scanning {pos}/{len} servers {wide_msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The servers named on the command line, with unique names: every server of each
/// mcp.json file, URLs, reference servers, and the command after `--`.
pub(crate) fn targets(words: &[String], command: &[String]) -> anyhow::Result<Vec<Target>> {
    let exe = std::env::current_exe().map_err(|e| {
        anyhow::anyhow!("cannot find the belay executable to run `belay serve`: {e}")
    })?;
    let mut targets = Vec::new();
    for word in words {
        let is_url = word.starts_with("http://") || word.starts_with("https://");
        let path = Path::new(word);
        if !is_url && path.is_file() {
            let file = McpJson::load(
                path,
                &|name| std::env::var(name).ok(),
                &mut super::chat::ask_input,
            )?;
            targets.extend(file.names().filter_map(|name| file.get(name).cloned()));
            continue;
        }
        if !is_url && (word.contains(std::path::MAIN_SEPARATOR) || word.ends_with(".json")) {
            anyhow::bail!("{word}: no such file");
        }
        targets.push(Target::parse(word, None, &exe).map_err(|_| {
            anyhow::anyhow!(
                "`{word}` is no target: give an mcp.json file, an http(s):// URL, a reference \
                 server ({}) or a command after `--`",
                belay_client::target::BUILT_IN.join(", ")
            )
        })?);
    }
    if !command.is_empty() {
        targets.push(Target::command(command)?);
    }
    anyhow::ensure!(
        !targets.is_empty(),
        "nothing to scan: give an mcp.json file, an http(s):// URL, a reference server, or a \
         command after `--` (e.g. `belay scan -- npx -y some-mcp-server`)"
    );
    unique_names(&mut targets);
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_targets_and_mistakes_are_named() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("belay-scan-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("mcp.json");
        std::fs::write(
            &file,
            r#"{"mcpServers": {"a": {"command": "x"}, "b": {"url": "http://127.0.0.1:9/mcp"}}}"#,
        )?;
        let words = vec![
            file.display().to_string(),
            "stock".to_owned(),
            "https://h.example/mcp".to_owned(),
        ];
        let found = targets(&words, &["python".to_owned(), "s.py".to_owned()])?;
        let names: Vec<_> = found.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "stock", "h.example", "python"]);
        let missing = targets(&[dir.join("nope.json").display().to_string()], &[]);
        assert!(missing.is_err_and(|e| e.to_string().contains("no such file")));
        let unknown = targets(&["stonk".to_owned()], &[]);
        assert!(unknown.is_err_and(|e| e.to_string().contains("mcp.json file")));
        assert!(targets(&[], &[]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
