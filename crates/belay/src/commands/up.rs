//! `belay up`: the main job on embedded defaults.
//!
//! Until the gateway lands, this starts every reference server on Streamable HTTP behind
//! one port, each at `/servers/NAME/mcp` (the path the gateway will keep), and prints the
//! URLs and a VS Code `mcp.json` to paste.

use anstyle::{AnsiColor, Style};
use belay_mcp::{guard::AllowList, http};
use belay_servers::ServerName;
use clap::Args;
use serde_json::json;

/// Arguments of `belay up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Interface to listen on.
    #[arg(long, default_value = "127.0.0.1", env = "BELAY_HOST")]
    pub host: String,

    /// Port to listen on; 0 picks a free one.
    #[arg(long, short, default_value_t = 8000, env = "BELAY_PORT")]
    pub port: u16,

    /// Print the endpoints as one JSON object on stdout instead of the friendly banner.
    #[arg(long)]
    pub json: bool,
}

/// The URL path at which `up` serves `name`.
pub fn server_path(name: ServerName) -> String {
    format!("/servers/{name}/mcp")
}

/// Runs every reference server until SIGINT/SIGTERM.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let shutdown = belay_core::shutdown::on_signal();
    let mut router = axum::Router::new();
    for &name in ServerName::UP {
        router = router.merge(belay_servers::streamable_router(
            name,
            &server_path(name),
            false,
            shutdown.clone(),
        ));
    }
    let (listener, addr) = http::bind(&format!("{}:{}", args.host, args.port)).await?;
    let base = format!("http://{addr}");
    let endpoints = endpoints(&base);
    if args.json {
        println!("{}", json!({ "servers": endpoints_json(&endpoints) }));
    } else {
        print_banner(&endpoints);
    }
    http::run(
        listener,
        http::guarded(router, AllowList::default()),
        shutdown,
    )
    .await?;
    eprintln!("belay up: stopped");
    Ok(())
}

fn endpoints(base: &str) -> Vec<(ServerName, String)> {
    ServerName::UP
        .iter()
        .map(|&name| (name, format!("{base}{}", server_path(name))))
        .collect()
}

/// `{"stock": {"type": "http", "url": …}, …}`: the `servers` object of VS Code's mcp.json.
fn endpoints_json(endpoints: &[(ServerName, String)]) -> serde_json::Value {
    endpoints
        .iter()
        .map(|(name, url)| (name.to_string(), json!({ "type": "http", "url": url })))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn print_banner(endpoints: &[(ServerName, String)]) {
    let bold = Style::new().bold();
    let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
    let dim = Style::new().dimmed();
    let mut out = String::new();
    out.push_str(&format!(
        "\n{green}Belay is up.{green:#} Reference MCP servers (Streamable HTTP):\n\n"
    ));
    for (name, url) in endpoints {
        out.push_str(&format!("  {bold}{:<10}{bold:#} {url}\n", name.as_str()));
    }
    let mcp_json = json!({ "servers": endpoints_json(endpoints) });
    let pretty = serde_json::to_string_pretty(&mcp_json).unwrap_or_default();
    out.push_str(&format!(
        "\n{bold}VS Code{bold:#} {dim}(.vscode/mcp.json):{dim:#}\n{pretty}\n\n{dim}Press Ctrl-C to stop.{dim:#}\n"
    ));
    anstream::print!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_json_lists_every_server_with_its_url() {
        let eps = endpoints("http://127.0.0.1:8000");
        let value = endpoints_json(&eps);
        assert_eq!(
            value["stock"],
            json!({"type": "http", "url": "http://127.0.0.1:8000/servers/stock/mcp"})
        );
        assert_eq!(
            value.as_object().map(|o| o.len()),
            Some(ServerName::UP.len())
        );
    }
}
