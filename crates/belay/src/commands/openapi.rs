//! `belay openapi`: an OpenAPI document's operations as MCP tools. `inspect` prints the
//! tools (and the operations left out, with why) without calling the API; `serve` serves
//! them on stdio or HTTP. The work is belay-openapi's (documents, requests) and
//! belay-gateway's `openapi` module (the MCP server); this file reads flags and prints.

use std::path::Path;

use anstyle::{AnsiColor, Style};
use anyhow::Context;
use belay_gateway::openapi::OpenApiServer;
use belay_mcp::{HttpOptions, Transport};
use belay_openapi::{Api, Catalogue, OpenApiSpec, Tool};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// Arguments of `belay openapi`.
#[derive(Debug, Args)]
pub struct OpenapiArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: OpenapiCommand,
}

/// `belay openapi` subcommands.
#[derive(Debug, Subcommand)]
pub enum OpenapiCommand {
    /// Print the tools a document gives, one per operation, and the operations left out.
    Inspect {
        /// The document: a file, or an https:// URL (JSON or YAML).
        source: String,
        /// Which server and operations.
        #[command(flatten)]
        select: Select,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Serve the document's operations as an MCP server (no credential: for public or
    /// local APIs; put the gateway in front for credentials, policy and guards).
    Serve {
        /// The document: a file, or an https:// URL (JSON or YAML).
        source: String,
        /// Which server and operations.
        #[command(flatten)]
        select: Select,
        /// Transport: `stdio`, `http` (Streamable HTTP at /mcp) or `sse`.
        #[arg(long, short, default_value = "stdio")]
        transport: Transport,
        /// Interface to listen on (HTTP transports).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port to listen on (HTTP transports); 0 picks a free one.
        #[arg(long, short, default_value_t = 8000)]
        port: u16,
    },
}

/// Which server and operations, as in `[[gateway.upstream]] transport = { type = "openapi" }`.
#[derive(Debug, Args)]
pub struct Select {
    /// The API's base URL, replacing the document's servers.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// A host that may be called although private (loopback, ...) or over plain http;
    /// repeatable.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// Only operations with this tag; repeatable.
    #[arg(long = "include-tag", value_name = "TAG")]
    pub include_tags: Vec<String>,
    /// Never operations with this tag; repeatable.
    #[arg(long = "exclude-tag", value_name = "TAG")]
    pub exclude_tags: Vec<String>,
    /// Only this operation (operationId or tool name); repeatable.
    #[arg(long = "include-operation", value_name = "ID")]
    pub include_operations: Vec<String>,
    /// Never this operation (operationId or tool name); repeatable.
    #[arg(long = "exclude-operation", value_name = "ID")]
    pub exclude_operations: Vec<String>,
}

impl Select {
    fn spec(self, source: String) -> OpenApiSpec {
        OpenApiSpec {
            base_url: self.base_url,
            allow_hosts: self.allow_hosts,
            include_tags: self.include_tags,
            exclude_tags: self.exclude_tags,
            include_operations: self.include_operations,
            exclude_operations: self.exclude_operations,
            ..OpenApiSpec::new(source)
        }
    }
}

/// Runs `belay openapi …`.
pub async fn run(args: OpenapiArgs, config: Option<&Path>) -> anyhow::Result<()> {
    match args.command {
        OpenapiCommand::Inspect {
            source,
            select,
            json,
        } => inspect(&select.spec(source), json).await,
        OpenapiCommand::Serve {
            source,
            select,
            transport,
            host,
            port,
        } => {
            let spec = select.spec(source);
            let api = Api::load(&spec, None).await?;
            let mut options = HttpOptions {
                host,
                port,
                threads: 1,
                ..HttpOptions::default()
            };
            if transport != Transport::Stdio {
                let config = crate::config::BelayConfig::load(config)?;
                options.limits = config.front(options.limits);
            }
            let tools = api.catalogue().tools.len();
            let base = api.base().to_string();
            belay_mcp::serve(
                OpenApiServer::new(api),
                transport,
                &options,
                belay_core::shutdown::on_signal(),
                |url| {
                    // stdout may be the protocol channel: announce HTTP only.
                    super::announce(&format!(
                        "mcp       {url}\napi       {base} ({tools} tools)\n"
                    ));
                },
            )
            .await
            .context("`belay openapi serve` stopped")
        }
    }
}

async fn inspect(spec: &OpenApiSpec, json: bool) -> anyhow::Result<()> {
    let (text, document_url) = belay_openapi::read_document(spec, None).await?;
    let catalogue = Catalogue::from_text(&text, spec)?;
    let base = belay_openapi::base_url(spec, &catalogue, document_url.as_ref());
    if json {
        let mut out = serde_json::to_value(&catalogue)?;
        match &base {
            Ok(url) => out["base_url"] = json!(url.as_str()),
            Err(e) => out["base_url_problem"] = json!(e.to_string()),
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    print_table(&catalogue, &base);
    Ok(())
}

fn method_style(method: &str) -> Style {
    let colour = match method {
        "GET" | "HEAD" | "OPTIONS" => AnsiColor::Green,
        "POST" => AnsiColor::Blue,
        "PUT" | "PATCH" => AnsiColor::Yellow,
        "DELETE" => AnsiColor::Red,
        _ => AnsiColor::Magenta,
    };
    Style::new().fg_color(Some(colour.into())).bold()
}

/// The tool's arguments, required ones marked `*`.
fn arguments(tool: &Tool) -> String {
    let required: Vec<&str> = tool.input_schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let names: Vec<String> = tool.input_schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, _)| {
            if required.contains(&name.as_str()) {
                format!("{name}*")
            } else {
                name.clone()
            }
        })
        .collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(", ")
    }
}

fn print_table(catalogue: &Catalogue, base: &Result<belay_openapi::Url, belay_openapi::Error>) {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let warn = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
    let version = match catalogue.version {
        belay_openapi::Version::V30 => "3.0",
        belay_openapi::Version::V31 => "3.1",
    };
    anstream::println!(
        "{bold}{}{bold:#} (OpenAPI {version}): {} tool{}, {} operation{} left out",
        catalogue.title,
        catalogue.tools.len(),
        if catalogue.tools.len() == 1 { "" } else { "s" },
        catalogue.skipped.len(),
        if catalogue.skipped.len() == 1 {
            ""
        } else {
            "s"
        },
    );
    match base {
        Ok(url) => anstream::println!("calls     {url}"),
        Err(e) => anstream::println!("calls     {warn}{e}{warn:#}"),
    }
    if catalogue.tools.is_empty() {
        return;
    }
    let width = catalogue
        .tools
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let path_width = catalogue
        .tools
        .iter()
        .map(|t| t.path.len())
        .max()
        .unwrap_or(4)
        .max(4);
    anstream::println!(
        "\n{bold}{:<width$}  {:<7} {:<path_width$}  {:<6} ARGUMENTS (* required){bold:#}",
        "TOOL",
        "METHOD",
        "PATH",
        "OUTPUT"
    );
    for tool in &catalogue.tools {
        let style = method_style(&tool.method);
        let method = format!("{style}{:<7}{style:#}", tool.method);
        anstream::println!(
            "{:<width$}  {method} {:<path_width$}  {:<6} {}",
            tool.name,
            tool.path,
            if tool.output_schema.is_some() {
                "json"
            } else {
                "-"
            },
            arguments(tool)
        );
        let first_line = tool.description.lines().next().unwrap_or_default();
        anstream::println!("{:<width$}  {dim}{first_line}{dim:#}", "");
    }
    if !catalogue.skipped.is_empty() {
        anstream::println!("\n{bold}Left out{bold:#}");
        for skipped in &catalogue.skipped {
            let id = skipped
                .operation_id
                .as_deref()
                .map(|id| format!(" ({id})"))
                .unwrap_or_default();
            anstream::println!(
                "  {} {}{id}: {warn}{}{warn:#}",
                skipped.method,
                skipped.path,
                skipped.reason
            );
        }
    }
}
