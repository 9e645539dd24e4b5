//! `belay-auth-bench`: what authorization costs, measured on Belay's own parts.
//!
//! - **Token validation**: `belay_auth::Validator::validate` on one thread with a warm JWKS
//!   cache (signature, claims, audience, scopes), per token algorithm. This is what every
//!   request to a server started with `--auth` pays before the MCP handler runs.
//! - **Sign-ins**: complete authorization-code + PKCE sign-ins against the embedded
//!   authorization server over loopback HTTP, as a person's browser and a client do them:
//!   GET /authorize (page + CSRF cookie), POST the form (argon2id password check, consent),
//!   POST /token (code redeemed, JWT signed, refresh token stored). Also refresh-token
//!   rotations and client-credentials grants.
//!
//! The server runs in this process on its own two-thread runtime with an in-memory store; the
//! load runs on the main thread. Prints one Markdown table (or JSON lines with `--json`).
#![deny(missing_docs)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use belay_auth_server::{Alg, AuthServer, ClientSpec, ServerSpec, Settings, SystemClock};
use belay_client::FormAgent;
use clap::Parser;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

const RESOURCE: &str = "http://127.0.0.1:8001/mcp";
const REDIRECT: &str = "http://127.0.0.1/callback";
const USER: &str = "bench";
const PASSWORD: &str = "bench-password-0123";
const SERVICE_SECRET: &str = "bench-service-secret-0123456789";

/// Benchmark Belay's token validation and sign-ins.
#[derive(Debug, Parser)]
struct Args {
    /// Validations timed per algorithm.
    #[arg(long, default_value_t = 20_000)]
    samples: usize,
    /// Seconds each grant load runs.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Concurrent clients for the grant loads (comma-separated).
    #[arg(long, default_value = "1,4", value_delimiter = ',')]
    workers: Vec<usize>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// One row of the table.
struct Row {
    what: String,
    workers: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (server, issuer) = server_runtime.block_on(start_server())?;
    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rows = load.block_on(measure(&args, &server, &issuer))?;
    print_rows(&rows, args.json);
    Ok(())
}

async fn start_server() -> anyhow::Result<(AuthServer, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let spec = ServerSpec {
        issuer: Some(issuer.clone()),
        clients: vec![
            ClientSpec {
                client_id: "bench-public".into(),
                redirect_uris: vec![REDIRECT.into()],
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                ..ClientSpec::default()
            },
            ClientSpec {
                client_id: "bench-service".into(),
                client_secret: Some(SERVICE_SECRET.into()),
                grant_types: vec!["client_credentials".into()],
                ..ClientSpec::default()
            },
        ],
        ..ServerSpec::default()
    };
    let settings = Settings::try_from(&spec)?;
    let server = AuthServer::new(
        belay_store::Db::in_memory()?,
        settings,
        Arc::new(SystemClock),
    )?;
    server
        .users()
        .add(USER, PASSWORD, Some("Bench User"), None)?;
    let router = server.router();
    tokio::spawn(belay_auth_server::serve(
        listener,
        router,
        CancellationToken::new(),
    ));
    Ok((server, issuer))
}

async fn measure(args: &Args, server: &AuthServer, issuer: &str) -> anyhow::Result<Vec<Row>> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()?;
    let person = FormAgent::new(USER, PASSWORD)?;
    let mut rows = Vec::new();
    for alg in [Alg::Es256, Alg::Rs256] {
        // New tokens are signed with the key that rotation makes current.
        server.rotate(alg).await?;
        let token = client_credentials(&http, issuer).await?;
        rows.push(validation(args.samples, issuer, &token, alg).await?);
    }
    let window = Duration::from_secs_f64(args.seconds);
    for &workers in &args.workers {
        rows.push(
            grant_load(
                "sign-in (authorize page + form + token)",
                workers,
                window,
                || sign_in(&http, &person, issuer),
            )
            .await?,
        );
    }
    for &workers in &args.workers {
        rows.push(
            grant_load("refresh-token rotation", workers, window, || {
                refresh_chain(&http, &person, issuer)
            })
            .await?,
        );
        rows.push(
            grant_load("client-credentials grant", workers, window, || async {
                client_credentials(&http, issuer).await.map(|_| 1)
            })
            .await?,
        );
    }
    Ok(rows)
}

async fn validation(samples: usize, issuer: &str, token: &str, alg: Alg) -> anyhow::Result<Row> {
    let spec = belay_auth::ResourceSpec {
        issuer: issuer.to_owned(),
        ..belay_auth::ResourceSpec::default()
    };
    let validator = belay_auth::Validator::new(&spec, RESOURCE, reqwest::Client::new())?;
    validator
        .validate(token)
        .await
        .context("the warm-up validation failed")?;
    let fetches = validator.jwks().fetch_count();
    let mut times = Vec::with_capacity(samples);
    let started = Instant::now();
    for _ in 0..samples {
        let t = Instant::now();
        let caller = validator.validate(token).await?;
        times.push(t.elapsed());
        std::hint::black_box(caller);
    }
    let total = started.elapsed();
    if validator.jwks().fetch_count() != fetches {
        bail!("the JWKS was fetched during the timed loop: the cache is not warm");
    }
    Ok(row(
        format!("validate {alg} access token (warm JWKS)"),
        1,
        samples,
        total,
        times,
    ))
}

/// Runs `workers` loops of `op` for `window`; `op` returns how many grants it completed.
async fn grant_load<F, Fut>(
    what: &str,
    workers: usize,
    window: Duration,
    op: F,
) -> anyhow::Result<Row>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let deadline = Instant::now() + window;
    let started = Instant::now();
    let loops = (0..workers.max(1)).map(|_| async {
        let mut times = Vec::new();
        let mut done = 0;
        while Instant::now() < deadline {
            let t = Instant::now();
            let n = op().await?;
            let elapsed = t.elapsed();
            // A chain of n grants is n samples of its mean, so p50/p99 stay per grant.
            times.extend(std::iter::repeat_n(elapsed / u32::try_from(n.max(1))?, n));
            done += n;
        }
        anyhow::Ok((done, times))
    });
    let mut times = Vec::new();
    let mut count = 0;
    for result in futures::future::join_all(loops).await {
        let (done, mut t) = result?;
        count += done;
        times.append(&mut t);
    }
    Ok(row(
        what.to_owned(),
        workers,
        count,
        started.elapsed(),
        times,
    ))
}

fn row(
    what: String,
    workers: usize,
    count: usize,
    total: Duration,
    mut times: Vec<Duration>,
) -> Row {
    times.sort_unstable();
    let at = |q: f64| {
        let last = times.len().saturating_sub(1);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((last as f64) * q).round() as usize;
        times.get(index).copied().unwrap_or_default()
    };
    #[allow(clippy::cast_precision_loss)]
    let per_second = count as f64 / total.as_secs_f64().max(f64::EPSILON);
    Row {
        what,
        workers,
        per_second,
        p50: at(0.50),
        p99: at(0.99),
    }
}

async fn client_credentials(http: &reqwest::Client, issuer: &str) -> anyhow::Result<String> {
    let answer: serde_json::Value = http
        .post(format!("{issuer}/token"))
        .basic_auth("bench-service", Some(SERVICE_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", RESOURCE),
            ("scope", "mcp:tools"),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    text(&answer, "access_token")
}

/// One complete sign-in; returns 1 (grant) for the counters.
async fn sign_in(
    http: &reqwest::Client,
    person: &FormAgent,
    issuer: &str,
) -> anyhow::Result<usize> {
    sign_in_tokens(http, person, issuer).await.map(|_| 1)
}

/// Signs in once, then rotates the refresh token ten times; counts the rotations.
async fn refresh_chain(
    http: &reqwest::Client,
    person: &FormAgent,
    issuer: &str,
) -> anyhow::Result<usize> {
    const ROTATIONS: usize = 10;
    let mut refresh = text(
        &sign_in_tokens(http, person, issuer).await?,
        "refresh_token",
    )?;
    for _ in 0..ROTATIONS {
        let answer: serde_json::Value = http
            .post(format!("{issuer}/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("client_id", "bench-public"),
                ("resource", RESOURCE),
            ])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        refresh = text(&answer, "refresh_token")?;
    }
    Ok(ROTATIONS)
}

async fn sign_in_tokens(
    http: &reqwest::Client,
    person: &FormAgent,
    issuer: &str,
) -> anyhow::Result<serde_json::Value> {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut authorize = url::Url::parse(&format!("{issuer}/authorize"))?;
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "bench-public")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", RESOURCE)
        .append_pair("scope", "mcp:tools")
        .append_pair("state", "bench");
    // The person's part, as scripts do it: Belay's documented login form.
    let redirected = person.submit(authorize.as_str()).await?;
    let code = url::Url::parse(&redirected)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .with_context(|| format!("no code in {redirected}"))?;
    let tokens: serde_json::Value = http
        .post(format!("{issuer}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
            ("client_id", "bench-public"),
            ("resource", RESOURCE),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(tokens)
}

fn text(value: &serde_json::Value, key: &str) -> anyhow::Result<String> {
    value
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .with_context(|| format!("no {key} in {value}"))
}

fn print_rows(rows: &[Row], json: bool) {
    if json {
        for r in rows {
            println!(
                "{}",
                serde_json::json!({
                    "what": r.what, "workers": r.workers, "per_second": r.per_second,
                    "p50_us": r.p50.as_secs_f64() * 1e6, "p99_us": r.p99.as_secs_f64() * 1e6,
                })
            );
        }
        return;
    }
    println!("| measurement | clients | per second | p50 | p99 |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {} | {} |",
            r.what,
            r.workers,
            r.per_second,
            human(r.p50),
            human(r.p99)
        );
    }
}

fn human(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}
