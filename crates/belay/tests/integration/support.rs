//! Helpers for running the `belay` binary as a process: start it, read what it prints,
//! stop it, and talk to it over HTTP.

pub(crate) use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

pub(crate) use belay_mcp::testkit::{Era, ScriptedClient, object};
pub(crate) use rmcp::{
    ClientServiceExt, ServiceExt,
    model::CallToolRequestParams,
    transport::{StreamableHttpClientTransport, TokioChildProcess},
};
pub(crate) use serde_json::Value;

/// The binary, with the default data folder and the audit key in this test run's own
/// folder: a test never writes the user's own state, or seals a log with a throwaway key
/// where the user's own key would later be refused.
pub(crate) fn belay() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_belay"));
    command
        .env_remove("RUST_LOG")
        .env_remove("BELAY_LOG")
        .env("BELAY_DATA_DIR", scratch().join("data"))
        .env(
            "BELAY_AUDIT__KEY_FILE",
            scratch().join("keys").join("audit.key"),
        );
    command
}

/// A folder of this test process's own under Cargo's `target/tmp`, emptied first in case an
/// earlier run with the same process id left one.
fn scratch() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("belay-cli-home-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    })
}

/// Kills the child if a test fails before it stops it properly.
pub(crate) struct Reaper(pub(crate) Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

pub(crate) fn wait_with_timeout(
    child: &mut Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Status, headers (names lower-cased) and body of one HTTP answer.
pub(crate) type HttpAnswer = (u16, Vec<(String, String)>, String);

/// One HTTP/1.1 exchange on a fresh connection.
pub(crate) fn http_exchange(url: &str, method: &str, body: &str) -> anyhow::Result<HttpAnswer> {
    http_request(url, method, &[], body.as_bytes())
}

/// One HTTP/1.1 exchange on a fresh connection, with `headers` added to the usual ones and
/// any bytes as the body (not necessarily UTF-8).
pub(crate) fn http_request(
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<HttpAnswer> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("not http: {url}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    )?;
    for (name, value) in headers {
        write!(stream, "{name}: {value}\r\n")?;
    }
    stream.write_all(b"\r\n")?;
    stream.write_all(body)?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status line: {head}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers, body.to_owned()))
}

/// The first line of `child`'s stdout that starts with `prefix`, minus the prefix. The
/// rest of stdout is drained in the background, so the child never writes to a closed pipe.
pub(crate) fn stdout_line(child: &mut Child, prefix: &str) -> anyhow::Result<String> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let found = lines
        .by_ref()
        .take(10)
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix(prefix).map(|rest| rest.trim().to_owned()));
    std::thread::spawn(move || lines.for_each(drop));
    found.ok_or_else(|| anyhow::anyhow!("no line starting with `{prefix}`"))
}

/// The URL a `belay serve --log-format json` child logs when it listens.
pub(crate) fn listening_url(child: &mut Child) -> anyhow::Result<String> {
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    for line in BufReader::new(stderr).lines().take(20) {
        let record: Value = serde_json::from_str(&line?)?;
        if let Some(found) = record["url"].as_str() {
            return Ok(found.to_owned());
        }
    }
    anyhow::bail!("no `listening` log line")
}

/// Starts `belay up` on a free port with state in `data`; returns it and its JSON line.
pub(crate) fn start_up(data: &str) -> anyhow::Result<(Reaper, Value)> {
    let mut child = Reaper(
        belay()
            .args(["up", "--port", "0", "--json", "--data-dir", data])
            .env_remove("BELAY_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let info = first_json_line(&mut child.0)?;
    Ok((child, info))
}

/// The first line `child` writes on stdout, as JSON (`belay up --json`).
pub(crate) fn first_json_line(child: &mut Child) -> anyhow::Result<Value> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    Ok(serde_json::from_str(&line)?)
}

/// A token for `url` as `user`, signed in through `belay up`'s login form.
pub(crate) async fn token_of(url: &str, user: &str, password: &str) -> anyhow::Result<String> {
    let options = belay_client::SignInOptions {
        user_agent: std::sync::Arc::new(belay_client::FormAgent::new(user, password)?),
        allow_private_addresses: true,
        ..belay_client::SignInOptions::default()
    };
    Ok(belay_client::SignIn::new(url, options)?
        .sign_in(None, None)
        .await?)
}

/// Signs in as `demo` through the login form and calls `tool` on the server at `url`.
pub(crate) async fn call_as_demo(
    url: &str,
    password: &str,
    tool: &str,
    arguments: Value,
) -> anyhow::Result<rmcp::model::CallToolResult> {
    let options = belay_client::SignInOptions {
        user_agent: std::sync::Arc::new(belay_client::FormAgent::new("demo", password)?),
        allow_private_addresses: true,
        ..belay_client::SignInOptions::default()
    };
    let client =
        belay_client::connect(url, options, (), rmcp::ClientLifecycleMode::Initialize).await?;
    let result = client
        .call_tool(
            CallToolRequestParams::new(tool.to_owned())
                .with_arguments(arguments.as_object().cloned().unwrap_or_default()),
        )
        .await?;
    client.cancel().await?;
    Ok(result)
}

/// Starts `belay --config CONFIG gateway serve` on a free port with state in `data`, and a
/// client of it once the gateway lists `tool`: stdio upstreams start in the background.
pub(crate) async fn gateway_serve(
    config: &std::path::Path,
    data: &std::path::Path,
    tool: &str,
) -> anyhow::Result<(Reaper, belay_mcp::testkit::Client)> {
    let mut child = Reaper(
        belay()
            .arg("--config")
            .arg(config)
            .args(["gateway", "serve", "--port", "0", "--data-dir"])
            .arg(data)
            .env_remove("BELAY_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let url = stdout_line(&mut child.0, "gateway")?;
    let client = ScriptedClient::new(Era::Handshake)
        .serve(StreamableHttpClientTransport::from_uri(url))
        .await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !client
        .list_all_tools()
        .await?
        .iter()
        .any(|t| t.name == tool)
    {
        anyhow::ensure!(std::time::Instant::now() < deadline, "no upstream tools");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((child, client))
}

/// A fresh folder for one test, removed first if a previous run left it.
pub(crate) fn fresh_dir(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("belay-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
