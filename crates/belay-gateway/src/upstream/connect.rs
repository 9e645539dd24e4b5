//! Opening a session to an upstream over its transport (stdio process, Streamable HTTP,
//! legacy SSE), with a given credential: the supervisor's connection and each caller's.

use std::{collections::HashMap, process::Stdio};

use http::{HeaderName, HeaderValue};
use rmcp::{
    ErrorData, RoleClient,
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::Upstream;
use crate::{
    Error,
    caller_sessions::Connector,
    credential::{Credential, upstream_http_client},
    relay::UpstreamClient,
    spec::TransportSpec,
};

impl Upstream {
    /// Opens a session as `client`, sending `credential`; a stdio upstream's process id.
    pub(super) async fn connect(
        &self,
        client: UpstreamClient,
        credential: &Credential,
    ) -> Result<(RunningService<RoleClient, UpstreamClient>, Option<u32>), Error> {
        let fail = |reason: String| Error::Upstream {
            upstream: self.spec.name.clone(),
            reason,
        };
        match &self.spec.transport {
            TransportSpec::Stdio {
                command,
                args,
                env,
                cwd,
                ..
            } => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(args).envs(env);
                if let Some(cwd) = cwd {
                    cmd.current_dir(cwd);
                }
                let (process, stderr) = TokioChildProcess::builder(cmd)
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| fail(format!("cannot start `{command}`: {e}")))?;
                let pid = process.id();
                if let Some(stderr) = stderr {
                    tokio::spawn(log_stderr(self.spec.name.clone(), stderr));
                }
                let running = client
                    .start(process)
                    .await
                    .map_err(|e| fail(format!("`{command}` did not start an MCP session: {e}")))?;
                Ok((running, pid))
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
                let standalone = http.standalone_stream();
                let transport = StreamableHttpClientTransport::with_client(
                    http,
                    StreamableHttpClientTransportConfig::with_uri(url.as_str()),
                );
                let running = client
                    .start(transport)
                    .await
                    .map_err(|e| fail(format!("cannot open an MCP session at {url}: {e}")))?;
                // The upstream may need that stream to reach the gateway during a call.
                standalone.settled(self.spec.timeouts.connect()).await;
                Ok((running, None))
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
                let transport = belay_client::legacy_sse::LegacySseTransport::builder(url)
                    .authorization(authorization)
                    .endpoint_timeout(self.spec.timeouts.connect())
                    .connect()
                    .await
                    .map_err(|e| fail(format!("cannot open a legacy SSE session at {url}: {e}")))?;
                let running = client
                    .start(transport)
                    .await
                    .map_err(|e| fail(format!("cannot open an MCP session at {url}: {e}")))?;
                Ok((running, None))
            }
        }
    }
}

impl Connector for Upstream {
    async fn open(
        &self,
        client: UpstreamClient,
        credential: Credential,
    ) -> Result<RunningService<RoleClient, UpstreamClient>, ErrorData> {
        match tokio::time::timeout(
            self.spec.timeouts.connect(),
            self.connect(client, &credential),
        )
        .await
        {
            Ok(Ok((running, _))) => Ok(running),
            Ok(Err(e)) => Err(self.unavailable(format!("cannot open the caller's session: {e}"))),
            Err(_) => Err(self.unavailable(format!(
                "no session for the caller within {} ms",
                self.spec.timeouts.connect_ms
            ))),
        }
    }
}

/// Forwards a stdio upstream's stderr to our log, line by line, tagged with its name.
async fn log_stderr(upstream: String, stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(upstream = %upstream, "{line}");
    }
}
