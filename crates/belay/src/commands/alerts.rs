//! `belay alerts`: the alert rules of belay.toml (`[[alerts.rule]]`), and a sample notice of
//! one sent to its webhooks, to check they arrive (`belay alerts test RULE`).

use std::path::Path;

use anstyle::{AnsiColor, Style};
use anyhow::Context;
use belay_console::alerts::{notify, sample};
use clap::{Args, Subcommand};

use crate::config::BelayConfig;

/// Arguments of `belay alerts`.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AlertsCommand,
}

/// `belay alerts` subcommands.
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List the rules and the webhooks each notifies.
    List {
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send a sample `firing` notice of RULE to its webhooks (exit 1 if one fails).
    Test {
        /// The rule's name.
        rule: String,
        /// One JSON line per webhook instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `belay alerts …`.
pub async fn run(args: AlertsArgs, config: Option<&Path>) -> anyhow::Result<()> {
    let config = BelayConfig::load(config)?;
    let spec = &config.alerts;
    spec.validate()?;
    let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
    let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    match args.command {
        AlertsCommand::List { json } => {
            let rules: Vec<serde_json::Value> = spec
                .rule
                .iter()
                .map(|r| {
                    let hooks: Vec<&str> = spec
                        .webhooks_of(&r.name)
                        .iter()
                        .map(|w| w.name.as_str())
                        .collect();
                    serde_json::json!({
                        "name": r.name, "when": r.when, "threshold": r.threshold,
                        "window_secs": r.window_secs, "per": r.per, "webhooks": hooks,
                    })
                })
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rules)?);
            } else if rules.is_empty() {
                println!("no alert rules ([[alerts.rule]] in belay.toml)");
            }
            if !json {
                for r in &rules {
                    println!(
                        "{:<24} {} > {} over {} s per {} -> {}",
                        r["name"].as_str().unwrap_or_default(),
                        r["when"].as_str().unwrap_or_default(),
                        r["threshold"],
                        r["window_secs"],
                        r["per"].as_str().unwrap_or_default(),
                        r["webhooks"]
                    );
                }
            }
            Ok(())
        }
        AlertsCommand::Test { rule, json } => {
            let found = spec.rule(&rule).with_context(|| {
                let names: Vec<&str> = spec.rule.iter().map(|r| r.name.as_str()).collect();
                format!("no alert rule `{rule}`; rules: {}", names.join(", "))
            })?;
            let hooks = spec.webhooks_of(&rule);
            anyhow::ensure!(!hooks.is_empty(), "rule `{rule}` has no webhook to send to");
            let http = notify::client()?;
            let failed = notify::deliver(&http, &hooks, &sample(found)).await;
            for hook in &hooks {
                let why = failed.iter().find(|(n, _)| n == &hook.name).map(|(_, w)| w);
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"webhook": hook.name, "sent": why.is_none(), "error": why})
                    );
                } else {
                    match why {
                        None => anstream::println!(
                            "{green}sent{green:#}    {} ({})",
                            hook.name,
                            hook.url
                        ),
                        Some(why) => anstream::println!(
                            "{red}FAILED{red:#}  {} ({}): {why}",
                            hook.name,
                            hook.url
                        ),
                    }
                }
            }
            anyhow::ensure!(failed.is_empty(), "{} webhook(s) failed", failed.len());
            Ok(())
        }
    }
}
