//! `rce`: command injection. A "workspace helper" server, written the quick way: `calculate`
//! hands the expression to `sh` for arithmetic and `list_files` runs `ls <path>` through
//! `sh -c`. Whatever follows a `;` in an argument runs as the server's user.
//!
//! Fixed twin: `calculate` uses belay-servers' safe evaluator (a parser that only computes
//! numbers) and `list_files` runs `ls` with an argument vector (no shell) on a path checked
//! against an allow-list: relative, inside the sandbox folder, plain names only, no `..`, no
//! leading `-`. Behind the gateway, the argument guard blocks shell metacharacters in the
//! `path` argument (-32003).
//!
//! The sandbox folder is a fresh temporary folder with a few invented files, removed when
//! the server stops; the exploit's command only prints a nonce.

use std::{
    hash::{BuildHasher, Hasher},
    path::{Component, Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use belay_client::{ConnectOptions, Target};
use belay_mcp::{HttpOptions, Parameters, Transport, schema::portable_tools};
use belay_servers::matheval;
use rmcp::{
    ServerHandler, handler::server::router::tool::ToolRouter, model::CallToolResult, tool,
    tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::{answer, refuse};
use crate::{
    ExploitError, Lab, LabName, Report, Variant,
    agent::{Agent, Answer},
    owasp::Risk,
};

/// The lab.
pub const LAB: Lab = Lab {
    name: LabName::Rce,
    title: "A file lister that runs whatever follows a `;`",
    risks: &[Risk::CommandInjection],
    attack: "`list_files` runs `sh -c \"ls <path>\"`; a path of `reports; printf …` runs the \
             attacker's command on the server.",
    fix: "`ls` with an argument vector (no shell) on an allow-listed path inside a sandbox \
          folder, and the safe arithmetic evaluator instead of `sh`.",
    defence: "The gateway's argument guard blocks shell metacharacters in path arguments \
              (rule `arguments.shell_in_path`, -32003); the audit log records the block.",
    transports: &[Transport::Stdio, Transport::Http, Transport::Sse],
};

/// What the exploit's command prints before its nonce.
pub const MARKER: &str = "belay-rce-";

/// How long a command may run.
const COMMAND_WAIT: Duration = Duration::from_secs(10);
/// The most output a tool returns (a huge folder listing is cut here).
const MAX_OUTPUT: usize = 64 * 1024;
/// The longest path the fixed `list_files` accepts.
const MAX_PATH: usize = 256;

/// The invented files of the sandbox folder: (relative path, contents).
const SANDBOX_FILES: &[(&str, &str)] = &[
    ("notes.txt", "The Q4 review is on Friday.\n"),
    (
        "reports/q3.csv",
        "month,revenue\njul,6.1\naug,6.0\nsep,6.3\n",
    ),
    ("reports/q4.csv", "month,revenue\noct,6.4\n"),
];

/// The folder the server lists: a fresh temporary folder holding [`SANDBOX_FILES`], removed
/// when dropped.
#[derive(Debug)]
pub struct Sandbox {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Sandbox {
    /// Creates the folder and its files.
    pub fn create() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("belay-lab-rce-")
            .tempdir()?;
        // Canonical, so a resolved path inside it starts with it (macOS's /tmp is a link).
        let root = dir.path().canonicalize()?;
        for (path, contents) in SANDBOX_FILES {
            let file = root.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(file, contents)?;
        }
        Ok(Self { dir, root })
    }

    /// Its path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder as created (before links in its path were resolved).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Arguments of `calculate`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalculateArgs {
    /// An arithmetic expression, such as `(2 + 3) * 4`.
    pub expression: String,
}

/// Arguments of `list_files`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// A folder inside the workspace, such as `reports`.
    pub path: String,
}

/// Runs `command` in `root` with a time limit; its output as a tool result.
async fn run(mut command: Command, root: &Path) -> CallToolResult {
    command
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(COMMAND_WAIT, command.output()).await {
        Err(_) => return refuse(format!("no answer within {} s", COMMAND_WAIT.as_secs())),
        Ok(Err(e)) => return refuse(format!("cannot run the command: {e}")),
        Ok(Ok(output)) => output,
    };
    let cut = |bytes: &[u8]| {
        let end = bytes.len().min(MAX_OUTPUT);
        String::from_utf8_lossy(&bytes[..end]).trim_end().to_owned()
    };
    if output.status.success() {
        answer(cut(&output.stdout))
    } else {
        refuse(
            format!("{}\n{}", cut(&output.stdout), cut(&output.stderr))
                .trim()
                .to_owned(),
        )
    }
}

/// The vulnerable server: both tools go through `sh -c`.
#[derive(Debug, Clone)]
pub struct Vulnerable {
    tool_router: ToolRouter<Self>,
    root: Arc<PathBuf>,
}

#[tool_router]
impl Vulnerable {
    /// A server listing `root`.
    pub fn new(root: &Path) -> Self {
        Self {
            tool_router: portable_tools(Self::tool_router()),
            root: Arc::new(root.to_owned()),
        }
    }

    #[tool(description = "Calculates an arithmetic expression, such as (2 + 3) * 4.")]
    async fn calculate(&self, Parameters(args): Parameters<CalculateArgs>) -> CallToolResult {
        // The flaw: the expression is pasted into a shell command line.
        let line = format!("echo $(( {} ))", args.expression);
        let mut command = Command::new("sh");
        command.arg("-c").arg(line);
        run(command, &self.root).await
    }

    #[tool(description = "Lists the files in a folder of the workspace, such as reports.")]
    async fn list_files(&self, Parameters(args): Parameters<ListArgs>) -> CallToolResult {
        // The flaw: the path is pasted into a shell command line.
        let line = format!("ls {}", args.path);
        let mut command = Command::new("sh");
        command.arg("-c").arg(line);
        run(command, &self.root).await
    }
}

#[tool_handler(router = self.tool_router, name = "belay-lab-rce")]
impl ServerHandler for Vulnerable {}

/// The fixed twin.
#[derive(Debug, Clone)]
pub struct Fixed {
    tool_router: ToolRouter<Self>,
    root: Arc<PathBuf>,
}

#[tool_router]
impl Fixed {
    /// A server listing `root` (canonical: [`Sandbox::root`]).
    pub fn new(root: &Path) -> Self {
        Self {
            tool_router: portable_tools(Self::tool_router()),
            root: Arc::new(root.to_owned()),
        }
    }

    #[tool(
        description = "Calculates an arithmetic expression, such as (2 + 3) * 4: numbers, \
                       + - * / % ^, parentheses, sqrt, abs, min, max, sin, cos, log, pi, e."
    )]
    async fn calculate(&self, Parameters(args): Parameters<CalculateArgs>) -> CallToolResult {
        match matheval::evaluate(&args.expression) {
            Ok(value) => answer(value.to_string()),
            Err(e) => refuse(e.to_string()),
        }
    }

    #[tool(
        description = "Lists the files in a folder of the workspace, such as reports. The path \
                       is relative to the workspace: plain names separated by `/`."
    )]
    async fn list_files(&self, Parameters(args): Parameters<ListArgs>) -> CallToolResult {
        let folder = match allowed(&self.root, &args.path) {
            Ok(folder) => folder,
            Err(why) => return refuse(format!("refused: {why}")),
        };
        // An argument vector: the path is one argument of `ls`, never shell syntax; `--`
        // ends options, although a leading `-` is refused already.
        let mut command = Command::new("ls");
        command.arg("--").arg(folder);
        run(command, &self.root).await
    }
}

/// Why the fixed `list_files` refuses a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Longer than [`MAX_PATH`].
    #[error("the path is {0} bytes; at most {MAX_PATH} are accepted")]
    TooLong(usize),
    /// Absolute, or climbing out with `..`.
    #[error("the path must stay inside the workspace: no leading `/`, no `..`")]
    Outside,
    /// A part starting with `-` (read as an option by `ls`).
    #[error("a name may not start with `-`")]
    Option,
    /// A character other than letters, digits, `.`, `_`, `-` and the `/` between names.
    #[error("the path holds {0:?}; only letters, digits, `.`, `_`, `-` and `/` are accepted")]
    Character(char),
    /// Not a folder of the workspace (missing, a file, or a link out of it).
    #[error("no folder {0:?} in the workspace")]
    NotFound(String),
}

/// The folder `path` names inside `root`, if the allow-list lets it through.
pub fn allowed(root: &Path, path: &str) -> Result<PathBuf, PathError> {
    if path.len() > MAX_PATH {
        return Err(PathError::TooLong(path.len()));
    }
    if let Some(bad) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
    {
        return Err(PathError::Character(bad));
    }
    let relative = Path::new(path);
    for component in relative.components() {
        match component {
            Component::Normal(name) => {
                if name.to_string_lossy().starts_with('-') {
                    return Err(PathError::Option);
                }
            }
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(PathError::Outside);
            }
        }
    }
    // A link inside the folder may point out of it: resolve and check again.
    let not_found = || PathError::NotFound(path.to_owned());
    let resolved = root
        .join(relative)
        .canonicalize()
        .map_err(|_| not_found())?;
    if !resolved.starts_with(root) || !resolved.is_dir() {
        return Err(not_found());
    }
    Ok(resolved)
}

#[tool_handler(router = self.tool_router, name = "belay-lab-rce-fixed")]
impl ServerHandler for Fixed {}

/// Serves `variant` on `transport` until `shutdown`, over a fresh sandbox folder.
pub async fn serve(
    variant: Variant,
    transport: Transport,
    options: &HttpOptions,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(String),
) -> Result<(), belay_mcp::Error> {
    let sandbox = Sandbox::create()?;
    let root = sandbox.root();
    let served = match variant {
        Variant::Vulnerable => {
            belay_mcp::serve(
                Vulnerable::new(root),
                transport,
                options,
                shutdown,
                on_ready,
            )
            .await
        }
        Variant::Fixed => {
            belay_mcp::serve(Fixed::new(root), transport, options, shutdown, on_ready).await
        }
    };
    drop(sandbox);
    served
}

/// A fresh nonce, so the marker in the output cannot come from anything but the command.
fn nonce() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    format!("{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}

/// The attacker's path: a real folder, then a command that prints [`MARKER`] and the nonce
/// (split by `printf`, so the payload never holds the marker it looks for).
pub fn payload(nonce: &str) -> String {
    format!("reports; printf '{MARKER}%s' {nonce}")
}

/// The attacker asks `list_files` for a path with a command appended.
pub async fn exploit(targets: &[Target], options: &ConnectOptions) -> Result<Report, ExploitError> {
    let mut agent = Agent::connect(targets, options).await?;
    let nonce = nonce();
    let mut arguments = Map::new();
    arguments.insert("path".into(), Value::from(payload(&nonce)));
    let step = agent
        .call(
            "list_files",
            arguments,
            "the attacker asked for the reports folder with `; printf …` appended".into(),
        )
        .await;
    let steps = agent.close().await;
    let proof = format!("{MARKER}{nonce}");
    let lab = LabName::Rce;
    Ok(match &step.answer {
        Answer::Answered { text, .. } if text.contains(&proof) => Report::succeeded(
            lab,
            format!(
                "the server ran the attacker's command: its answer holds `{proof}`, printed by \
                 the `printf` appended to the path; any other command would have run the same \
                 way, as the server's user"
            ),
            steps,
        ),
        Answer::Answered {
            is_error: true,
            text,
        } => Report::failed(
            lab,
            "the server refused the path; no command ran",
            Some(format!("the server's own check: {text}")),
            steps,
        ),
        Answer::Answered { .. } => Report::failed(
            lab,
            "the server listed the folder without running the appended command",
            None,
            steps,
        ),
        answer => Report::failed(
            lab,
            "the call never reached the server; no command ran",
            answer.defence(),
            steps,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labs::testing::exploit_against;

    fn sandbox() -> Sandbox {
        match Sandbox::create() {
            Ok(sandbox) => sandbox,
            Err(e) => panic!("cannot create the sandbox folder: {e}"),
        }
    }

    fn calculation(expression: &str) -> Parameters<CalculateArgs> {
        Parameters(CalculateArgs {
            expression: expression.to_owned(),
        })
    }

    fn said(result: &CallToolResult) -> String {
        result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect()
    }

    #[tokio::test]
    async fn the_exploit_runs_a_command_on_the_vulnerable_server() {
        let report = exploit_against(LabName::Rce, Variant::Vulnerable).await;
        assert!(report.succeeded, "{report:#?}");
        let listed = report.steps[0].answer.text().unwrap_or_default();
        // The folder was listed too: the command ran after a real `ls`.
        assert!(listed.contains("q3.csv"), "{listed}");
        assert!(listed.contains(MARKER), "{listed}");
    }

    #[tokio::test]
    async fn the_exploit_fails_against_the_fixed_twin() {
        let report = exploit_against(LabName::Rce, Variant::Fixed).await;
        assert!(!report.succeeded, "{report:#?}");
        assert!(
            report
                .stopped_by
                .as_deref()
                .is_some_and(|s| s.contains("`;`") || s.contains("';'")),
            "{report:#?}"
        );
    }

    #[test]
    fn the_payload_never_holds_its_proof() {
        let nonce = nonce();
        assert!(!payload(&nonce).contains(&format!("{MARKER}{nonce}")));
        assert_ne!(nonce, super::nonce());
    }

    #[tokio::test]
    async fn the_vulnerable_calculator_runs_commands_too() {
        let sandbox = sandbox();
        let server = Vulnerable::new(sandbox.root());
        let sum = server.calculate(calculation("(2 + 3) * 4")).await;
        assert_eq!(said(&sum), "20");
        let injected = server
            .calculate(calculation("1 )); printf 'belay-%s' calc; echo $(( 1"))
            .await;
        assert!(said(&injected).contains("belay-calc"), "{injected:?}");
    }

    #[tokio::test]
    async fn the_fixed_calculator_only_computes() {
        let sandbox = sandbox();
        let server = Fixed::new(sandbox.root());
        let sum = server.calculate(calculation("(2 + 3) * 4")).await;
        assert_eq!(said(&sum), "20");
        for expression in [
            "1 )); printf 'belay-%s' calc; echo $(( 1".to_owned(),
            "$(id)".to_owned(),
            "`id`".to_owned(),
            "1 + ".repeat(100_000),
        ] {
            let result = server.calculate(calculation(&expression)).await;
            assert_eq!(result.is_error, Some(true), "{expression:.60}");
            assert!(said(&result).len() < 400, "{expression:.60}");
        }
    }

    #[tokio::test]
    async fn the_fixed_lister_lists_the_sandbox() {
        let sandbox = sandbox();
        let server = Fixed::new(sandbox.root());
        for (path, expect) in [
            ("reports", "q4.csv"),
            ("", "notes.txt"),
            ("./reports/", "q3.csv"),
        ] {
            let result = server
                .list_files(Parameters(ListArgs { path: path.into() }))
                .await;
            assert_eq!(result.is_error, Some(false), "{path}: {result:?}");
            assert!(said(&result).contains(expect), "{path}: {result:?}");
        }
    }

    #[test]
    fn the_allow_list_refuses_every_way_out() {
        let sandbox = sandbox();
        let root = sandbox.root();
        let cases: &[(&str, PathError)] = &[
            ("reports; printf x", PathError::Character(';')),
            ("reports && id", PathError::Character(' ')),
            ("$(id)", PathError::Character('$')),
            ("`id`", PathError::Character('`')),
            ("reports|id", PathError::Character('|')),
            ("reports\nid", PathError::Character('\n')),
            ("reports\0", PathError::Character('\0')),
            ("rép", PathError::Character('é')),
            ("..", PathError::Outside),
            ("reports/../..", PathError::Outside),
            ("/etc", PathError::Outside),
            ("-la", PathError::Option),
            ("reports/--help", PathError::Option),
            ("missing", PathError::NotFound("missing".into())),
            ("notes.txt", PathError::NotFound("notes.txt".into())),
        ];
        for (path, expected) in cases {
            assert_eq!(allowed(root, path).as_ref(), Err(expected), "{path:?}");
        }
        let huge = "a/".repeat(10_000);
        assert_eq!(allowed(root, &huge), Err(PathError::TooLong(huge.len())));
        assert_eq!(allowed(root, "reports"), Ok(root.join("reports")));
    }

    #[cfg(unix)]
    #[test]
    fn a_link_out_of_the_sandbox_is_refused() -> std::io::Result<()> {
        let sandbox = Sandbox::create()?;
        let outside = Sandbox::create()?;
        std::os::unix::fs::symlink(outside.root(), sandbox.root().join("elsewhere"))?;
        assert_eq!(
            allowed(sandbox.root(), "elsewhere"),
            Err(PathError::NotFound("elsewhere".into()))
        );
        Ok(())
    }

    #[tokio::test]
    async fn the_fixed_lister_answers_refusals_as_tool_errors() {
        let sandbox = sandbox();
        let server = Fixed::new(sandbox.root());
        let result = server
            .list_files(Parameters(ListArgs {
                path: payload("abc"),
            }))
            .await;
        assert_eq!(result.is_error, Some(true));
        assert!(said(&result).starts_with("refused:"), "{result:?}");
    }

    /// What the gateway sees: belay-guard's argument rules on `list_files`'s own schema block
    /// the payload (high severity: `belay up` blocks at high).
    #[test]
    fn the_gateway_argument_guard_blocks_the_payload() -> Result<(), String> {
        let schema =
            serde_json::to_value(schemars::schema_for!(ListArgs)).map_err(|e| e.to_string())?;
        let guard = belay_guard::ArgumentGuard::new(&schema).map_err(|e| e.to_string())?;
        let findings = guard.check(&serde_json::json!({"path": payload("abc")}));
        assert!(
            findings.iter().any(|f| f.rule == "arguments.shell_in_path"
                && f.severity >= belay_guard::Severity::High),
            "{findings:#?}"
        );
        Ok(())
    }

    #[test]
    fn the_sandbox_is_removed_when_dropped() {
        let sandbox = sandbox();
        let path = sandbox.path().to_owned();
        assert!(path.join("reports/q3.csv").is_file());
        drop(sandbox);
        assert!(!path.exists());
    }
}
