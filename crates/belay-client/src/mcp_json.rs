//! `mcp.json` files as editors write them: VS Code's `servers` (with `inputs`), Claude
//! Desktop's and Cursor's `mcpServers`. Each entry is a stdio command (`command`, `args`,
//! `env`, `cwd`) or a URL (`url`, `headers`, `type` `http` or `sse`). Values may hold
//! `${env:NAME}` (an environment variable), `${input:ID}` (asked of the person, once per
//! id) and `${workspaceFolder}` (the current folder). Keys no Belay client uses are
//! ignored: the files carry editor-specific ones.
//! `belay chat --mcp-config` and `belay scan FILE` read them.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::target::{Target, TargetError, Transport, url_target};

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    servers: BTreeMap<String, Entry>,
    #[serde(default, rename = "mcpServers")]
    mcp_servers: BTreeMap<String, Entry>,
    #[serde(default)]
    inputs: Vec<InputSpec>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// One `inputs` entry of a VS Code `mcp.json`: what to ask the person for `${input:ID}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct InputSpec {
    /// The id `${input:ID}` names.
    pub id: String,
    /// What to show.
    #[serde(default)]
    pub description: String,
    /// Whether to hide what is typed.
    #[serde(default)]
    pub password: bool,
}

/// The servers of one `mcp.json`, with their variables filled in.
#[derive(Debug, Clone, Default)]
pub struct McpJson {
    servers: BTreeMap<String, Target>,
}

impl McpJson {
    /// Reads `path`; `${input:…}` values are asked of `ask` (once per id), `${env:…}`
    /// values read with `env`.
    pub fn load(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        ask: &mut dyn FnMut(&InputSpec) -> Option<String>,
    ) -> Result<Self, TargetError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TargetError(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text, env, ask)
            .map_err(|TargetError(e)| TargetError(format!("{}: {e}", path.display())))
    }

    /// Parses the text of an `mcp.json`.
    pub fn parse(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        ask: &mut dyn FnMut(&InputSpec) -> Option<String>,
    ) -> Result<Self, TargetError> {
        let file: File = serde_json::from_str(text)
            .map_err(|e| TargetError(format!("not an mcp.json file: {e}")))?;
        if file.servers.is_empty() && file.mcp_servers.is_empty() {
            return Err(TargetError(
                "no servers: expected a `servers` (VS Code) or `mcpServers` (Claude Desktop, \
                 Cursor) object"
                    .into(),
            ));
        }
        let mut vars = Variables {
            env,
            ask,
            inputs: &file.inputs,
            answers: HashMap::new(),
        };
        let mut servers = BTreeMap::new();
        for (name, entry) in file.servers.into_iter().chain(file.mcp_servers) {
            let target = entry
                .into_target(&name, &mut vars)
                .map_err(|TargetError(e)| TargetError(format!("server `{name}`: {e}")))?;
            servers.insert(name, target);
        }
        Ok(Self { servers })
    }

    /// The server called `name`.
    pub fn get(&self, name: &str) -> Option<&Target> {
        self.servers.get(name)
    }

    /// The names of its servers, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.servers.keys().map(String::as_str)
    }
}

impl Entry {
    fn into_target(self, name: &str, vars: &mut Variables<'_>) -> Result<Target, TargetError> {
        let kind = self.kind.as_deref().map(str::to_ascii_lowercase);
        match (kind.as_deref(), self.command, self.url) {
            (None | Some("stdio"), Some(command), _) => Ok(Target {
                name: name.to_owned(),
                transport: Transport::Stdio {
                    command: vars.fill(&command)?,
                    args: self
                        .args
                        .iter()
                        .map(|a| vars.fill(a))
                        .collect::<Result<_, _>>()?,
                    env: vars.fill_map(&self.env)?,
                    cwd: self
                        .cwd
                        .map(|c| vars.fill(&c).map(PathBuf::from))
                        .transpose()?,
                },
            }),
            (kind, None, Some(url)) | (kind @ Some(_), _, Some(url)) => {
                let url = vars.fill(&url)?;
                let headers = vars.fill_map(&self.headers)?;
                let mut target = url_target(&url, headers)?;
                target.name = name.to_owned();
                target.transport = match (kind, target.transport) {
                    (Some("sse"), Transport::Http { url, headers }) => {
                        Transport::Sse { url, headers }
                    }
                    (None | Some("http" | "streamable-http" | "streamablehttp"), transport) => {
                        transport
                    }
                    (Some("sse"), transport) => transport,
                    (Some(other), _) => {
                        return Err(TargetError(format!(
                            "unknown type `{other}`: use stdio, http or sse"
                        )));
                    }
                };
                Ok(target)
            }
            (Some("stdio"), None, _) => Err(TargetError("a stdio server needs a `command`".into())),
            (Some(other), Some(_), None) => {
                Err(TargetError(format!("type `{other}` needs a `url`")))
            }
            (_, None, None) => Err(TargetError("neither a `command` nor a `url`".into())),
        }
    }
}

struct Variables<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    ask: &'a mut dyn FnMut(&InputSpec) -> Option<String>,
    inputs: &'a [InputSpec],
    answers: HashMap<String, String>,
}

impl Variables<'_> {
    fn fill_map(
        &mut self,
        map: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, TargetError> {
        map.iter()
            .map(|(k, v)| Ok((k.clone(), self.fill(v)?)))
            .collect()
    }

    /// Replaces every `${…}` in `value`.
    fn fill(&mut self, value: &str) -> Result<String, TargetError> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(TargetError(format!(
                    "`{value}` has a `${{` without its `}}`"
                )));
            };
            out.push_str(&self.variable(&after[..end])?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn variable(&mut self, name: &str) -> Result<String, TargetError> {
        if let Some(var) = name.strip_prefix("env:") {
            return (self.env)(var).ok_or_else(|| {
                TargetError(format!("`${{env:{var}}}`: the variable {var} is not set"))
            });
        }
        if let Some(id) = name.strip_prefix("input:") {
            if let Some(answer) = self.answers.get(id) {
                return Ok(answer.clone());
            }
            let spec = self
                .inputs
                .iter()
                .find(|i| i.id == id)
                .cloned()
                .unwrap_or_else(|| InputSpec {
                    id: id.to_owned(),
                    description: id.to_owned(),
                    password: false,
                });
            let answer = (self.ask)(&spec)
                .ok_or_else(|| TargetError(format!("`${{input:{id}}}` was not answered")))?;
            self.answers.insert(id.to_owned(), answer.clone());
            return Ok(answer);
        }
        if name == "workspaceFolder" {
            return std::env::current_dir()
                .map(|d| d.to_string_lossy().into_owned())
                .map_err(|e| TargetError(format!("`${{workspaceFolder}}`: {e}")));
        }
        Err(TargetError(format!(
            "`${{{name}}}` is not supported: use ${{env:NAME}}, ${{input:ID}} or \
             ${{workspaceFolder}}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "t0k".to_owned())
    }

    #[test]
    fn vs_code_servers_with_inputs_and_env() -> Result<(), TargetError> {
        let text = r#"{
            "inputs": [{"type": "promptString", "id": "key", "description": "API key", "password": true}],
            "servers": {
                "stock": {"type": "stdio", "command": "belay", "args": ["serve", "stock"],
                          "env": {"K": "${input:key}", "T": "${env:TOKEN}"}},
                "remote": {"type": "http", "url": "https://h/mcp",
                           "headers": {"Authorization": "Bearer ${input:key}"}},
                "old": {"type": "sse", "url": "https://h/events"}
            }
        }"#;
        let mut asked = Vec::new();
        let config = McpJson::parse(text, &env, &mut |spec| {
            asked.push(spec.clone());
            Some("secret".into())
        })?;
        // Asked once although used twice, with the description and the password flag.
        assert_eq!(asked.len(), 1);
        assert!(asked[0].password);
        assert_eq!(asked[0].description, "API key");
        let Some(Target {
            transport: Transport::Stdio { env, .. },
            ..
        }) = config.get("stock")
        else {
            panic!("stock is a stdio server");
        };
        assert_eq!(env.get("K").map(String::as_str), Some("secret"));
        assert_eq!(env.get("T").map(String::as_str), Some("t0k"));
        let Some(Target {
            transport: Transport::Http { headers, .. },
            ..
        }) = config.get("remote")
        else {
            panic!("remote is an http server");
        };
        assert_eq!(
            headers.get("Authorization").map(String::as_str),
            Some("Bearer secret")
        );
        assert!(matches!(
            config.get("old").map(|t| &t.transport),
            Some(Transport::Sse { .. })
        ));
        Ok(())
    }

    #[test]
    fn claude_desktop_and_cursor_mcp_servers() -> Result<(), TargetError> {
        let text = r#"{"mcpServers": {
            "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
            "web": {"url": "http://127.0.0.1:9/sse"}
        }}"#;
        let config = McpJson::parse(text, &env, &mut |_| None)?;
        assert_eq!(config.names().collect::<Vec<_>>(), ["fs", "web"]);
        assert!(matches!(
            config.get("web").map(|t| &t.transport),
            Some(Transport::Sse { .. })
        ));
        Ok(())
    }

    #[test]
    fn mistakes_are_named() {
        let fail = |text: &str| match McpJson::parse(text, &env, &mut |_| None) {
            Err(TargetError(e)) => e,
            Ok(_) => String::new(),
        };
        assert!(fail("{}").contains("mcpServers"));
        assert!(fail("[1]").contains("not an mcp.json"));
        assert!(fail(r#"{"servers": {"a": {}}}"#).contains("server `a`: neither"));
        assert!(
            fail(r#"{"servers": {"a": {"command": "x", "env": {"A": "${env:NOPE}"}}}}"#)
                .contains("NOPE is not set")
        );
        assert!(
            fail(r#"{"servers": {"a": {"command": "x", "args": ["${input:k}"]}}}"#)
                .contains("was not answered")
        );
        assert!(
            fail(r#"{"servers": {"a": {"type": "ws", "url": "http://h/"}}}"#)
                .contains("unknown type `ws`")
        );
        assert!(
            fail(r#"{"servers": {"a": {"command": "x", "args": ["${foo"]}}}"#)
                .contains("without its")
        );
    }
}
