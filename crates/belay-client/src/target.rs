//! What a client connects to (`belay chat`, `belay scan`): a command after `--`, a
//! reference server by name, a URL, or a server named in an `mcp.json` ([`crate::mcp_json`]).

use std::{collections::BTreeMap, path::PathBuf};

use crate::mcp_json::McpJson;

/// The reference servers `belay serve NAME` runs, which `belay chat NAME` (and `belay scan
/// NAME`) start themselves.
pub const BUILT_IN: &[&str] = &["stock", "weather", "matheval", "news", "whoami"];

/// How to reach one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A process speaking MCP on its stdin and stdout.
    Stdio {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Variables added to its environment.
        env: BTreeMap<String, String>,
        /// Its working folder (default: ours).
        cwd: Option<PathBuf>,
    },
    /// Streamable HTTP (falling back to legacy SSE when the server only speaks that).
    Http {
        /// The endpoint.
        url: String,
        /// Headers sent with every request (an API key, say).
        headers: BTreeMap<String, String>,
    },
    /// The 2024-11-05 HTTP+SSE transport.
    Sse {
        /// The `GET` URL of the event stream.
        url: String,
        /// Headers sent with every request.
        headers: BTreeMap<String, String>,
    },
}

/// One server to connect to, with the name its tools are shown under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Short name (`stock`, a config key, the command's file name, the URL's host).
    pub name: String,
    /// How to reach it.
    pub transport: Transport,
}

/// A target that cannot be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct TargetError(pub String);

impl Target {
    /// Reads one target word: a server of `config`, a built-in name (started as
    /// `belay_exe serve NAME`), or an http(s) URL.
    pub fn parse(
        word: &str,
        config: Option<&McpJson>,
        belay_exe: &std::path::Path,
    ) -> Result<Self, TargetError> {
        if let Some(target) = config.and_then(|c| c.get(word)) {
            return Ok(target.clone());
        }
        if word.starts_with("http://") || word.starts_with("https://") {
            return url_target(word, BTreeMap::new());
        }
        if BUILT_IN.contains(&word) {
            return Ok(Self {
                name: word.to_owned(),
                transport: Transport::Stdio {
                    command: belay_exe.to_string_lossy().into_owned(),
                    args: vec!["serve".into(), word.into()],
                    env: BTreeMap::new(),
                    cwd: None,
                },
            });
        }
        let known = config
            .map(|c| c.names().collect::<Vec<_>>().join(", "))
            .filter(|names| !names.is_empty())
            .map(|names| format!(", a server of the --config file ({names})"))
            .unwrap_or_else(|| ", or a server name from --config mcp.json".to_owned());
        Err(TargetError(format!(
            "`{word}` is no target: give a built-in server ({}), an http(s):// URL{known}, \
             or a command after `--`",
            BUILT_IN.join(", ")
        )))
    }

    /// The command after `--`, named after its program (or the reference server it runs).
    pub fn command(words: &[String]) -> Result<Self, TargetError> {
        let Some((command, args)) = words.split_first() else {
            return Err(TargetError(
                "nothing after `--`: give the command to run".into(),
            ));
        };
        let stem = std::path::Path::new(command)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| command.clone());
        // `-- belay serve stock` is named `stock`, like the built-in; `-- belay lab run xpia`
        // is named `xpia`.
        let name = match args {
            [serve, name, ..] if stem == "belay" && serve == "serve" => name.clone(),
            [lab, run, name, ..] if stem == "belay" && lab == "lab" && run == "run" => name.clone(),
            _ => stem,
        };
        Ok(Self {
            name,
            transport: Transport::Stdio {
                command: command.clone(),
                args: args.to_vec(),
                env: BTreeMap::new(),
                cwd: None,
            },
        })
    }
}

/// A URL target: legacy SSE when the path ends in `/sse`, else Streamable HTTP; named after
/// the server part of a gateway path (`/servers/NAME/…`) or the host.
pub(crate) fn url_target(
    url: &str,
    headers: BTreeMap<String, String>,
) -> Result<Target, TargetError> {
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| TargetError(format!("`{url}` is not an http(s) URL with a host")))?;
    let segments: Vec<&str> = parsed
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let name = match segments.as_slice() {
        [.., "servers", name, _] => (*name).to_owned(),
        _ => parsed.host_str().unwrap_or("server").to_owned(),
    };
    let transport = if segments.last() == Some(&"sse") {
        Transport::Sse {
            url: url.to_owned(),
            headers,
        }
    } else {
        Transport::Http {
            url: url.to_owned(),
            headers,
        }
    };
    Ok(Target { name, transport })
}

/// Makes names unique in order (`stock`, `stock-2`), so each server's tools stay apart.
pub fn unique_names(targets: &mut [Target]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for target in targets.iter_mut() {
        let count = seen.entry(target.name.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            target.name = format!("{}-{count}", target.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn words_become_targets() -> Result<(), TargetError> {
        let exe = Path::new("/bin/belay");
        let stock = Target::parse("stock", None, exe)?;
        assert_eq!(stock.name, "stock");
        assert_eq!(
            stock.transport,
            Transport::Stdio {
                command: "/bin/belay".into(),
                args: vec!["serve".into(), "stock".into()],
                env: BTreeMap::new(),
                cwd: None
            }
        );
        let http = Target::parse("http://127.0.0.1:8000/servers/weather/mcp", None, exe)?;
        assert_eq!(http.name, "weather");
        assert!(matches!(http.transport, Transport::Http { .. }));
        let sse = Target::parse("https://example.com/sse", None, exe)?;
        assert_eq!(sse.name, "example.com");
        assert!(matches!(sse.transport, Transport::Sse { .. }));
        let err = Target::parse("stonk", None, exe);
        assert!(
            matches!(&err, Err(TargetError(m)) if m.contains("stock, weather")),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn a_command_is_named_after_its_program() -> Result<(), TargetError> {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            Target::command(&words(&["/usr/bin/belay", "serve", "news"]))?.name,
            "news"
        );
        assert_eq!(
            Target::command(&words(&["belay", "lab", "run", "rce", "--fixed"]))?.name,
            "rce"
        );
        assert_eq!(
            Target::command(&words(&["uvx", "mcp-server-time"]))?.name,
            "uvx"
        );
        assert!(Target::command(&[]).is_err());
        Ok(())
    }

    #[test]
    fn repeated_names_are_numbered() -> Result<(), TargetError> {
        let exe = Path::new("belay");
        let mut targets = vec![
            Target::parse("stock", None, exe)?,
            Target::parse("stock", None, exe)?,
            Target::parse("weather", None, exe)?,
        ];
        unique_names(&mut targets);
        let names: Vec<_> = targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["stock", "stock-2", "weather"]);
        Ok(())
    }
}
