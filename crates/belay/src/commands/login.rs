//! `belay auth login URL` / `belay auth logout URL`: sign in to any MCP server that asks for
//! OAuth (Belay's or another's), the way a client would, and keep the tokens for later.
//!
//! This is `belay-client` as a command: discovery from the server's 401, client identity
//! (pre-registered, metadata document or dynamic registration), a browser sign-in with a
//! loopback redirect or the device flow, then one `tools/list` to prove the token works.

use std::{sync::Arc, time::Duration};

use anstyle::{AnsiColor, Style};
use anyhow::Context;
use belay_client::{BrowserAgent, Grant, SignIn, SignInOptions, TokenCache, connect_with};
use clap::Args;
use rmcp::ClientLifecycleMode;

/// Arguments of `belay auth login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The MCP server's URL, e.g. http://127.0.0.1:8000/servers/weather/mcp.
    pub url: String,
    /// Sign in with a code typed on another device (RFC 8628) instead of a browser redirect.
    #[arg(long)]
    pub device_code: bool,
    /// A client id registered beforehand (default: metadata document or registration).
    #[arg(long, env = "BELAY_CLIENT_ID")]
    pub client_id: Option<String>,
    /// That client's secret, for confidential clients.
    #[arg(long, env = "BELAY_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// Scope to ask for; repeatable (default: what the server asks for).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Print the URL to open instead of starting a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Print the access token on stdout (for scripts, e.g. curl -H "Authorization: Bearer …").
    #[arg(long)]
    pub print_token: bool,
    /// Where tokens are kept (default: the per-user cache folder + `/belay/tokens`).
    #[arg(long, env = "BELAY_TOKEN_CACHE", value_name = "DIR")]
    pub token_cache: Option<std::path::PathBuf>,
}

/// Arguments of `belay auth logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The MCP server's URL.
    pub url: String,
    /// Where tokens are kept (default: the per-user cache folder + `/belay/tokens`).
    #[arg(long, env = "BELAY_TOKEN_CACHE", value_name = "DIR")]
    pub token_cache: Option<std::path::PathBuf>,
}

fn cache(dir: Option<std::path::PathBuf>) -> anyhow::Result<TokenCache> {
    let dir = match dir {
        Some(dir) => dir,
        None => TokenCache::default_dir()
            .context("no per-user cache folder on this system; pass --token-cache")?,
    };
    Ok(TokenCache::new(dir))
}

/// Signs in to `args.url` (or reuses a cached token) and lists its tools.
pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let cache = cache(args.token_cache)?;
    let options = SignInOptions {
        client_id: args.client_id,
        client_secret: args.client_secret,
        client_name: "belay".into(),
        scopes: args.scopes,
        grant: if args.device_code {
            Grant::DeviceCode
        } else {
            Grant::AuthorizationCode
        },
        cache: Some(cache.clone()),
        user_agent: Arc::new(BrowserAgent {
            timeout: Duration::from_secs(300),
            open_browser: !args.no_browser,
        }),
        ..SignInOptions::default()
    };
    let sign_in = Arc::new(
        SignIn::new(&args.url, options)
            .with_context(|| format!("cannot sign in to {}", args.url))?,
    );
    let client = connect_with(sign_in.clone(), (), ClientLifecycleMode::Initialize)
        .await
        .with_context(|| format!("cannot sign in to {}", args.url))?;
    let tools = client.list_all_tools().await?;
    let token = sign_in.access_token().await?;
    client.cancel().await?;
    let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
    anstream::eprintln!(
        "{green}Signed in{green:#} to {} ({} tools). Tokens kept in {}",
        sign_in.server(),
        tools.len(),
        sign_in
            .store()
            .path()
            .map_or_else(|| "memory".to_owned(), |p| p.display().to_string())
    );
    if args.print_token {
        println!(
            "{}",
            token.context("signed in, but no access token to print")?
        );
    }
    Ok(())
}

/// Forgets the tokens kept for `args.url`.
pub async fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let cache = cache(args.token_cache)?;
    let url = belay_client::canonical_server_url(&args.url)
        .with_context(|| format!("`{}` is not a server URL", args.url))?;
    let store = cache.store_for(&url);
    store.remove().await?;
    eprintln!("Signed out of {url}");
    Ok(())
}
