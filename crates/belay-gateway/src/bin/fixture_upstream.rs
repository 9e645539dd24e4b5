//! Test fixture: serves one reference server (`argv[1]`, default `stock`) on stdio, so
//! the gateway's tests can spawn, kill and restart a real stdio upstream; or, with
//! `unruly` (stdio), `unruly-http` (Streamable HTTP) or `unruly-sse` (legacy HTTP+SSE), the
//! last two on loopback with their URL printed as the first line on stdout, a server that
//! misbehaves on request (see `unruly.rs`).

use belay_mcp::{HttpOptions, Transport};
use belay_servers::ServerName;
use tokio_util::sync::CancellationToken;

// A crate root's modules sit beside it: point into this binary's own folder.
#[path = "fixture_upstream/unruly.rs"]
mod unruly;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let name = std::env::args().nth(1).unwrap_or_else(|| "stock".into());
    match name.as_str() {
        "unruly" => return unruly::stdio().await,
        "unruly-http" => return unruly::http().await,
        "unruly-sse" => return unruly::sse().await,
        _ => {}
    }
    let name: ServerName = match name.parse() {
        Ok(name) => name,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let options = HttpOptions::default();
    match belay_servers::serve(
        name,
        Transport::Stdio,
        &options,
        CancellationToken::new(),
        |_| {},
    )
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
