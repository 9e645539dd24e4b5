//! `belay-loadgen`: the load generator behind `benches/run` and `benches/gateway`.
//!
//! It measures an MCP server the way a client fleet uses it: every session performs the real
//! handshake (`initialize` with protocol 2025-11-25, `mcp-session-id` captured and echoed,
//! `notifications/initialized`), then calls `tools/call get_stock_price` in a closed loop, one
//! request in flight per session, each with its own JSON-RPC id, each answer checked against
//! the mock prices.
//!
//! | subcommand | does |
//! | --- | --- |
//! | `run … -- CMD ARGS…` | spawns the server (`{port}` in ARGS becomes a free port for HTTP), times its cold start (spawn → initialize → first call answered), loads it, prints one JSON line: req/s, latency percentiles, peak RSS (`VmHWM`), CPU used |
//! | `run --connect ADDR …` | the same against a server already running (no spawn, no cold start; CPU and RSS of the `--pid` processes): a gateway and its upstream |
//! | `table [FILES…]` | turns those JSON lines into one Markdown table and checks Belay's targets |
//! | `compare [FILES…]` | the same load direct and through a gateway: added latency, throughput kept, the gateway's targets |
//! | `token …` | an access token by the client-credentials grant, for a gateway that requires sign-in |
//! | `free-port` | prints a loopback port that is free now, for a server a script starts |
//!
//! Transports:
//! - **Streamable HTTP**: one HTTP/1.1 keep-alive connection per session, `TCP_NODELAY` set
//!   (Nagle + delayed ACK otherwise stall each call by ~40 ms); `application/json` and
//!   `text/event-stream` answers are both understood. `--bearer`/`--header` go on every
//!   request; `--tool-prefix` names the tool as a gateway's federated endpoint lists it.
//! - **stdio**: newline-delimited JSON-RPC on the child's stdin/stdout, answers matched by id.
//!   By default N sessions are N requests in flight on one process (`--stdio-mode pipeline`):
//!   a stdio server is one session by construction, so this measures how it handles
//!   concurrent requests; `--stdio-mode processes` runs N processes instead.
//!
//! The load generator runs on one thread by default (`--threads`), so on a 2-core machine the
//! server under test keeps at least one core to itself.

#![deny(missing_docs)]

mod compare;
mod http;
mod load;
mod mcp;
mod run;
mod server;
mod stdio;
mod table;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Load generator for MCP servers (Streamable HTTP and stdio).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Spawn a server, load it, print one JSON line of results.
    Run {
        /// Threads of the load generator's runtime.
        #[arg(long, default_value_t = 1)]
        threads: usize,

        #[command(flatten)]
        args: run::RunArgs,
    },
    /// Print JSON lines from `run` as one Markdown table, with Belay's targets checked.
    Table(table::TableArgs),
    /// Print runs direct and through a gateway as one Markdown table of what the gateway
    /// adds, with the gateway's targets checked.
    Compare(compare::CompareArgs),
    /// Print an access token from the client-credentials grant.
    Token(token::TokenArgs),
    /// Print a loopback TCP port that is free now.
    FreePort,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run { threads, args } => run_once(threads, args),
        Command::Table(args) => table::print(&args),
        Command::Compare(args) => compare::print(&args),
        Command::Token(args) => token(&args),
        Command::FreePort => server::free_port().map(|port| println!("{port}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("belay-loadgen: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn token(args: &token::TokenArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!("{}", runtime.block_on(token::fetch(args))?);
    Ok(())
}

fn run_once(threads: usize, args: run::RunArgs) -> anyhow::Result<()> {
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    let result = runtime.block_on(run::run(args))?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
