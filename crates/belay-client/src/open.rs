//! Opening a session to one [`Target`]: a child process over stdio, Streamable HTTP (signing in with `belay auth login`'s cached tokens, or in the browser, when
//! the server answers 401), or the 2024-11-05 HTTP+SSE transport, tried too when a URL's
//! server does not speak Streamable HTTP. Both protocol eras ([`ProtocolEra`]): by default
//! `server/discover` first, the `initialize` handshake when the server does not know it, or
//! knows it but offers no 2026-07-28 revision there; or one era only, when asked.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{HeaderMap, HeaderName, HeaderValue};
use rmcp::{
    ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient,
    model::ProtocolVersion,
    service::{ClientInitializeError, RunningService},
    transport::TokioChildProcess,
};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{
    agent::{BrowserAgent, UserAgent},
    cache::TokenCache,
    legacy_sse::{BoxError, LegacySseTransport},
    signin::{SignIn, SignInOptions},
    target::{Target, Transport},
    terminal::clean,
};

/// How long a stdio server may take to start and answer the handshake, by default.
pub const STDIO_START: Duration = Duration::from_secs(30);
/// Lines of a stdio server's stderr kept to explain a failed start.
const STDERR_LINES: usize = 20;

/// Which protocol era a session is opened in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum ProtocolEra {
    /// `server/discover` first (2026-07-28), the `initialize` handshake when the server does
    /// not offer that era.
    #[default]
    Auto,
    /// Always the `initialize` handshake (2025-11-25 and before), even with a server that
    /// offers 2026-07-28.
    Handshake,
    /// 2026-07-28 only: a server that does not offer it is an error, not a fallback.
    Latest,
}

impl ProtocolEra {
    /// The words [`ProtocolEra::from_str`](std::str::FromStr) takes.
    pub const CHOICES: &str = "`auto`, `handshake` or `2026-07-28`";
}

impl std::str::FromStr for ProtocolEra {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            "handshake" => Ok(Self::Handshake),
            "2026-07-28" => Ok(Self::Latest),
            other => Err(format!(
                "unknown protocol era `{other}`: use {}",
                Self::CHOICES
            )),
        }
    }
}

impl TryFrom<String> for ProtocolEra {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl std::fmt::Display for ProtocolEra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Handshake => "handshake",
            Self::Latest => "2026-07-28",
        })
    }
}

/// How to connect.
#[derive(Clone)]
pub struct ConnectOptions {
    /// Where `belay auth login` keeps tokens; `None`: sign-ins last for this run only.
    pub token_cache: Option<TokenCache>,
    /// Open a browser for sign-in (else the URL is only printed).
    pub open_browser: bool,
    /// The `client_name` registered with authorization servers (`belay chat`).
    pub client_name: String,
    /// How long a stdio server may take to start and answer the handshake.
    pub stdio_start: Duration,
    /// Who takes the person through a sign-in, instead of a [`BrowserAgent`] (one that
    /// refuses, where nobody is there to sign in).
    pub user_agent: Option<Arc<dyn UserAgent>>,
    /// Which protocol era to open sessions in (legacy SSE is always the handshake).
    pub era: ProtocolEra,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            token_cache: None,
            open_browser: false,
            client_name: "Belay".to_owned(),
            stdio_start: STDIO_START,
            user_agent: None,
            era: ProtocolEra::Auto,
        }
    }
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("token_cache", &self.token_cache)
            .field("open_browser", &self.open_browser)
            .field("client_name", &self.client_name)
            .field("stdio_start", &self.stdio_start)
            .field("user_agent", &self.user_agent.as_ref().map(|_| "custom"))
            .field("era", &self.era)
            .finish()
    }
}

/// Why a session could not be opened, said for a person (what failed, and the last lines a
/// stdio server wrote).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct OpenError(pub String);

type Session<H> = RunningService<RoleClient, H>;

fn lifecycle(era: ProtocolEra) -> ClientLifecycleMode {
    match era {
        ProtocolEra::Auto => ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: None,
        },
        ProtocolEra::Handshake => ClientLifecycleMode::Initialize,
        ProtocolEra::Latest => ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    }
}

/// Why a session asked for in the 2026-07-28 era only did not open, for a person.
fn not_offered(what: &str, error: &str) -> String {
    format!(
        "{what} did not open a session in the 2026-07-28 protocol era, the only one asked for \
         ({error}); a server of the handshake era only does not offer it: use protocol `auto` \
         (or `handshake`) to open it with `initialize`"
    )
}

/// Opens a session to `target` with `handler`; the error says what failed, for a person.
pub async fn open<H: ClientHandler + Clone>(
    target: &Target,
    handler: H,
    options: &ConnectOptions,
) -> Result<Session<H>, OpenError> {
    let opened = match &target.transport {
        Transport::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            stdio(
                command,
                args,
                env,
                cwd.as_deref(),
                handler,
                options.stdio_start,
                options.era,
            )
            .await
        }
        Transport::Http { url, headers } => http(url, headers, handler, options).await,
        Transport::Sse { url, .. } if options.era == ProtocolEra::Latest => Err(format!(
            "{url} is a legacy SSE endpoint, which speaks only the handshake era, but only the \
             2026-07-28 era was asked for: use protocol `auto` or `handshake`"
        )),
        Transport::Sse { url, headers } => match sign_in(url, options) {
            Ok(sign_in) => sse(url, headers, sign_in, handler).await,
            Err(e) => Err(e),
        },
    };
    opened.map_err(OpenError)
}

async fn stdio<H: ClientHandler + Clone>(
    command: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
    cwd: Option<&std::path::Path>,
    handler: H,
    start: Duration,
    era: ProtocolEra,
) -> Result<Session<H>, String> {
    // The server's stderr is its log: kept out of the console, the last lines kept to
    // explain a failed start, every line at debug level for `--log debug`.
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let spawn = || -> Result<TokioChildProcess, String> {
        let mut process = tokio::process::Command::new(command);
        process.args(args).envs(env);
        if let Some(cwd) = cwd {
            process.current_dir(cwd);
        }
        let (transport, stderr) = TokioChildProcess::builder(process)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start `{command}`: {e}"))?;
        if let Some(stderr) = stderr {
            keep_tail(command, stderr, tail.clone());
        }
        Ok(transport)
    };
    let mut started = tokio::time::timeout(
        start,
        handler
            .clone()
            .serve_with_lifecycle(spawn()?, lifecycle(era)),
    )
    .await;
    if era == ProtocolEra::Auto
        && let Ok(Err(ClientInitializeError::NoCompatibleProtocolVersion { .. })) = &started
    {
        // It knows `server/discover` but offers no revision of that era, and rmcp does not
        // fall back then: start it again and open the session with the handshake.
        tracing::debug!(server = %command, "no 2026-07-28 revision offered; using initialize");
        started = tokio::time::timeout(
            start,
            handler.serve_with_lifecycle(spawn()?, ClientLifecycleMode::Initialize),
        )
        .await;
    }
    let failure = match started {
        Ok(Ok(session)) => return Ok(session),
        Ok(Err(e)) if era == ProtocolEra::Latest => {
            not_offered(&format!("`{command}`"), &e.to_string())
        }
        Ok(Err(e)) => format!("`{command}` did not start an MCP session: {e}"),
        Err(_) => format!(
            "`{command}` did not answer the MCP handshake within {} s",
            start.as_secs_f32()
        ),
    };
    // Let the reader catch the last lines a failing process wrote.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let tail = tail
        .lock()
        .map(|t| t.iter().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    if tail.is_empty() {
        Err(failure)
    } else {
        Err(format!(
            "{failure}; it wrote:\n  {}",
            clean(&tail.join("\n  "))
        ))
    }
}

/// Reads a stdio server's stderr: every line at debug level, the last [`STDERR_LINES`] kept
/// in `tail`.
fn keep_tail(
    command: &str,
    stderr: tokio::process::ChildStderr,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let command = command.to_owned();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::debug!(server = %command, "{line}");
            if let Ok(mut tail) = tail.lock() {
                if tail.len() == STDERR_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
    });
}

/// A bearer token for the MCP server at `url`, got the way [`open`] gets one: the cached
/// token (refreshed when due), else, when `sign_in_now` is set, a sign-in through
/// `options.user_agent` (a browser by default). `None`: nothing cached and no sign-in asked.
pub async fn access_token(
    url: &str,
    options: &ConnectOptions,
    sign_in_now: bool,
) -> Result<Option<String>, String> {
    let sign_in = sign_in(url, options)?;
    if let Some(token) = sign_in.access_token().await.map_err(|e| e.to_string())? {
        return Ok(Some(token));
    }
    if !sign_in_now {
        return Ok(None);
    }
    sign_in
        .sign_in(None, None)
        .await
        .map(Some)
        .map_err(|e| e.to_string())
}

fn sign_in(url: &str, options: &ConnectOptions) -> Result<Arc<SignIn>, String> {
    let user_agent = options.user_agent.clone().unwrap_or_else(|| {
        Arc::new(BrowserAgent {
            timeout: Duration::from_secs(300),
            open_browser: options.open_browser,
        })
    });
    let sign_in_options = SignInOptions {
        client_name: options.client_name.clone(),
        cache: options.token_cache.clone(),
        user_agent,
        ..SignInOptions::default()
    };
    SignIn::new(url, sign_in_options)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("header `{name}` holds characters a header cannot carry"))?;
        map.insert(name, value);
    }
    Ok(map)
}

async fn http<H: ClientHandler + Clone>(
    url: &str,
    headers: &BTreeMap<String, String>,
    handler: H,
    options: &ConnectOptions,
) -> Result<Session<H>, String> {
    let sign_in = sign_in(url, options)?;
    let client = reqwest::Client::builder()
        .default_headers(header_map(headers)?)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let mut opened = crate::connect_over(
        client.clone(),
        sign_in.clone(),
        handler.clone(),
        lifecycle(options.era),
    )
    .await;
    if options.era == ProtocolEra::Latest {
        // No fallback: neither the handshake nor legacy SSE (also the handshake) is asked for.
        return opened.map_err(|e| match e {
            crate::Error::NoCommonRevision(e) | crate::Error::Connect(e) => {
                not_offered(url, &without_type_names(&e))
            }
            e => format!("cannot open an MCP session at {url}: {e}"),
        });
    }
    if options.era == ProtocolEra::Auto
        && let Err(crate::Error::NoCommonRevision(_)) = &opened
    {
        // As for stdio: a server between eras gets the handshake.
        opened = crate::connect_over(
            client,
            sign_in.clone(),
            handler.clone(),
            ClientLifecycleMode::Initialize,
        )
        .await;
    }
    match opened {
        Ok(session) => Ok(session),
        // Only a transport failure may mean "speaks only legacy SSE"; a refused sign-in
        // is said as it is.
        Err(crate::Error::Connect(streamable)) => match sse(url, headers, sign_in, handler).await {
            Ok(session) => Ok(session),
            Err(legacy) => Err(format!(
                "cannot open an MCP session at {url}: {} (and as legacy SSE: {legacy})",
                without_type_names(&streamable)
            )),
        },
        Err(e) => Err(format!("cannot open an MCP session at {url}: {e}")),
    }
}

/// `error` without the Rust type names rmcp puts in brackets into its transport errors
/// (`Transport [rmcp::transport::worker::WorkerTransport<…>] error: …`): they say nothing to a
/// person.
fn without_type_names(error: &str) -> String {
    let mut out = String::with_capacity(error.len());
    let mut rest = error;
    while let Some(start) = rest.find(" [") {
        let Some(len) = rest[start..].find(']') else {
            break;
        };
        let inside = &rest[start + 2..start + len];
        out.push_str(&rest[..start]);
        if !inside.contains("::") {
            out.push_str(&rest[start..start + len + 1]);
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

async fn sse<H: ClientHandler>(
    url: &str,
    headers: &BTreeMap<String, String>,
    sign_in: Arc<SignIn>,
    handler: H,
) -> Result<Session<H>, String> {
    // The cached token first; after a 401, a sign-in (which refreshes or asks the person).
    let authorization = move |refused: Option<String>| {
        let sign_in = sign_in.clone();
        async move {
            let token = match refused {
                None => sign_in.access_token().await?,
                Some(refused) => {
                    let rejected = refused.strip_prefix("Bearer ").unwrap_or(&refused);
                    Some(sign_in.sign_in(None, Some(rejected)).await?)
                }
            };
            Ok::<_, BoxError>(token.map(|t| format!("Bearer {t}")))
        }
    };
    let mut builder = LegacySseTransport::builder(url).authorization(authorization);
    for (name, value) in &header_map(headers)? {
        builder = builder.header(name.clone(), value.clone());
    }
    let transport = builder.connect().await.map_err(|e| e.to_string())?;
    handler
        .serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
        .await
        .map_err(|e| format!("cannot open a legacy SSE session at {url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::{ProtocolEra, without_type_names};

    #[test]
    fn protocol_eras_parse_from_their_words_and_say_the_choices_otherwise() {
        assert_eq!("auto".parse(), Ok(ProtocolEra::Auto));
        assert_eq!(" handshake ".parse(), Ok(ProtocolEra::Handshake));
        assert_eq!("2026-07-28".parse(), Ok(ProtocolEra::Latest));
        for era in [
            ProtocolEra::Auto,
            ProtocolEra::Handshake,
            ProtocolEra::Latest,
        ] {
            assert_eq!(era.to_string().parse(), Ok(era));
        }
        let err = "2025-11-25".parse::<ProtocolEra>();
        assert!(
            matches!(&err, Err(m) if m.contains("`2025-11-25`") && m.contains(ProtocolEra::CHOICES)),
            "{err:?}"
        );
    }

    #[test]
    fn rust_type_names_are_dropped_from_transport_errors() {
        let rmcp = "Send message error Transport [rmcp::transport::worker::WorkerTransport<a::B<c::D>>] \
                    error: Client error: refused [os error 111]";
        assert_eq!(
            without_type_names(rmcp),
            "Send message error Transport error: Client error: refused [os error 111]"
        );
        assert_eq!(without_type_names("no brackets ["), "no brackets [");
    }
}
