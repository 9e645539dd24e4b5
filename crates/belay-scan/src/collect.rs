//! Connecting to one server and listing what it offers, within a time limit.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use belay_client::{
    BrowserAgent, ConnectOptions, DevicePrompt, LoopbackRedirect, Target, Transport, UserAgent,
};
use rmcp::{
    ClientHandler, RoleClient,
    model::{
        ClientConfig, Implementation, PaginatedRequestParams, Prompt, Resource, ResourceTemplate,
        Tool,
    },
    service::{RunningService, ServiceError},
};

/// How long one server may take to start (or answer) and be listed, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an interactive sign-in may wait for the person, outside the time limit.
const SIGN_IN_WAIT: Duration = Duration::from_secs(300);
/// How long a finished session may take to close before it is dropped (and killed).
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// The most pages one list may take: a server that keeps handing out cursors is refused
/// rather than followed forever.
const MAX_PAGES: usize = 1_000;

/// What one server offers.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The server's name.
    pub server: String,
    /// How it was reached (`stdio: python server.py`, `http: https://…`).
    pub target: String,
    /// Its tools.
    pub tools: Vec<Tool>,
    /// Its prompts.
    pub prompts: Vec<Prompt>,
    /// Its resources.
    pub resources: Vec<Resource>,
    /// Its resource templates.
    pub templates: Vec<ResourceTemplate>,
}

/// How to collect.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// How to connect (token cache, browser).
    pub connect: ConnectOptions,
    /// The time limit for starting or reaching one server and listing it. Time a person
    /// spends signing in (in the browser) does not count.
    pub timeout: Duration,
    /// Whether a person is there to sign in when a server answers 401 without a usable
    /// cached token; if not, such a server fails with a message naming `belay auth login`.
    pub interactive: bool,
}

impl Default for CollectOptions {
    fn default() -> Self {
        Self {
            connect: ConnectOptions {
                client_name: "belay scan".into(),
                ..ConnectOptions::default()
            },
            timeout: DEFAULT_TIMEOUT,
            interactive: false,
        }
    }
}

/// Why a server could not be scanned. Never a finding: the scan itself failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectError {
    /// It could not be started or reached, or refused the session.
    Connect {
        /// The server's name.
        server: String,
        /// What failed, for a person.
        reason: String,
    },
    /// A list request failed.
    List {
        /// The server's name.
        server: String,
        /// `tools`, `prompts`, `resources` or `resource templates`.
        what: &'static str,
        /// What failed.
        reason: String,
    },
    /// It did not finish in time.
    Timeout {
        /// The server's name.
        server: String,
        /// `connecting` or `listing`.
        doing: &'static str,
        /// The limit.
        limit: Duration,
    },
}

impl CollectError {
    /// The server it is about.
    pub fn server(&self) -> &str {
        match self {
            Self::Connect { server, .. }
            | Self::List { server, .. }
            | Self::Timeout { server, .. } => server,
        }
    }

    /// What failed, without the server's name.
    pub fn reason(&self) -> String {
        match self {
            Self::Connect { reason, .. } => reason.clone(),
            Self::List { what, reason, .. } => format!("cannot list its {what}: {reason}"),
            Self::Timeout { doing, limit, .. } => format!(
                "no answer within {} s while {doing} (raise --timeout if it is only slow)",
                limit.as_secs_f32()
            ),
        }
    }
}

impl std::fmt::Display for CollectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.server(), self.reason())
    }
}

impl std::error::Error for CollectError {}

/// Connects to `target`, lists everything it offers and closes the session.
pub async fn collect(target: &Target, options: &CollectOptions) -> Result<Inventory, CollectError> {
    let server = target.name.clone();
    let signing_in = Arc::new(AtomicBool::new(false));
    let inner: Arc<dyn UserAgent> = match (&options.connect.user_agent, options.interactive) {
        (Some(agent), _) => agent.clone(),
        (None, true) => Arc::new(BrowserAgent {
            timeout: SIGN_IN_WAIT,
            open_browser: options.connect.open_browser,
        }),
        (None, false) => Arc::new(NoSignIn {
            url: describe(target),
        }),
    };
    let connect = ConnectOptions {
        user_agent: Some(Arc::new(Watched {
            inner,
            engaged: signing_in.clone(),
        })),
        stdio_start: options.timeout,
        ..options.connect.clone()
    };
    let started = Instant::now();
    let opening = belay_client::open(target, ScanClient, &connect);
    tokio::pin!(opening);
    let opened = tokio::select! {
        opened = &mut opening => opened,
        () = tokio::time::sleep(options.timeout) => {
            // A person in the middle of signing in is waited for (the browser agent has
            // its own limit); anything else is too slow.
            if !signing_in.load(Ordering::SeqCst) {
                return Err(CollectError::Timeout { server, doing: "connecting", limit: options.timeout });
            }
            opening.await
        }
    };
    let session = opened.map_err(|e| CollectError::Connect {
        server: server.clone(),
        reason: e.0,
    })?;
    let left = if signing_in.load(Ordering::SeqCst) {
        options.timeout
    } else {
        options.timeout.saturating_sub(started.elapsed())
    };
    let listed = tokio::time::timeout(left, list(&session, &server)).await;
    // Close politely (a stdio server gets EOF and exits); a server that lingers is dropped,
    // which kills a child process.
    let _ = tokio::time::timeout(CLOSE_WAIT, session.cancel()).await;
    let mut inventory = listed.map_err(|_| CollectError::Timeout {
        server: server.clone(),
        doing: "listing",
        limit: options.timeout,
    })??;
    inventory.target = describe(target);
    Ok(inventory)
}

/// How a target is reached, for a person (`stdio: belay serve stock`).
pub fn describe(target: &Target) -> String {
    match &target.transport {
        Transport::Stdio { command, args, .. } => {
            let mut words = vec![command.clone()];
            words.extend(args.iter().cloned());
            format!("stdio: {}", words.join(" "))
        }
        Transport::Http { url, .. } => format!("http: {url}"),
        Transport::Sse { url, .. } => format!("sse: {url}"),
    }
}

type Session = RunningService<RoleClient, ScanClient>;

async fn list(session: &Session, server: &str) -> Result<Inventory, CollectError> {
    // A server that said nothing about its capabilities is asked for tools anyway.
    let capabilities = session.peer_info().map(|i| i.capabilities.clone());
    let offers =
        |has: fn(&rmcp::model::ServerCapabilities) -> bool| capabilities.as_ref().is_none_or(has);
    let failed = |what: &'static str| {
        move |e: ServiceError| CollectError::List {
            server: server.to_owned(),
            what,
            reason: e.to_string(),
        }
    };
    let mut inventory = Inventory {
        server: server.to_owned(),
        ..Inventory::default()
    };
    // One list, every page of it, or the reason it failed.
    macro_rules! all {
        ($what:literal, $method:ident, $items:ident) => {
            pages(server, $what, |cursor| async move {
                let page = session.$method(cursor).await?;
                Ok((page.$items, page.next_cursor))
            })
            .await
            .map_err(|e| e.or_else(failed($what)))?
        };
    }
    if offers(|c| c.tools.is_some()) {
        inventory.tools = all!("tools", list_tools, tools);
    }
    if capabilities.as_ref().is_some_and(|c| c.prompts.is_some()) {
        inventory.prompts = all!("prompts", list_prompts, prompts);
    }
    if capabilities.as_ref().is_some_and(|c| c.resources.is_some()) {
        inventory.resources = all!("resources", list_resources, resources);
        inventory.templates = all!(
            "resource templates",
            list_resource_templates,
            resource_templates
        );
    }
    Ok(inventory)
}

/// A failed list: the request failed, or the server's paging made no sense.
enum PageError {
    Request(ServiceError),
    Paging(CollectError),
}

impl PageError {
    fn or_else(self, request: impl FnOnce(ServiceError) -> CollectError) -> CollectError {
        match self {
            Self::Request(e) => request(e),
            Self::Paging(e) => e,
        }
    }
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        Self::Request(e)
    }
}

/// Every page of one list, following `nextCursor`; a cursor seen before or more than
/// [`MAX_PAGES`] pages end the scan of this server with an error rather than a loop.
async fn pages<T, F, Fut>(
    server: &str,
    what: &'static str,
    mut page: F,
) -> Result<Vec<T>, PageError>
where
    F: FnMut(Option<PaginatedRequestParams>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), PageError>>,
{
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = cursor
            .clone()
            .map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
        let (page_items, next) = page(params).await?;
        items.extend(page_items);
        match next {
            None => return Ok(items),
            Some(next) if !seen.insert(next.clone()) => {
                return Err(PageError::Paging(CollectError::List {
                    server: server.to_owned(),
                    what,
                    reason: format!("the server handed out the cursor {next:?} twice"),
                }));
            }
            Some(next) => cursor = Some(next),
        }
    }
    Err(PageError::Paging(CollectError::List {
        server: server.to_owned(),
        what,
        reason: format!("more than {MAX_PAGES} pages"),
    }))
}

/// The scanner's side of the session: it asks for nothing and offers nothing (no sampling,
/// no elicitation), so a server cannot draw it into a conversation.
#[derive(Debug, Clone, Copy)]
struct ScanClient;

impl ClientHandler for ScanClient {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info = Implementation::new("belay-scan", env!("CARGO_PKG_VERSION"));
        info
    }
}

/// Passes a sign-in to `inner`, noting that a person is now involved (their time does not
/// count against the scan's limit).
struct Watched {
    inner: Arc<dyn UserAgent>,
    engaged: Arc<AtomicBool>,
}

#[async_trait]
impl UserAgent for Watched {
    async fn authorize(
        &self,
        authorization_url: &str,
        redirect: LoopbackRedirect,
    ) -> belay_client::Result<String> {
        self.engaged.store(true, Ordering::SeqCst);
        self.inner.authorize(authorization_url, redirect).await
    }

    async fn device_code(&self, prompt: &DevicePrompt) -> belay_client::Result<()> {
        self.engaged.store(true, Ordering::SeqCst);
        self.inner.device_code(prompt).await
    }
}

/// Where nobody can sign in (no terminal): refuses, saying how to sign in beforehand.
struct NoSignIn {
    url: String,
}

impl NoSignIn {
    fn refusal(&self) -> belay_client::Error {
        belay_client::Error::UserAgent(format!(
            "the server asks for a sign-in and there is no terminal to do it in; run \
             `belay auth login {}` first (the scan uses its cached tokens)",
            self.url
                .split_once(": ")
                .map_or(self.url.as_str(), |(_, u)| u)
        ))
    }
}

#[async_trait]
impl UserAgent for NoSignIn {
    async fn authorize(&self, _: &str, _: LoopbackRedirect) -> belay_client::Result<String> {
        Err(self.refusal())
    }

    async fn device_code(&self, _: &DevicePrompt) -> belay_client::Result<()> {
        Err(self.refusal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn paging_follows_cursors_and_refuses_a_loop() {
        let mut calls = 0;
        let found = pages("s", "tools", |cursor| {
            calls += 1;
            let next = match cursor.and_then(|c| c.cursor).as_deref() {
                None => Some("a".to_owned()),
                Some("a") => Some("b".to_owned()),
                _ => None,
            };
            async move { Ok((vec![1], next)) }
        })
        .await;
        assert!(matches!(found, Ok(ref items) if items.len() == 3));
        assert_eq!(calls, 3);

        let looping = pages("s", "tools", |_| async {
            Ok((vec![1], Some("same".to_owned())))
        })
        .await;
        let Err(PageError::Paging(CollectError::List { reason, .. })) = looping else {
            panic!("a repeated cursor is an error");
        };
        assert!(reason.contains("twice"), "{reason}");
    }

    #[tokio::test]
    async fn a_command_that_does_not_exist_is_a_connect_error() {
        let target = Target::command(&["/nonexistent/belay-scan-test-server".to_owned()]);
        let Ok(target) = target else {
            panic!("a command is a target");
        };
        let error = collect(&target, &CollectOptions::default()).await;
        let Err(CollectError::Connect { reason, .. }) = error else {
            panic!("expected a connect error, got {error:?}");
        };
        assert!(reason.contains("cannot start"), "{reason}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let words = ["sleep".to_owned(), "30".to_owned()];
        let Ok(target) = Target::command(&words) else {
            panic!("a command is a target");
        };
        let options = CollectOptions {
            timeout: Duration::from_millis(300),
            ..CollectOptions::default()
        };
        let started = Instant::now();
        let error = collect(&target, &options).await;
        assert!(
            matches!(
                &error,
                Err(CollectError::Timeout { .. }) | Err(CollectError::Connect { .. })
            ),
            "{error:?}"
        );
        assert!(error.is_err_and(|e| e.to_string().contains("0.3 s")));
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
