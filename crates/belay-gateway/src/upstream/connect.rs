//! Opening a session to an upstream over its transport (stdio process, Streamable HTTP,
//! legacy SSE), with a given credential: the supervisor's connection and each caller's.

use std::{collections::HashMap, sync::Arc};

use http::{HeaderName, HeaderValue};
use rmcp::{
    ErrorData, RoleClient,
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

use super::{
    Posts, Upstream,
    checked::{self, Checked, CheckedHttp},
    conduct::Conduct,
    stdio::{Program, StdioTransport},
};
use crate::{
    Error,
    caller_sessions::{self, Connector},
    credential::{Credential, upstream_http_client},
    spec::TransportSpec,
    tasks::wire::TaskAwareHttp,
    upstream_client::UpstreamClient,
};

/// A session opened to an upstream.
pub(crate) struct Opened {
    pub(crate) running: RunningService<RoleClient, UpstreamClient>,
    /// A stdio upstream's process id.
    pub(crate) pid: Option<u32>,
    /// Over Streamable HTTP, where 2026-07-28 requests would go with the same credential,
    /// if the upstream serves them ([`Upstream::round_trip_route`]).
    pub(crate) posts: Option<Posts>,
}

impl Upstream {
    /// Opens a session as `client`, sending `credential`, its upstream's conduct recorded
    /// in `conduct`.
    pub(super) async fn connect(
        &self,
        client: UpstreamClient,
        credential: &Credential,
        conduct: Arc<Conduct>,
    ) -> Result<Opened, Error> {
        let fail = |reason: String| Error::Upstream {
            upstream: self.spec.name.clone(),
            reason,
        };
        // What the upstream did, if it ended the handshake, else what rmcp saw.
        let why = |e: &dyn std::fmt::Display| match conduct.ended() {
            Some(ended) => ended.to_owned(),
            None => e.to_string(),
        };
        match &self.spec.transport {
            TransportSpec::Stdio {
                command,
                args,
                env,
                cwd,
                ..
            } => {
                let program = Program {
                    command,
                    args,
                    env,
                    cwd: cwd.as_deref(),
                };
                let (process, pid) =
                    StdioTransport::spawn(&self.spec.name, &program, conduct.clone())
                        .map_err(|e| fail(format!("cannot start `{command}`: {e}")))?;
                let running = client
                    .start(Checked::new(process, conduct.clone()))
                    .await
                    .map_err(|e| {
                        fail(format!(
                            "`{command}` did not start an MCP session: {}",
                            why(&e)
                        ))
                    })?;
                Ok(Opened {
                    running,
                    pid,
                    posts: None,
                })
            }
            TransportSpec::Http { url, headers } => {
                let mut extra = HashMap::new();
                for (name, value) in headers {
                    let name = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|e| fail(format!("header `{name}`: {e}")))?;
                    let value = HeaderValue::from_str(value)
                        .map_err(|e| fail(format!("header `{name}`: {e}")))?;
                    extra.insert(name, value);
                }
                let http = upstream_http_client(credential.clone(), extra);
                let posts = Posts::new(http.clone(), url.as_str(), client.outside_calls());
                let standalone = http.standalone_stream();
                let transport = StreamableHttpClientTransport::with_client(
                    // The upstream's events are checked as it sent them, then task-augmented
                    // questions are made whole for the relay.
                    TaskAwareHttp::new(CheckedHttp::new(http, conduct.clone())),
                    StreamableHttpClientTransportConfig::with_uri(url.as_str()),
                );
                let running = client
                    .start(Checked::new(transport, conduct.clone()))
                    .await
                    .map_err(|e| {
                        fail(format!("cannot open an MCP session at {url}: {}", why(&e)))
                    })?;
                // The upstream may need that stream to reach the gateway during a call.
                standalone.settled(self.spec.timeouts.connect()).await;
                Ok(Opened {
                    running,
                    pid: None,
                    posts: Some(posts),
                })
            }
            TransportSpec::Openapi(api) => {
                // The API's MCP server runs in this process; the gateway's client reaches it
                // over an in-memory pipe, checked like a stdio process's output. The
                // document is read again on every connect, so a changed API shows up (and
                // pinned tools catch a changed description) after a reconnect or reload.
                let loaded = belay_openapi::Api::load(api, None)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                for skipped in &loaded.catalogue().skipped {
                    tracing::info!(
                        upstream = %self.spec.name,
                        operation = %format!("{} {}", skipped.method, skipped.path),
                        reason = %skipped.reason,
                        "OpenAPI operation not served"
                    );
                }
                let server = crate::openapi::OpenApiServer::new(loaded);
                let (gateway_end, server_end) = tokio::io::duplex(64 * 1024);
                let (server_read, server_write) = tokio::io::split(server_end);
                let name = self.spec.name.clone();
                tokio::spawn(async move {
                    use rmcp::ServiceExt;
                    match server.serve((server_read, server_write)).await {
                        Ok(running) => {
                            let _ = running.waiting().await;
                        }
                        Err(e) => tracing::warn!(upstream = %name, "OpenAPI server: {e}"),
                    }
                });
                let (read, write) = tokio::io::split(gateway_end);
                let running = client
                    .start(Checked::new(
                        rmcp::transport::async_rw::AsyncRwTransport::<RoleClient, _, _>::new(
                            read, write,
                        ),
                        conduct.clone(),
                    ))
                    .await
                    .map_err(|e| fail(format!("the OpenAPI server did not start: {}", why(&e))))?;
                Ok(Opened {
                    running,
                    pid: None,
                    posts: None,
                })
            }
            TransportSpec::Sse { url } => {
                // Only the upstream's own credential, on the GET and every POST; a token
                // the upstream refuses is renewed once, as over Streamable HTTP. The
                // transport refuses a message endpoint on another origin.
                let credential = credential.clone();
                let authorization = move |refused: Option<String>| {
                    let credential = credential.clone();
                    async move {
                        if refused.is_some() && !credential.refused().await {
                            return Ok(refused); // Nothing to renew: the 401 stands.
                        }
                        let token = credential.token().await?;
                        Ok::<_, belay_client::legacy_sse::BoxError>(
                            token.map(|t| format!("Bearer {t}")),
                        )
                    }
                };
                let checker = conduct.clone();
                let transport = belay_client::legacy_sse::LegacySseTransport::builder(url)
                    .authorization(authorization)
                    .on_invalid_message(move |data, error| {
                        checked::unreadable_event(&checker, data, error);
                    })
                    .endpoint_timeout(self.spec.timeouts.connect())
                    .connect()
                    .await
                    .map_err(|e| fail(format!("cannot open a legacy SSE session at {url}: {e}")))?;
                let running = client
                    .start(Checked::new(transport, conduct.clone()))
                    .await
                    .map_err(|e| {
                        fail(format!("cannot open an MCP session at {url}: {}", why(&e)))
                    })?;
                Ok(Opened {
                    running,
                    pid: None,
                    posts: None,
                })
            }
        }
    }
}

impl Connector for Upstream {
    async fn open(
        &self,
        client: UpstreamClient,
        credential: Credential,
    ) -> Result<caller_sessions::OpenedSession, ErrorData> {
        let conduct = self.new_conduct();
        match tokio::time::timeout(
            self.spec.timeouts.connect(),
            self.connect(client, &credential, conduct.clone()),
        )
        .await
        {
            Ok(Ok(opened)) => {
                // Over HTTP, with the caller's own credential, as its session's requests.
                let route = self
                    .round_trip_route(opened.running.peer(), opened.posts)
                    .await;
                Ok((opened.running, conduct, route))
            }
            Ok(Err(e)) => Err(self.unavailable(format!("cannot open the caller's session: {e}"))),
            Err(_) => Err(self.unavailable(format!(
                "no session for the caller within {} ms",
                self.spec.timeouts.connect_ms
            ))),
        }
    }
}
