//! What `belay up` says once it has started: the banner for people, and the same as JSON
//! (`--json`), with an `mcp.json` a client can use as it is.

use anstyle::{AnsiColor, Style};
use serde_json::json;

use super::{DEMO_USER, Started};

/// VS Code's `.vscode/mcp.json`: the gateway's federated endpoint.
pub(super) fn mcp_json(started: &Started) -> serde_json::Value {
    json!({ "servers": { "belay": { "type": "http", "url": started.gateway } } })
}

pub(super) fn started_json(started: &Started) -> serde_json::Value {
    let servers: serde_json::Map<_, _> = started
        .servers
        .iter()
        .map(|(name, url)| (name.clone(), json!({ "type": "http", "url": url })))
        .collect();
    let mut value = json!({
        "gateway": { "type": "http", "url": started.gateway },
        "servers": servers,
        "mcp_json": mcp_json(started),
    });
    if let Some(issuer) = &started.issuer {
        value["issuer"] = json!(issuer);
        value["user"] = json!({ "username": DEMO_USER, "password": started.new_password });
    }
    if let Some(audit) = &started.audit {
        value["audit"] = json!(audit);
    }
    value["registry"] = json!(started.registry);
    if let Some(console) = &started.console {
        value["console"] = json!(console);
    }
    value
}

/// The banner; `follow` is the `belay audit tail --follow` that reads this run's log.
pub(super) fn print_banner(started: &Started, follow: &str) {
    let bold = Style::new().bold();
    let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
    let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold();
    let dim = Style::new().dimmed();
    let how = match started.issuer {
        Some(_) => "OAuth sign-in",
        None => "no sign-in",
    };
    let mut out = format!(
        "\n{green}Belay is up.{green:#} Gateway ({how}):\n\n  {bold}{:<10}{bold:#} {}  {dim}every server's tools{dim:#}\n",
        "mcp", started.gateway
    );
    for (name, url) in &started.servers {
        out.push_str(&format!("  {bold}{name:<10}{bold:#} {url}\n"));
    }
    if let Some(issuer) = &started.issuer {
        out.push_str(&format!(
            "\n{bold}Sign-in{bold:#}    {issuer}  (user {DEMO_USER}"
        ));
        match &started.new_password {
            Some(password) => out.push_str(&format!(
                ", password {yellow}{password}{yellow:#} {dim}shown once, stored hashed{dim:#})\n"
            )),
            None => out.push_str(&format!(
                "; {dim}forgot the password? `belay auth user remove {DEMO_USER}`, then \
                 restart{dim:#})\n"
            )),
        }
    }
    if let Some(audit) = &started.audit {
        out.push_str(&format!(
            "{bold}Audit{bold:#}      {}  {dim}(`{follow}`){dim:#}\n",
            audit.display()
        ));
    }
    out.push_str(&format!(
        "{bold}Registry{bold:#}   {}  {dim}(`belay registry list`){dim:#}\n",
        started.registry
    ));
    if let Some(console) = &started.console {
        out.push_str(&format!(
            "{bold}Console{bold:#}    {console}  {dim}(sign in as an admin: {DEMO_USER} unless [console] admins says otherwise){dim:#}\n"
        ));
    }
    let pretty = serde_json::to_string_pretty(&mcp_json(started)).unwrap_or_default();
    out.push_str(&format!(
        "\n{bold}VS Code{bold:#} {dim}(.vscode/mcp.json):{dim:#}\n{pretty}\n\n{dim}Press Ctrl-C to stop.{dim:#}\n"
    ));
    super::super::announce(&out);
}
