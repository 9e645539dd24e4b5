//! An embedded authorization server with one user, and protected servers beside it, each
//! on its own loopback port, all stopped when the [`World`] is dropped.

use std::sync::Arc;

use anyhow::Context as _;
use belay_auth::{Protection, ResourceSpec};
use belay_auth_server::ServerSpec;
use belay_client::{FormAgent, SignInOptions};
use belay_mcp::guard::AllowList;
use rmcp::ServerHandler;
use tokio_util::sync::CancellationToken;

pub(crate) const USER: &str = "alice";
pub(crate) const PASSWORD: &str = "correct horse battery staple";
/// A second person, to show that one's sessions are not the other's.
pub(crate) const OTHER_USER: &str = "bob";
pub(crate) const OTHER_PASSWORD: &str = "bob's own long passphrase";

pub(crate) struct World {
    pub(crate) issuer: String,
    pub(crate) server: belay_auth_server::AuthServer,
    shutdown: CancellationToken,
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl World {
    /// The authorization server with `alice` and `bob`, configured by `tune`.
    pub(crate) async fn start(tune: impl FnOnce(&mut ServerSpec)) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let (issuer, server) =
            belay_auth_server::spawn_ephemeral(tune, |r| r, shutdown.clone()).await?;
        server.users().add(
            USER,
            PASSWORD,
            Some("Alice Liddell"),
            Some("alice@example.com"),
        )?;
        server
            .users()
            .add(OTHER_USER, OTHER_PASSWORD, Some("Bob"), None)?;
        Ok(Self {
            issuer,
            server,
            shutdown,
        })
    }

    /// The resource-server settings that trust this world's issuer.
    pub(crate) fn resource_spec(&self) -> ResourceSpec {
        ResourceSpec {
            issuer: self.issuer.clone(),
            ..ResourceSpec::default()
        }
    }

    /// Serves `server` over Streamable HTTP at `/mcp` behind `spec`'s checks; returns its URL.
    pub(crate) async fn protected<S: ServerHandler + Clone>(
        &self,
        server: S,
        spec: &ResourceSpec,
    ) -> anyhow::Result<String> {
        let (listener, url) = Self::listener("/mcp").await?;
        let router =
            belay_mcp::http::streamable_router(server, "/mcp", false, self.shutdown.clone());
        self.serve_protected(listener, &url, router, spec)?;
        Ok(url)
    }

    /// A loopback listener and the URL `path` will have on it: for a server that must know
    /// its URL before it is built.
    pub(crate) async fn listener(path: &str) -> anyhow::Result<(tokio::net::TcpListener, String)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}{path}", listener.local_addr()?);
        Ok((listener, url))
    }

    /// [`Self::protected`] on a listener from [`Self::listener`].
    pub(crate) fn protected_on<S: ServerHandler + Clone>(
        &self,
        listener: tokio::net::TcpListener,
        url: &str,
        server: S,
        spec: &ResourceSpec,
    ) -> anyhow::Result<()> {
        let router =
            belay_mcp::http::streamable_router(server, "/mcp", false, self.shutdown.clone());
        self.serve_protected(listener, url, router, spec)
    }

    /// Serves `server` over the legacy HTTP+SSE transport (`/sse`, `/messages`) behind
    /// `spec`'s checks, as `belay serve --transport sse --auth` does; returns the `/sse` URL.
    pub(crate) async fn protected_sse<S: ServerHandler + Clone>(
        &self,
        server: S,
        spec: &ResourceSpec,
    ) -> anyhow::Result<String> {
        let (listener, url) = Self::listener("/sse").await?;
        let router = belay_mcp::http::sse_router(server, self.shutdown.clone());
        self.serve_protected(listener, &url, router, spec)?;
        Ok(url)
    }

    /// Serves `router` on `listener` behind `spec`'s checks, its resource `url`.
    fn serve_protected(
        &self,
        listener: tokio::net::TcpListener,
        url: &str,
        router: axum::Router,
        spec: &ResourceSpec,
    ) -> anyhow::Result<()> {
        let router = Protection::new(spec, url)?.protect(router);
        tokio::spawn(belay_mcp::http::run(
            listener,
            belay_mcp::http::guarded(router, AllowList::default()),
            self.shutdown.clone(),
        ));
        Ok(())
    }
}

/// Sign-in options for a person who types `password` as alice and approves.
pub(crate) fn as_alice(password: &str) -> anyhow::Result<SignInOptions> {
    as_user(USER, password)
}

/// Sign-in options for a person who types `user` and `password` and approves.
pub(crate) fn as_user(user: &str, password: &str) -> anyhow::Result<SignInOptions> {
    Ok(SignInOptions {
        client_name: "belay e2e".into(),
        user_agent: Arc::new(FormAgent::new(user, password).context("form agent")?),
        allow_private_addresses: true,
        ..SignInOptions::default()
    })
}
