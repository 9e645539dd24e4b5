//! `belay redteam TARGET… [-- COMMAND ARGS…]`: run the red team's catalogue of attacks
//! against MCP servers or a gateway and show how each ended, grouped by OWASP MCP risk. The
//! attacks are `belay-redteam`; this file reads the command line, shows progress, prints and
//! sets the exit status.

use std::{
    io::{IsTerminal, Write},
    process::ExitCode,
    time::Duration,
};

use anstyle::{AnsiColor, Style};
use belay_client::{Target, TokenCache, Transport};
use belay_redteam::{Attempt, Options, Outcome, Report, Risk};
use clap::Args;

use super::lab::fold_to as fold;

/// What the exit status means, under `belay redteam --help`.
const EXIT_STATUS: &str = "\
Exit status:
  0  no attack succeeded (each was blocked, detected or not applicable)
  1  at least one attack succeeded
  2  the red team could not run: a target could not be reached, started or listed

Nothing in the catalogue harms the machine: commands only print a nonce, paths only read
/etc/passwd, tokens are forged, and the labs' exploits use invented secrets.

Examples:
  belay redteam http://127.0.0.1:8080/mcp --token \"$TOKEN\"
  belay redteam -- belay lab run tool-poisoning
  belay redteam .vscode/mcp.json --json";

/// Arguments of `belay redteam`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_STATUS)]
pub struct RedteamArgs {
    /// What to attack: an http(s):// URL (Streamable HTTP), an mcp.json file (every server
    /// in it) or a reference server name.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// A stdio server to start and attack: everything after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// A bearer token for HTTP targets (a signed-in user's): the tools are attacked behind
    /// it, and the token attacks forge tokens that look like it. Without it, a target that
    /// asks for a sign-in gets one (see --no-sign-in).
    #[arg(long, env = "BELAY_REDTEAM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Never sign in: without --token, a target that asks for a sign-in is attacked from
    /// outside only (by default a cached `belay auth login` token is used, and on a terminal
    /// the browser sign-in starts).
    #[arg(long, conflicts_with = "token")]
    pub no_sign_in: bool,
    /// Print sign-in URLs instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Where `belay auth login` keeps tokens (default: the per-user cache folder +
    /// `/belay/tokens`).
    #[arg(long, env = "BELAY_TOKEN_CACHE", value_name = "DIR")]
    pub token_cache: Option<std::path::PathBuf>,
    /// Seconds one call or request may take before the target counts as hung.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = seconds)]
    pub timeout: f64,
    /// Write the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 3600.0 => Ok(s),
        _ => Err(format!(
            "`{text}` is not a number of seconds between 0 and 3600"
        )),
    }
}

/// Runs the red team and returns its exit status (0, 1 or 2); prints why when it is 2.
pub async fn run(args: RedteamArgs) -> ExitCode {
    match attack(&args).await {
        Ok(report) => {
            let text = if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(json) => format!("{json}\n"),
                    Err(e) => {
                        eprintln!("error: cannot write the report: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                table(&report)
            };
            // Not `print!`, which panics on a closed stdout (`belay redteam … | head`).
            let mut stdout = anstream::stdout().lock();
            let _ = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush());
            ExitCode::from(u8::from(report.any_succeeded()))
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn attack(args: &RedteamArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        !args.targets.is_empty() || !args.command.is_empty(),
        "nothing to attack: give an http(s):// URL, an mcp.json file, a reference server, or a \
         command after `--` (e.g. `belay redteam -- belay lab run tool-poisoning`)"
    );
    let mut targets = super::scan::targets(&args.targets, &args.command)?;
    let mut options = Options {
        token: args.token.clone().filter(|t| !t.trim().is_empty()),
        call_timeout: Duration::from_secs_f64(args.timeout),
        ..Options::default()
    };
    options.connect.client_name = "belay redteam".into();
    options.connect.open_browser = !args.no_browser;
    options.connect.token_cache = match &args.token_cache {
        Some(dir) => Some(TokenCache::new(dir.clone())),
        None => TokenCache::default_dir().map(TokenCache::new),
    };
    if options.token.is_none() && !args.no_sign_in {
        let interactive = std::io::stderr().is_terminal() && std::io::stdin().is_terminal();
        for target in &mut targets {
            sign_in(target, &options, interactive).await;
        }
    }
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(belay_redteam::steps(&targets) as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} red team {bar:20} {pos}/{len} {wide_msg}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let on_step = |family: &str| {
        if let Some(bar) = &progress {
            bar.inc(1);
            bar.set_message(family.to_owned());
        }
    };
    let report = belay_redteam::run(&targets, &options, &on_step).await;
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    Ok(report?)
}

/// Gives an HTTP target that asks for a sign-in (401/403 to a plain ping) and carries no
/// token of its own the signed-in user's token: the cached one, or on a terminal a fresh
/// sign-in. Without one the target is still attacked from outside (the report says so).
async fn sign_in(target: &mut Target, options: &Options, interactive: bool) {
    let Some((url, headers)) = belay_redteam::http_url(target) else {
        return;
    };
    if headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("authorization"))
    {
        return;
    }
    if !matches!(
        belay_redteam::status(&url, &headers, options).await,
        Ok(401 | 403)
    ) {
        return;
    }
    match belay_client::access_token(&url, &options.connect, interactive).await {
        Ok(Some(token)) => {
            if let Transport::Http { headers, .. } = &mut target.transport {
                headers.insert("Authorization".into(), format!("Bearer {token}"));
            }
        }
        Ok(None) => {}
        Err(e) => eprintln!("warning: could not sign in to {url}: {e}"),
    }
}

fn style(outcome: Outcome) -> Style {
    match outcome {
        Outcome::Succeeded => Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
        Outcome::Detected => Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold(),
        Outcome::Blocked => Style::new().fg_color(Some(AnsiColor::Green.into())),
        Outcome::NotApplicable => Style::new().dimmed(),
    }
}

/// The report as a table grouped by OWASP MCP risk, then a summary line.
fn table(report: &Report) -> String {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let several = report.targets.len() > 1;
    let clean = belay_client::terminal::clean;
    let mut out = format!(
        "{bold}belay redteam{bold:#} against {}\n",
        clean(&report.targets.join(", "))
    );
    for risk in Risk::ALL {
        let attempts: Vec<&Attempt> = report.attempts.iter().filter(|a| a.risk == risk).collect();
        if attempts.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{bold}{} {}{bold:#}\n", risk.id(), risk.title()));
        let width = attempts
            .iter()
            .map(|a| name(a, several).chars().count())
            .max()
            .unwrap_or(0)
            .min(48);
        for attempt in attempts {
            let style = style(attempt.outcome);
            out.push_str(&format!(
                "  {style}{:<14}{style:#} {:<width$}  {dim}{}{dim:#}\n",
                attempt.outcome.as_str(),
                clean(&fold(&name(attempt, several), 48)),
                clean(&fold(&attempt.evidence, 140)),
            ));
        }
    }
    for note in &report.notes {
        out.push_str(&format!("\n{dim}note: {}{dim:#}", clean(note)));
    }
    let counted = report.attempts.len() - report.count(Outcome::NotApplicable);
    let summary = format!(
        "{counted} attacks: {} succeeded, {} detected, {} blocked ({} not applicable)",
        report.count(Outcome::Succeeded),
        report.count(Outcome::Detected),
        report.count(Outcome::Blocked),
        report.count(Outcome::NotApplicable),
    );
    let style = if report.any_succeeded() {
        style(Outcome::Succeeded)
    } else {
        style(Outcome::Blocked).bold()
    };
    out.push_str(&format!("\n{style}{summary}{style:#}\n"));
    out
}

fn name(attempt: &Attempt, several: bool) -> String {
    if several {
        format!("{}: {}", attempt.target, attempt.attack)
    } else {
        attempt.attack.clone()
    }
}
