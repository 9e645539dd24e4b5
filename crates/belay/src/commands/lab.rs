//! `belay lab list|run|exploit`: vulnerable MCP servers beside their fixed twins, and the
//! exploits that prove each fix. The labs themselves are `belay-labs`; this file reads the
//! command line, prints and sets the exit status.

use std::{process::ExitCode, sync::Arc};

use anstyle::{AnsiColor, Style};
use anyhow::Context;
use belay_client::{ConnectOptions, Target, target::unique_names};
use belay_labs::{LabName, Report, Variant, agent::Answer, token_mismanagement};
use belay_mcp::{HttpOptions, Transport, guard::AllowList};
use clap::{Args, Subcommand};

/// What the exit status of `belay lab exploit` means.
const EXIT_STATUS: &str = "\
Exit status:
  0  the attack failed (a defence held)
  1  the attack succeeded
  2  the exploit could not run (the target could not be reached, say)

Examples:
  belay lab exploit tool-poisoning            attack the vulnerable server, started here
  belay lab exploit tool-poisoning --fixed    attack its fixed twin
  belay lab exploit tool-poisoning --target http://127.0.0.1:8080/mcp
  belay lab exploit tool-shadowing --target http://127.0.0.1:8001/mcp --target http://127.0.0.1:8002/mcp";

/// Arguments of `belay lab`.
#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Every lab with the OWASP MCP Top 10 risks it shows.
    List {
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Serve a lab's vulnerable server (or its fixed twin) like `belay serve`.
    Run(RunArgs),
    /// Run a lab's exploit and say what an attacker got, or which defence stopped it.
    #[command(after_help = EXIT_STATUS)]
    Exploit(ExploitArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The lab (`belay lab list`).
    name: LabName,
    /// Serve the fixed twin instead of the vulnerable server.
    #[arg(long)]
    fixed: bool,
    /// For a lab of several servers (`belay lab list` names them), which one to serve;
    /// default: the first, the attacker's.
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    /// Transport: `stdio`, `http` (Streamable HTTP) or `sse` (legacy HTTP+SSE).
    #[arg(long, short, default_value = "stdio")]
    transport: Transport,
    /// Interface to listen on (HTTP transports). Labs are vulnerable on purpose: keep them
    /// on loopback.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (HTTP transports); 0 picks a free one.
    #[arg(long, short, default_value_t = 8000)]
    port: u16,
    /// Path of the Streamable HTTP endpoint.
    #[arg(long, default_value = "/mcp")]
    path: String,
    /// Serve the fixed twin behind Belay's resource-server check, accepting tokens of this
    /// issuer (`belay up`'s or `belay auth serve`'s URL) issued for this server. The
    /// token-mismanagement twin refuses everyone without one.
    #[arg(long, value_name = "URL", requires = "fixed")]
    issuer: Option<String>,
}

#[derive(Debug, Args)]
struct ExploitArgs {
    /// The lab (`belay lab list`).
    name: LabName,
    /// Attack this MCP endpoint (the lab served elsewhere, or a gateway in front of it);
    /// repeatable for labs that need several servers. Default: the lab's server, started
    /// here on a loopback port.
    #[arg(long, value_name = "URL")]
    target: Vec<String>,
    /// Without --target: attack the fixed twin.
    #[arg(long, conflicts_with = "target")]
    fixed: bool,
    /// With --fixed: the issuer whose tokens the fixed twin accepts (see `belay lab run
    /// --issuer`).
    #[arg(long, value_name = "URL", requires = "fixed")]
    issuer: Option<String>,
    /// A header sent with every request (`Authorization: Bearer …`); repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `belay lab`; the exit status is the exploit's (0 defended, 1 succeeded, 2 could not
/// run).
pub async fn run(args: LabArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        LabCommand::List { json } => list(json).map(|()| ExitCode::SUCCESS),
        LabCommand::Run(args) => serve(args).await.map(|()| ExitCode::SUCCESS),
        LabCommand::Exploit(args) => Ok(exploit(args).await),
    }
}

fn list(json: bool) -> anyhow::Result<()> {
    let labs: Vec<_> = LabName::ALL.iter().map(|n| n.lab()).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&labs)?);
        return Ok(());
    }
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    for lab in labs {
        let risks: Vec<String> = lab
            .risks
            .iter()
            .map(|r| format!("{} {}", r.id(), r.title()))
            .collect();
        anstream::println!("{bold}{:<22}{bold:#} {}", lab.name.as_str(), lab.title);
        anstream::println!("{:<22} {dim}{}{dim:#}", "", risks.join("; "));
        let servers = lab.name.servers();
        if !servers.is_empty() {
            anstream::println!(
                "{:<22} {dim}servers: {} (`--server NAME`){dim:#}",
                "",
                servers.join(", ")
            );
        }
    }
    anstream::println!(
        "\nServe one with `belay lab run NAME [--fixed]`; attack it with `belay lab exploit NAME`."
    );
    Ok(())
}

fn http_options(host: &str, port: u16, path: &str) -> anyhow::Result<HttpOptions> {
    anyhow::ensure!(
        path.starts_with('/'),
        "--path must start with `/` (got `{path}`)"
    );
    Ok(HttpOptions {
        host: host.to_owned(),
        port,
        path: path.to_owned(),
        allow: AllowList::default(),
        ..HttpOptions::default()
    })
}

async fn serve(args: RunArgs) -> anyhow::Result<()> {
    let lab = args.name.lab();
    anyhow::ensure!(
        lab.transports.contains(&args.transport),
        "the {} lab is not served over {}: use --transport {}",
        args.name,
        args.transport,
        lab.transports
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    );
    let servers = args.name.servers();
    if let Some(server) = &args.server {
        anyhow::ensure!(
            servers.contains(&server.as_str()),
            "the {} lab has no server `{server}`: {}",
            args.name,
            match servers {
                [] => "it has one server; leave out --server".to_owned(),
                names => format!("use --server {}", names.join(" or ")),
            }
        );
    }
    let mut options = http_options(&args.host, args.port, &args.path)?;
    options.wrap = resource_check(args.issuer.as_deref())?;
    let variant = if args.fixed {
        Variant::Fixed
    } else {
        Variant::Vulnerable
    };
    let name = args.name;
    let transport = args.transport;
    let server = args.server.as_deref().or(servers.first().copied());
    let label = server.map(|s| format!(" server {s}")).unwrap_or_default();
    let on_ready = move |url: String| {
        // Logs, not stdout: over stdio that is the protocol channel.
        tracing::info!(lab = %name, server, %variant, %transport, %url, "listening");
        if transport != Transport::Stdio {
            super::announce(&format!("lab {name}{label} ({variant}) at {url}\n"));
        }
    };
    let shutdown = belay_core::shutdown::on_signal();
    name.serve_server(server, variant, transport, &options, shutdown, on_ready)
        .await
        .with_context(|| format!("`belay lab run {name}` stopped"))
}

async fn exploit(args: ExploitArgs) -> ExitCode {
    match attack(&args).await {
        Ok(report) => {
            print_report(&report, args.json);
            if report.succeeded {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn attack(args: &ExploitArgs) -> anyhow::Result<Report> {
    let headers = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .with_context(|| format!("--header `{h}` is not `NAME: VALUE`"))
        })
        .collect::<anyhow::Result<std::collections::BTreeMap<_, _>>>()?;
    let options = ConnectOptions {
        client_name: "belay lab exploit".into(),
        ..ConnectOptions::default()
    };
    if !args.target.is_empty() {
        let mut targets = args
            .target
            .iter()
            .map(|url| http_target(url, &headers))
            .collect::<anyhow::Result<Vec<_>>>()?;
        unique_names(&mut targets);
        return Ok(args.name.exploit(&targets, &options).await?);
    }
    // The lab's own servers, on loopback ports of this process, for as long as the attack.
    let variant = if args.fixed {
        Variant::Fixed
    } else {
        Variant::Vulnerable
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    // Stops the servers however the attack ends.
    let _stop = shutdown.clone().drop_guard();
    let servers: Vec<Option<&'static str>> = match args.name.servers() {
        [] => vec![None],
        names => names.iter().copied().map(Some).collect(),
    };
    let mut targets = Vec::new();
    for server in servers {
        let url = start_lab_server(
            args.name,
            server,
            variant,
            args.issuer.as_deref(),
            shutdown.clone(),
        )
        .await?;
        let mut target = http_target(&url, &headers)?;
        target.name = server.unwrap_or("lab").to_owned();
        targets.push(target);
    }
    Ok(args.name.exploit(&targets, &options).await?)
}

/// Serves one of `name`'s servers over Streamable HTTP on a free loopback port until
/// `shutdown`, behind `issuer`'s resource-server check if given; its URL.
async fn start_lab_server(
    name: LabName,
    server: Option<&'static str>,
    variant: Variant,
    issuer: Option<&str>,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<String> {
    let (ready, url) = tokio::sync::oneshot::channel();
    let ready = Arc::new(std::sync::Mutex::new(Some(ready)));
    let mut options_http = http_options("127.0.0.1", 0, "/mcp")?;
    options_http.wrap = resource_check(issuer)?;
    let served = tokio::spawn(async move {
        name.serve_server(
            server,
            variant,
            Transport::Http,
            &options_http,
            shutdown,
            move |url| {
                if let Some(ready) = ready.lock().ok().and_then(|mut r| r.take()) {
                    let _ = ready.send(url);
                }
            },
        )
        .await
    });
    match url.await {
        Ok(url) => Ok(url),
        Err(_) => match served.await {
            Ok(Err(e)) => anyhow::bail!("the lab's server did not start: {e}"),
            _ => anyhow::bail!("the lab's server did not start"),
        },
    }
}

/// `--issuer`: the resource-server check in front of a fixed twin.
fn resource_check(issuer: Option<&str>) -> anyhow::Result<Option<belay_mcp::RouterWrap>> {
    issuer
        .map(|issuer| {
            token_mismanagement::resource_check(issuer)
                .with_context(|| format!("--issuer `{issuer}`"))
        })
        .transpose()
}

fn http_target(
    url: &str,
    headers: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<Target> {
    let mut target = Target::parse(url, None, std::path::Path::new("belay"))
        .map_err(|e| anyhow::anyhow!("--target: {e}"))?;
    if let belay_client::Transport::Http { headers: h, .. }
    | belay_client::Transport::Sse { headers: h, .. } = &mut target.transport
    {
        h.extend(headers.clone());
    }
    Ok(target)
}

fn print_report(report: &Report, json: bool) {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: cannot write the report: {e}"),
        }
        return;
    }
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
    anstream::println!("{bold}lab {}{bold:#}", report.lab);
    for step in &report.steps {
        let arguments = serde_json::Value::Object(step.arguments.clone()).to_string();
        let answer = match &step.answer {
            Answer::Answered { text, is_error } => {
                let text = fold(text);
                if *is_error {
                    format!("tool error: {text}")
                } else {
                    text
                }
            }
            Answer::Refused { code, message, .. } => format!("refused ({code}): {}", fold(message)),
            Answer::NotOffered => "not offered".into(),
            Answer::Broken { reason } => format!("failed: {reason}"),
        };
        anstream::println!("  {}({}) → {answer}", step.tool, fold(&arguments));
        anstream::println!("  {dim}because {}{dim:#}", fold(&step.because));
    }
    if report.succeeded {
        anstream::println!("{red}attack succeeded:{red:#} {}", report.summary);
    } else {
        anstream::println!("{green}attack failed:{green:#} {}", report.summary);
        if let Some(defence) = &report.stopped_by {
            anstream::println!("stopped by {defence}");
        }
    }
}

/// One line of at most 120 characters, control characters shown as spaces.
fn fold(text: &str) -> String {
    fold_to(text, 120)
}

/// One line of at most `most` characters, control characters shown as spaces.
pub(crate) fn fold_to(text: &str, most: usize) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match line.char_indices().nth(most) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}
