//! The user's side of a sign-in: the browser, or something that stands in for it.
//!
//! The authorization code flow redirects the user's browser back to a listener on
//! 127.0.0.1 with a random port ([`LoopbackRedirect`], RFC 8252 section 7.3). A [`UserAgent`]
//! takes the user through the authorization URL: [`BrowserAgent`] prints it and opens a
//! browser; [`HeadlessAgent`] fetches it itself and reads the code from the redirect, for
//! tests, scripts and authorization servers that approve without a login page.

use std::time::Duration;

use async_trait::async_trait;
use axum::{Router, extract::State, http::Uri, response::Html, routing::get};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// Path of the redirect URI on the loopback listener.
pub const CALLBACK_PATH: &str = "/callback";

/// A one-shot HTTP listener on 127.0.0.1 (random port) that receives the authorization redirect.
#[derive(Debug)]
pub struct LoopbackRedirect {
    listener: tokio::net::TcpListener,
    redirect_uri: String,
}

impl LoopbackRedirect {
    /// Binds 127.0.0.1 on a port the OS picks.
    pub async fn bind() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| {
                Error::UserAgent(format!("cannot listen on 127.0.0.1 for the redirect: {e}"))
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::UserAgent(e.to_string()))?
            .port();
        Ok(Self {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}{CALLBACK_PATH}"),
        })
    }

    /// The redirect URI to register and send in the authorization request.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the browser to arrive at the redirect URI and returns the full URL it
    /// requested (with `code`, `state` and maybe `iss`, or `error`).
    pub async fn wait(self, timeout: Duration) -> Result<String> {
        let (tx, mut rx) = mpsc::channel::<String>(1);
        let base = self.redirect_uri.clone();
        let app = Router::new().route(
            CALLBACK_PATH,
            get(|State((tx, base)): State<(mpsc::Sender<String>, String)>, uri: Uri| async move {
                let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
                let _ = tx.try_send(format!("{base}{query}"));
                Html("<p>Sign-in complete. You can close this tab and return to the terminal.</p>")
            }),
        );
        let app = app.with_state((tx, base));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(
            axum::serve(self.listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .into_future(),
        );
        let received = tokio::time::timeout(timeout, rx.recv()).await;
        let _ = stop_tx.send(());
        let _ = server.await;
        match received {
            Ok(Some(url)) => Ok(url),
            Ok(None) => Err(Error::UserAgent("the redirect listener stopped".into())),
            Err(_) => Err(Error::UserAgent(format!(
                "no sign-in completed within {} s; run the command again to retry",
                timeout.as_secs()
            ))),
        }
    }
}

/// What a device authorization response asks the user to do (RFC 8628 section 3.3).
#[derive(Debug, Clone)]
pub struct DevicePrompt {
    /// Where the user goes.
    pub verification_uri: String,
    /// The same with the code filled in, when the server offers it.
    pub verification_uri_complete: Option<String>,
    /// The code the user types.
    pub user_code: String,
    /// Seconds until the code expires.
    pub expires_in: u64,
}

/// Takes the user through an authorization step.
#[async_trait]
pub trait UserAgent: Send + Sync {
    /// Takes the user to `authorization_url` and returns the URL the authorization server
    /// redirected back to (the redirect URI with `code` and `state`).
    async fn authorize(
        &self,
        authorization_url: &str,
        redirect: LoopbackRedirect,
    ) -> Result<String>;

    /// Shows the device-code instructions. By default prints them to stderr.
    async fn device_code(&self, prompt: &DevicePrompt) -> Result<()> {
        let link = prompt
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&prompt.verification_uri);
        eprintln!(
            "To sign in, open {link} and enter the code {} (expires in {} s).",
            prompt.user_code, prompt.expires_in
        );
        Ok(())
    }
}

/// Prints the authorization URL to stderr, opens a browser when there is one, and waits for
/// the redirect on the loopback listener.
#[derive(Debug, Clone)]
pub struct BrowserAgent {
    /// How long to wait for the user.
    pub timeout: Duration,
    /// Whether to try `xdg-open` / `open`.
    pub open_browser: bool,
}

impl Default for BrowserAgent {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            open_browser: true,
        }
    }
}

#[async_trait]
impl UserAgent for BrowserAgent {
    async fn authorize(
        &self,
        authorization_url: &str,
        redirect: LoopbackRedirect,
    ) -> Result<String> {
        eprintln!("Sign in by opening this URL in a browser:\n\n  {authorization_url}\n");
        if self.open_browser {
            open_browser(authorization_url);
        }
        redirect.wait(self.timeout).await
    }
}

/// Best effort: a missing opener or a headless machine is fine, the URL is on stderr.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let has_display = cfg!(target_os = "macos")
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !has_display {
        return;
    }
    if let Err(e) = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        tracing::debug!(opener, error = %e, "could not open a browser");
    }
}

/// Follows the authorization URL with a plain HTTP GET and takes the redirect from the
/// `Location` header without following it: for authorization servers that approve without
/// user interaction (test servers, pre-approved clients) and for scripts.
#[derive(Debug, Clone)]
pub struct HeadlessAgent {
    http: reqwest::Client,
}

impl HeadlessAgent {
    /// A headless agent with its own HTTP client (no redirects followed).
    pub fn new() -> Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { http })
    }
}

#[async_trait]
impl UserAgent for HeadlessAgent {
    async fn authorize(
        &self,
        authorization_url: &str,
        _redirect: LoopbackRedirect,
    ) -> Result<String> {
        let response = self.http.get(authorization_url).send().await?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match location {
            Some(location) if status.is_redirection() => {
                // A relative Location is resolved against the URL that sent it.
                let base = url::Url::parse(authorization_url)
                    .map_err(|e| Error::UserAgent(e.to_string()))?;
                Ok(base
                    .join(&location)
                    .map_err(|e| Error::UserAgent(e.to_string()))?
                    .to_string())
            }
            _ => Err(Error::UserAgent(format!(
                "the authorization endpoint answered {status} instead of redirecting; \
                 it needs a person: use the browser sign-in"
            ))),
        }
    }

    async fn device_code(&self, prompt: &DevicePrompt) -> Result<()> {
        eprintln!(
            "Device sign-in: open {} and enter {}",
            prompt
                .verification_uri_complete
                .as_deref()
                .unwrap_or(&prompt.verification_uri),
            prompt.user_code
        );
        Ok(())
    }
}
